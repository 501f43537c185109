"""The digest in the chat: /digest now or on a schedule, and the job that sends scheduled ones.

A digest is not an alert: it is not written to the outbox (the outbox renders and sends alerts
only, and a digest carries a chart). It is sent straight from the process that holds the bot,
through the same Bot and so the same rate limiter as every other message, and recorded as sent
(the next one covers from then) only after Telegram took it. A process that dies in between
sends that digest again; none is lost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlmodel import Session
from telegram import Bot, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import NetworkError, RetryAfter, TelegramError

from bot.pipeline.routing import leg_wanted
from bot.telegram.deps import BotDeps, Ctx, deps_of
from bot.telegram.html import split_html
from bot.telegram.reads import board_view, chart_png
from bot.telegram.render import digest_html
from bot.telegram.replies import MAX_REPLY_PARTS, reply, usage
from bot.views.digest import DAYS, PERIODS, Digest, next_due, read_digest
from bot.views.times import display_zone, stamp
from storage.chats import ChatPrefs, digest_sent, due_digests, load_prefs, save_prefs

__all__ = [
    "CHART_DAYS",
    "DigestPart",
    "build_digest",
    "cmd_digest",
    "schedule_text",
    "send_due_digests",
]

log = logging.getLogger(__name__)

CHART_DAYS = 7  # the digest's chart covers at least this much, so a day's moves have context
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {name: n for n, day in enumerate(DAYS) for name in (day, _FULL[n])}


def schedule_text(prefs: ChatPrefs) -> str:
    """``Digest: daily at 08:00 UTC, next 2025-08-13 08:00 UTC.`` or how to set one."""
    if prefs.digest not in PERIODS:
        return "No scheduled digest: /digest daily 08:00 or /digest weekly mon 08:00 sets one."
    zone = display_zone()
    at = f"{prefs.digest_minute // 60:02d}:{prefs.digest_minute % 60:02d}"
    name = datetime.now(zone).tzname() or "UTC"
    day = f" on {DAYS[prefs.digest_weekday]}" if prefs.digest == "weekly" else ""
    due = f", next {stamp(prefs.digest_due_at)}" if prefs.digest_due_at else ""
    return f"Digest: {prefs.digest}{day} at {at} {name}{due}."


def _parse(args: list[str]) -> tuple[str, int, int] | str | None:
    """(schedule, minute, weekday) from the arguments; a problem as text; None for 'now'."""
    if not args:
        return None
    kind, rest = args[0].lower(), [a.lower() for a in args[1:]]
    if kind == "off" and not rest:
        return "off", 480, 0
    if kind not in PERIODS:
        return "the first word is daily, weekly or off"
    weekday = 0
    if kind == "weekly" and rest and not _TIME.fullmatch(rest[0]):
        if rest[0] not in _DAY_NAMES:
            return f"DAY is one of {', '.join(DAYS)}"
        weekday, rest = _DAY_NAMES[rest[0]], rest[1:]
    minute = 480
    if rest:
        found = _TIME.fullmatch(rest[0])
        if found is None or len(rest) > 1:
            return "HH:MM is a time like 08:00 or 17:30"
        minute = int(found[1]) * 60 + int(found[2])
    return kind, minute, weekday


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One thesis's digest: its text, its chart and the chart's caption."""

    html: str
    png: bytes
    caption: str


