"""The buttons under an alert: Why?, Mute leg, Ack.

Callback data comes back from the client and is trusted no more than typed text: a forged
``mute`` once muted a leg until 2084 under a 10 KB key. Each button's data is parsed as
strictly as the matching command (an alert id a row could have, a leg of the current thesis, a
mute of at most 30 days), and acts only on the chat its message is in. Anything else is
answered "Unknown button", logged, and changes nothing.

A button under an old alert still works, but says the alert is stale (a day old, or its leg
has moved since) so nobody acts on yesterday's news. Ack keeps the other buttons.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session
from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode

from bot.telegram.args import MAX_MUTE, MIN_MUTE, parse_id, parse_span, quote
from bot.telegram.deps import Ctx, deps_of, muted, update_prefs
from bot.telegram.html import esc
from bot.telegram.keyboard import MAX_CALLBACK_BYTES
from bot.telegram.reads import why_of
from bot.telegram.render import why_html
from bot.telegram.replies import reply
from bot.views.report import ago
from bot.views.times import stamp
from storage.history import newer_move
from storage.outbox import alert_by_id

__all__ = ["MAX_CALLBACK_BYTES", "STALE_AFTER", "on_button", "stale_note"]

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=24)  # an alert older than this is yesterday's news
MAX_ANSWER = 200  # Telegram's limit on a button's answer


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
        done = await _ack(context, query, rest)
    else:
        done = False
    if not done:
        chat = update.effective_chat
        log.warning("unknown button %s in chat %s", quote(data), chat.id if chat else "?")
        await query.answer("Unknown button")


def stale_note(session: Session, alert_id: int, now: datetime) -> str | None:
    """Why alert ``alert_id`` is stale (a day old, or its leg moved since), or None if fresh."""
    alert = alert_by_id(session, alert_id)
    if alert is None:
        return None
    moved = newer_move(session, alert.id, alert.leg)
    old = now - alert.created_at > STALE_AFTER
    if moved is None and not old:
        return None
    note = f"Stale: alert #{alert.id} is from {stamp(alert.created_at)}"
    note += f" ({ago(alert.created_at, now)})" if old else ""
    if moved is not None:
        note += f"; {alert.leg} moved since (#{moved.id}: now {moved.new_state})"
    return note + "."


async def _stale(context: Ctx, alert_id: int | None) -> str | None:
    if alert_id is None:
        return None
    deps = deps_of(context)
    now = deps.clock()
    return await deps.read(lambda s: stale_note(s, alert_id, now))


def _alert_of(query: CallbackQuery) -> int | None:
    """The alert the pressed button is about: the Why? in its row (a push of several legs has
    a row per leg), else the message's first Why?."""
    markup = getattr(query.message, "reply_markup", None)
    if not isinstance(markup, InlineKeyboardMarkup):
        return None
    rows = sorted(
        markup.inline_keyboard, key=lambda r: query.data not in (b.callback_data for b in r)
    )
    for row in rows:
        for button in row:
            data = button.callback_data
            if isinstance(data, str) and data.startswith("why:"):
                return parse_id(data.removeprefix("why:"))
    return None


async def _mute_leg(context: Ctx, leg: str) -> str | None:
    """The leg a Mute button names: ``LEG``, or ``#ID`` for the leg of alert ID (a leg whose
    name would not fit in a button's 64 bytes); None unless it is a leg of the thesis."""
    if leg.startswith("#"):
        alert_id = parse_id(leg[1:])
        if alert_id is None:
            return None
        found = await deps_of(context).read(lambda s: alert_by_id(s, alert_id))
        leg = found.leg if found else ""
    book = deps_of(context).rulebook.book  # any thesis's alert carries the button
    legs = {lg.id for rs in book.rulesets for lg in rs.thesis.legs}
    return leg if leg in legs else None


async def _why(update: Update, context: Ctx, query: CallbackQuery, rest: str) -> bool:
    alert_id = parse_id(rest)
    if alert_id is None:
        return False
    found = await deps_of(context).read(lambda s: why_of(s, alert_id))
    if found is None:
        await query.answer(f"No alert #{alert_id}")
        return True
    note = await _stale(context, alert_id)
    await query.answer(note[:MAX_ANSWER] if note else None)
    head = f"⚠️ {esc(note)}\n\n" if note else ""
    await reply(update, head + why_html(*found))
    return True


async def _mute(update: Update, context: Ctx, query: CallbackQuery, rest: str) -> bool:
    named, _, span_text = rest.rpartition(":")
    span = parse_span(span_text, MIN_MUTE, MAX_MUTE)
    leg = await _mute_leg(context, named) if span is not None else None
    if span is None or leg is None:
        return False
    await update_prefs(update, context, lambda p, now: muted(p, now + span, leg))
    note = await _stale(context, _alert_of(query))
    done = f"{leg} muted for {span_text}"
    await query.answer(f"{done}. {note}"[:MAX_ANSWER] if note else done)
    return True


def _without_ack(markup: object) -> InlineKeyboardMarkup | None:
    """The message's buttons less Ack: Why? and Mute stay useful after an acknowledgement."""
    if not isinstance(markup, InlineKeyboardMarkup):
        return None
    rows = [
        [b for b in row if not str(b.callback_data or "").startswith("ack:")]
        for row in markup.inline_keyboard
    ]
    kept = [row for row in rows if row]
    return InlineKeyboardMarkup(kept) if kept else None


async def _ack(context: Ctx, query: CallbackQuery, rest: str) -> bool:
    alert_id = parse_id(rest)
    if alert_id is None:
        return False
    user = query.from_user
    who = f"@{user.username}" if user and user.username else "someone"
    note = await _stale(context, alert_id)
    await query.answer(f"Acknowledged. {note}"[:MAX_ANSWER] if note else "Acknowledged")
    if query.message is not None and hasattr(query.message, "text_html"):
        await query.edit_message_text(
            f"{query.message.text_html}\n\n✔ acknowledged by {esc(who)}",
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_markup=_without_ack(getattr(query.message, "reply_markup", None)),
        )
    return True
