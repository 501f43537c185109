"""The buttons under an alert: Why?, Mute leg, Ack.

Callback data comes back from the client and is trusted no more than typed text: a forged
``mute`` once muted a leg until 2084 under a 10 KB key. Each button's data is parsed as
strictly as the matching command (an alert id a row could have, a leg of the current thesis, a
mute of at most 30 days), and acts only on the chat its message is in. Anything else is
answered "Unknown button", logged, and changes nothing.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, LinkPreviewOptions, Update
from telegram.constants import ParseMode

from bot.telegram.args import MAX_MUTE, MIN_MUTE, parse_id, parse_span, quote
from bot.telegram.commands import why_of
from bot.telegram.deps import Ctx, deps_of, muted, update_prefs
from bot.telegram.html import esc
from bot.telegram.render import why_html
from bot.telegram.replies import reply

__all__ = ["MAX_CALLBACK_BYTES", "on_button"]

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64  # Telegram's own limit on what a button may carry


async def on_button(update: Update, context: Ctx) -> None:
    """A button was pressed: its callback data says which and on what."""
    query = update.callback_query
    if query is None:
        return
    data = query.data or ""
    kind, _, rest = data.partition(":")
    # The message the button sits under: its chat is the one the alert was sent to.
    if query.message is None or len(data.encode()) > MAX_CALLBACK_BYTES:
        done = False
    elif kind == "why":
        done = await _why(update, context, query, rest)
    elif kind == "mute":
        done = await _mute(update, context, query, rest)
    elif kind == "ack":
        done = await _ack(query, rest)
    else:
        done = False
    if not done:
        chat = update.effective_chat
        log.warning("unknown button %s in chat %s", quote(data), chat.id if chat else "?")
        await query.answer("Unknown button")


async def _why(update: Update, context: Ctx, query: CallbackQuery, rest: str) -> bool:
    alert_id = parse_id(rest)
    if alert_id is None:
        return False
    found = await deps_of(context).read(lambda s: why_of(s, alert_id))
    if found is None:
        await query.answer(f"No alert #{alert_id}")
        return True
    await query.answer()
    await reply(update, why_html(*found))
    return True


async def _mute(update: Update, context: Ctx, query: CallbackQuery, rest: str) -> bool:
    leg, _, span_text = rest.partition(":")
    span = parse_span(span_text, MIN_MUTE, MAX_MUTE)
    legs = {lg.id for lg in deps_of(context).rulebook.engine.ruleset.thesis.legs}
    if span is None or leg not in legs:
        return False
    await update_prefs(update, context, lambda p, now: muted(p, now + span, leg))
    await query.answer(f"{leg} muted for {span_text}")
    return True


async def _ack(query: CallbackQuery, rest: str) -> bool:
    if parse_id(rest) is None:
        return False
    user = query.from_user
    who = f"@{user.username}" if user and user.username else "someone"
    await query.answer("Acknowledged")
    if query.message is not None and hasattr(query.message, "text_html"):
        await query.edit_message_text(
            f"{query.message.text_html}\n\n✔ acknowledged by {esc(who)}",
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    return True
