"""The Telegram bot: one python-telegram-bot Application, its commands and buttons.

Handlers only translate: they read the board, the store and the rules through ``BotDeps``
and answer in escaped HTML. Only configured chats (and admins in private) get answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.clock import Clock, utcnow
from bot.pipeline.board_codec import board_from_json
from bot.pipeline.rulebook import Rulebook
from bot.telegram.html import esc, split_html
from bot.telegram.render import board_html, feeds_html, recent_html, signals_html, why_html
from rules import Item
from rules.board import new_board
from rules.loader import parse_duration
from rules.model import SEVERITIES
from storage.chats import ChatPrefs, load_prefs, save_prefs
from storage.feeds import feed_health
from storage.outbox import alert_by_id, recent_alerts
from storage.signals import items_by_ids, load_board

__all__ = ["COMMANDS", "BotDeps", "build_application", "is_allowed", "register_commands"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Ctx = ContextTypes.DEFAULT_TYPE

COMMANDS: tuple[tuple[str, str, str], ...] = (
    # (command, arguments, what it does) -- also the /help text and setMyCommands
    ("status", "[LEG]", "the thesis board, or one leg with its evidence"),
    ("recent", "[N]", "the last N alerts (default 5)"),
    ("why", "ID", "the evidence and rules behind alert ID"),
    ("rules", "", "rule set version, counts, last reload"),
    ("test", "TEXT", "run a headline through the rules"),
    ("subscribe", "[LEG...] [$TICKER...] [severity=LEVEL]", "what alerts this chat gets"),
    ("unsubscribe", "", "stop alerts to this chat"),
    ("mute", "DURATION [LEG]", "silence alerts (e.g. /mute 4h h20-ban)"),
    ("unmute", "", "lift every mute"),
    ("feeds", "", "feed health"),
    ("chart", "[DAYS]", "each leg's state over the last DAYS days (default 30)"),
    ("reload", "", "reload the rule files now (admins)"),
    ("help", "", "this list"),
)
_USAGE = {name: f"/{name} {args}".strip() for name, args, _ in COMMANDS}


@dataclass(slots=True)
class BotDeps:
    db: Engine
    run_db: Callable[[Callable[[], Any]], Awaitable[Any]]
    rulebook: Rulebook
    allowed_chats: frozenset[int]
    admins: frozenset[int]
    clock: Clock = utcnow

    async def read(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with Session(self.db) as session, session.begin():
                return fn(session)

        result: T = await self.run_db(work)
        return result


def is_allowed(update: Update, allowed_chats: frozenset[int], admins: frozenset[int]) -> bool:
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return False
    if chat.id in allowed_chats:
        return True
    return chat.type == ChatType.PRIVATE and user is not None and user.id in admins


def _deps(context: Ctx) -> BotDeps:
    deps = context.application.bot_data["deps"]
    assert isinstance(deps, BotDeps)
    return deps


async def _reply(update: Update, text: str) -> None:
    message = update.effective_message
    if message is None:
        return
    for part in split_html(text):
        await message.reply_text(
            part,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


async def _usage(update: Update, command: str, problem: str = "") -> None:
    lead = f"{esc(problem[:1].upper() + problem[1:])}. " if problem else ""
    await _reply(update, f"{lead}Usage: <code>{esc(_USAGE[command])}</code>")


async def gate(update: Update, context: Ctx) -> None:
    """Runs before every handler: strangers get one refusal line, and nothing else."""
    deps = _deps(context)
    if is_allowed(update, deps.allowed_chats, deps.admins):
        return
    chat, user = update.effective_chat, update.effective_user
    log.warning(
        "refused update from chat %s (user %s)",
        chat.id if chat else "?",
        user.id if user else "?",
    )
    if update.callback_query is not None:
        await update.callback_query.answer("Not authorised.")
    elif update.effective_message is not None and chat is not None:
        await update.effective_message.reply_text(
            f"This bot is private. Ask an admin to allow chat {chat.id}."
        )
    raise ApplicationHandlerStop


async def cmd_start(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    chat = update.effective_chat
    assert chat is not None
    now = deps.clock()

    def resume(session: Session) -> None:
        prefs = load_prefs(session, [chat.id])[chat.id]
        save_prefs(session, prefs.but(subscribed=True, paused=False, paused_reason=None), now)

    await deps.read(resume)
    await _reply(update, "Subscribed: this chat gets thesis alerts.\n\n" + _help_text())


def _help_text() -> str:
    return "\n".join(
        f"<code>{esc(_USAGE[name])}</code> — {esc(what)}" for name, _, what in COMMANDS
    )


async def cmd_help(update: Update, context: Ctx) -> None:
    await _reply(update, _help_text())


async def cmd_status(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    thesis = deps.rulebook.engine.ruleset.thesis
    leg = context.args[0] if context.args else None
    if leg is not None and leg not in {lg.id for lg in thesis.legs}:
        legs = ", ".join(lg.id for lg in thesis.legs)
        await _usage(update, "status", f"No leg {leg!r} (legs: {legs})")
        return
    now = deps.clock()

    def read(session: Session) -> tuple[Any, dict[str, str]]:
        stored = load_board(session, thesis.name)
        board = board_from_json(stored[0], thesis, now) if stored else new_board(thesis, now)
        keys = [int(e.item_key) for s in board.legs for e in s.evidence]
        titles = {str(k): i.title for k, i in items_by_ids(session, keys).items()}
        return board, titles

    board, titles = await deps.read(read)
    await _reply(update, board_html(board, thesis, now, titles, leg))


async def cmd_recent(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    n = 5
    if context.args:
        if not context.args[0].isdigit() or not 1 <= int(context.args[0]) <= 50:
            await _usage(update, "recent", "N must be a number from 1 to 50")
            return
        n = int(context.args[0])
    alerts = await deps.read(lambda s: recent_alerts(s, n))
    await _reply(update, recent_html(alerts, deps.clock()))


async def cmd_why(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    if not context.args or not context.args[0].lstrip("#").isdigit():
        await _usage(update, "why")
        return
    alert_id = int(context.args[0].lstrip("#"))
    alert = await deps.read(lambda s: alert_by_id(s, alert_id))
    if alert is None:
        await _reply(update, f"No alert #{alert_id}.")
        return
    await _reply(update, why_html(alert))


async def cmd_rules(update: Update, context: Ctx) -> None:
    book = _deps(context).rulebook
    rs = book.engine.ruleset
    last = book.last
    result = "ok" if last.ok else "rejected, the previous rules keep running"
    lines = [
        f"rule set <code>{esc(rs.version[:12])}</code> from {esc(book.folder)}",
        f"{len(rs.thesis.legs)} legs, {len(rs.rules)} rules, {len(rs.vocabularies)} vocabularies",
        f"last reload {esc(last.at.isoformat(timespec='seconds'))}: {esc(result)}",
        *(f"  {esc(p)}" for p in last.problems[:10]),
    ]
    await _reply(update, "\n".join(lines))


async def cmd_test(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    text = " ".join(context.args or ()).strip()
    if not text:
        await _usage(update, "test")
        return
    engine = deps.rulebook.engine
    signals = engine.evaluate(Item("test", text[:500], "", "telegram", "press", "", deps.clock()))
    await _reply(update, signals_html(text, signals))


def _parse_subscription(
    args: Sequence[str], legs: set[str], tickers: set[str]
) -> tuple[list[str], list[str], str] | str:
    chosen_legs, chosen_tickers, severity = [], [], "low"
    for arg in args:
        if arg.startswith("severity="):
            severity = arg.removeprefix("severity=").lower()
            if severity not in SEVERITIES:
                return f"severity must be one of {', '.join(SEVERITIES)}"
        elif arg.startswith("$") or arg.upper() in tickers:
            symbol = arg.lstrip("$").upper()
            if symbol not in tickers:
                return f"unknown ticker {symbol}"
            chosen_tickers.append(symbol)
        elif arg in legs:
            chosen_legs.append(arg)
        else:
            return f"unknown leg or ticker {arg!r}"
    return chosen_legs, chosen_tickers, severity


async def cmd_subscribe(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    chat = update.effective_chat
    assert chat is not None
    thesis = deps.rulebook.engine.ruleset.thesis
    parsed = _parse_subscription(
        context.args or (), {lg.id for lg in thesis.legs}, set(thesis.tickers)
    )
    if isinstance(parsed, str):
        await _usage(update, "subscribe", parsed)
        return
    legs, tickers, severity = parsed
    now = deps.clock()

    def save(session: Session) -> None:
        prefs = load_prefs(session, [chat.id])[chat.id]
        save_prefs(
            session,
            prefs.but(
                subscribed=True, legs=tuple(legs), tickers=tuple(tickers), min_severity=severity
            ),
            now,
        )

    await deps.read(save)
    await _reply(
        update,
        f"Subscribed to {esc(', '.join(legs) or 'every leg')}; "
        f"tickers {esc(', '.join(tickers) or 'all')}; severity {esc(severity)} and above.",
    )


async def _update_prefs(
    update: Update, context: Ctx, change: Callable[[ChatPrefs, datetime], ChatPrefs]
) -> None:
    deps = _deps(context)
    chat = update.effective_chat
    assert chat is not None
    now = deps.clock()

    def save(session: Session) -> None:
        prefs = load_prefs(session, [chat.id])[chat.id]
        save_prefs(session, change(prefs, now), now)

    await deps.read(save)


async def cmd_unsubscribe(update: Update, context: Ctx) -> None:
    await _update_prefs(update, context, lambda p, _now: p.but(subscribed=False))
    await _reply(update, "Unsubscribed: no more alerts here. /subscribe brings them back.")


async def cmd_mute(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    args = context.args or []
    span = parse_duration(args[0]) if args else None
    if span is None or not timedelta(minutes=1) <= span <= timedelta(days=30):
        await _usage(update, "mute", "DURATION is like 30m, 4h or 2d (at most 30d)")
        return
    legs = {lg.id for lg in deps.rulebook.engine.ruleset.thesis.legs}
    leg = args[1] if len(args) > 1 else None
    if leg is not None and leg not in legs:
        await _usage(update, "mute", f"No leg {leg!r}")
        return
    await _update_prefs(update, context, lambda p, now: _muted(p, now + span, leg))
    await _reply(update, f"Muted {esc(leg or 'every leg')} for {esc(args[0])}.")


def _muted(prefs: ChatPrefs, until: datetime, leg: str | None) -> ChatPrefs:
    if leg is None:
        return prefs.but(muted_until=until)
    return prefs.but(muted_legs=prefs.muted_legs | {leg: until})


async def cmd_unmute(update: Update, context: Ctx) -> None:
    await _update_prefs(update, context, lambda p, _now: p.but(muted_until=None, muted_legs={}))
    await _reply(update, "Unmuted.")


async def cmd_feeds(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    rows = await deps.read(lambda s: feed_health(s))
    rows = [r for r in rows if not r.name.startswith("file:")]
    await _reply(update, feeds_html(rows, deps.clock()))


async def cmd_chart(update: Update, context: Ctx) -> None:
    from sqlalchemy import select

    from bot.views.chart import draw_states  # matplotlib: loaded by the process that draws, only
    from storage.models import transition_t  # only the chart reads the ledger directly

    deps = _deps(context)
    days = 30
    if context.args:
        if not context.args[0].isdigit() or not 1 <= int(context.args[0]) <= 365:
            await _usage(update, "chart", "DAYS must be a number from 1 to 365")
            return
        days = int(context.args[0])
    now = deps.clock()
    start = now - timedelta(days=days)
    thesis = deps.rulebook.engine.ruleset.thesis

    def read(
        session: Session,
    ) -> tuple[list[tuple[datetime, str, str]], list[tuple[datetime, str]]]:
        rows = session.execute(
            select(transition_t.c.at, transition_t.c.leg, transition_t.c.new_state).order_by(
                transition_t.c.at
            )
        )
        timeline = [(at, leg, state) for at, leg, state in rows]
        alerts = [(a.created_at, a.leg) for a in recent_alerts(session, 500)]
        return timeline, alerts

    timeline, alerts = await deps.read(read)
    png = draw_states(
        [lg.id for lg in thesis.legs],
        timeline,
        alerts,
        start=start,
        end=now,
        title=f"{thesis.name}: last {days} days",
    )
    message = update.effective_message
    if message is not None:
        await message.reply_photo(png, caption=f"{thesis.name}: leg states, last {days} days")


async def cmd_reload(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    user = update.effective_user
    if user is None or user.id not in deps.admins:
        await _reply(update, "Only an admin can reload the rules.")
        return
    report = await deps.run_db(lambda: deps.rulebook.refresh(deps.clock(), force=True))
    if report is None or report.ok:
        await _reply(
            update, f"Rules reloaded: version <code>{esc(deps.rulebook.version[:12])}</code>."
        )
    else:
        problems = "\n".join(esc(p) for p in report.problems[:20])
        await _reply(
            update,
            f"Rejected, version <code>{esc(deps.rulebook.version[:12])}</code> keeps running:\n"
            f"<pre>{problems}</pre>",
        )


async def cmd_unknown(update: Update, context: Ctx) -> None:
    await _reply(update, "Unknown command. /help lists what I understand.")


async def on_button(update: Update, context: Ctx) -> None:
    deps = _deps(context)
    query = update.callback_query
    if query is None or not query.data:
        return
    kind, _, rest = query.data.partition(":")
    if kind == "why" and rest.isdigit():
        alert = await deps.read(lambda s: alert_by_id(s, int(rest)))
        await query.answer()
        if alert is not None:
            await _reply(update, why_html(alert))
    elif kind == "mute":
        leg, _, span_text = rest.partition(":")
        span = parse_duration(span_text) or timedelta(hours=4)
        await _update_prefs(update, context, lambda p, now: _muted(p, now + span, leg))
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


async def on_error(update: object, context: Ctx) -> None:
    log.error("handler failed", exc_info=context.error)


_HANDLERS: tuple[tuple[str, Callable[[Update, Ctx], Coroutine[Any, Any, None]]], ...] = (
    ("start", cmd_start),
    ("help", cmd_help),
    ("status", cmd_status),
    ("recent", cmd_recent),
    ("why", cmd_why),
    ("rules", cmd_rules),
    ("test", cmd_test),
    ("subscribe", cmd_subscribe),
    ("unsubscribe", cmd_unsubscribe),
    ("mute", cmd_mute),
    ("unmute", cmd_unmute),
    ("feeds", cmd_feeds),
    ("chart", cmd_chart),
    ("reload", cmd_reload),
)


async def register_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """setMyCommands, so clients list the commands (post_init runs only under run_polling)."""
    await app.bot.set_my_commands([BotCommand(name, what) for name, _, what in COMMANDS])


def build_application(
    token: str,
    deps: BotDeps,
    *,
    base_url: str,
    rate_limit: bool = True,
    overall_per_s: float = 30.0,
    group_per_min: float = 20.0,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The Application with every handler; the caller starts and stops it."""
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_url.replace("/bot", "/file/bot"))
    )
    if rate_limit:
        # Buckets of one: 30/s overall and 20/min per group with no initial burst (a burst of 30
        # on top of the steady rate is what earns 429s). max_retries=0: a 429 comes back to the
        # outbox, which waits it out and keeps each chat's order.
        limiter = AIORateLimiter(
            overall_max_rate=1,
            overall_time_period=1 / overall_per_s,
            group_max_rate=1,
            group_time_period=60 / group_per_min * 1.02,
            max_retries=0,
        )
        builder = builder.rate_limiter(limiter)  # type: ignore[arg-type]
    app = builder.build()
    app.bot_data["deps"] = deps
    app.add_handler(TypeHandler(Update, gate), group=-1)
    for name, handler in _HANDLERS:
        app.add_handler(CommandHandler(name, handler))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.COMMAND, cmd_unknown))
    app.add_error_handler(on_error)
    return app