async def build_digest(deps: BotDeps, prefs: ChatPrefs, now: datetime) -> list[DigestPart]:
    """The digest for one chat at ``now``: a part per thesis the chat follows, the feeds and
    the schedule said once, in the last."""
    book = deps.rulebook.book
    # The theses and legs the chat follows, as its alerts are routed; if it follows none of
    # those loaded now (a thesis retired since), the default one.
    chosen = [
        (rs.thesis, legs)
        for rs in book.rulesets
        if (legs := [lg.id for lg in rs.thesis.legs if leg_wanted(prefs, rs.thesis.name, lg.id)])
    ] or [(book.default.thesis, [lg.id for lg in book.default.thesis.legs])]
    theses = [thesis for thesis, _ in chosen]
    since = prefs.last_digest_at or now - PERIODS.get(prefs.digest, PERIODS["daily"])

    def read(session: Session) -> list[Digest]:
        return [
            read_digest(session, board_view(session, thesis, now), since, now, legs)
            for thesis, legs in chosen
        ]

    digests = await deps.read(read)
    start = min(since, now - timedelta(days=CHART_DAYS))
    parts = []
    for n, (thesis, digest) in enumerate(zip(theses, digests, strict=True)):
        last = n == len(theses) - 1
        html = digest_html(digest, schedule_text(prefs) if last else "", feeds=last)
        caption = f"{thesis.name}: leg states, {stamp(start)} → {stamp(now)}"
        png = await chart_png(deps, start, now, f"{thesis.name}: what changed", thesis)
        parts.append(DigestPart(html, png, caption))
    return parts


async def cmd_digest(update: Update, context: Ctx) -> None:
    """/digest: what changed, now; /digest daily|weekly [DAY] [HH:MM] | off: the schedule."""
    deps = deps_of(context)
    chat = update.effective_chat
    message = update.effective_message
    assert chat is not None
    parsed = _parse(list(context.args or ()))
    if isinstance(parsed, str):
        await usage(update, "digest", parsed)
        return
    now = deps.clock()
    prefs = await deps.read(lambda s: load_prefs(s, [chat.id])[chat.id])
    if parsed is not None:
        kind, minute, weekday = parsed
        due = next_due(kind, minute, weekday, now, display_zone())
        changed = prefs.but(
            digest=kind, digest_minute=minute, digest_weekday=weekday, digest_due_at=due
        )
        await deps.read(lambda s: save_prefs(s, changed, now))
        await reply(update, schedule_text(changed))
        return
    for part in await build_digest(deps, prefs, now):
        await reply(update, part.html)
        if message is not None:
            await message.reply_photo(part.png, caption=part.caption)
    await deps.read(lambda s: digest_sent(s, chat.id, at=now, next_due=None))


async def _send(bot: Bot, chat_id: int, parts: list[DigestPart]) -> None:
    for part in parts:
        for piece in split_html(part.html)[:MAX_REPLY_PARTS]:
            await bot.send_message(
                chat_id,
                piece,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        await bot.send_photo(chat_id, part.png, caption=part.caption)


async def send_due_digests(bot: Bot, deps: BotDeps) -> int:
    """Send every scheduled digest that is due to the chats the bot serves; how many went."""
    now = deps.clock()
    chats = deps.allowed_chats | deps.admins
    due = await deps.read(lambda s: due_digests(s, chats, now))
    sent = 0
    for prefs in due:
        after = next_due(
            prefs.digest, prefs.digest_minute, prefs.digest_weekday, now, display_zone()
        )
        try:
            # Its schedule line names the next one, not this one.
            parts = await build_digest(deps, prefs.but(digest_due_at=after), now)
            await _send(bot, prefs.chat_id, parts)
        except (RetryAfter, NetworkError) as exc:  # worth another go at the next tick
            log.warning("digest to chat %s deferred: %s", prefs.chat_id, exc)
            continue
        except TelegramError as exc:  # blocked, gone, refused: not this time
            log.error("digest to chat %s failed, next one %s: %s", prefs.chat_id, after, exc)
            await deps.read(partial(_skip, chat_id=prefs.chat_id, after=after, now=now))
            continue
        await deps.read(partial(digest_sent, chat_id=prefs.chat_id, at=now, next_due=after))
        sent += 1
    return sent


def _skip(session: Session, *, chat_id: int, after: datetime | None, now: datetime) -> None:
    """A digest Telegram refused for good: due again at the next scheduled time, not sooner."""
    current = load_prefs(session, [chat_id])[chat_id]
    save_prefs(session, current.but(digest_due_at=after), now)
