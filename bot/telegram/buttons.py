"""The buttons under an alert: Why?, Mute leg, Ack."""

from __future__ import annotations

from datetime import timedelta

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode

from bot.telegram.deps import Ctx, deps_of, muted, update_prefs
from bot.telegram.html import esc
from bot.telegram.render import why_html
from bot.telegram.replies import reply
from rules.loader import parse_duration
from storage.outbox import alert_by_id

__all__ = ["on_button"]


async def on_button(update: Update, context: Ctx) -> None:
    """A button was pressed: its callback data says which and on what."""
    deps = deps_of(context)
    query = update.callback_query
    if query is None or not query.data:
        return
    kind, _, rest = query.data.partition(":")
    if kind == "why" and rest.isdigit():
        alert = await deps.read(lambda s: alert_by_id(s, int(rest)))
        await query.answer()
        if alert is not None:
            await reply(update, why_html(alert))
    elif kind == "mute":
        leg, _, span_text = rest.partition(":")
        span = parse_duration(span_text) or timedelta(hours=4)
        await update_prefs(update, context, lambda p, now: muted(p, now + span, leg))
        await query.answer(f"{leg} muted for {span_text}")
    elif kind == "ack":
        user = update.effective_user
        who = f"@{user.username}" if user and user.username else "someone"
        await query.answer("Acknowledged")
        if query.message is not None and hasattr(query.message, "text_html"):
            await query.edit_message_text(
                f"{query.message.text_html}\n\n✔ acknowledged by {esc(who)}",
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
    else:
        await query.answer("Unknown button")
