"""The chat commands: each reads the board, the store or the rules and answers in escaped HTML.

Handlers only translate; the gate has already refused strangers by the time one runs.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlmodel import Session
from telegram import Update

from bot.pipeline.announce import announce_reload
from bot.pipeline.routing import chat_target
from bot.telegram.args import MAX_MUTE, MIN_MUTE, parse_id, parse_int, parse_span
from bot.telegram.deps import Ctx, deps_of, muted, update_prefs
from bot.telegram.digest import cmd_digest
from bot.telegram.html import esc
from bot.telegram.quiet import cmd_quiet
from bot.telegram.reads import chart_png, why_of
from bot.telegram.render import (
    feeds_html,
    recent_html,
    signals_html,
    vocab_html,
    why_html,
)
from bot.telegram.replies import help_text, reply, usage
from bot.telegram.theses import cmd_exposure, cmd_status, cmd_subscribe
from bot.views.times import stamp
from bot.views.vocab import vocab_view
from rules import Item, Thesis
from rules.book import Book, LegLookupError
from storage.chats import load_prefs, save_prefs
from storage.feeds import feed_health
from storage.outbox import recent_alerts

__all__ = ["HANDLERS", "MAX_TEST_CHARS", "cmd_unknown"]

MAX_TEST_CHARS = 500  # a headline and its lead; longer is not what /test is for


async def cmd_start(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    chat = update.effective_chat
    assert chat is not None
    now = deps.clock()

    def resume(session: Session) -> None:
        prefs = load_prefs(session, [chat.id])[chat.id]
        save_prefs(session, prefs.but(subscribed=True, paused=False, paused_reason=None), now)

    await deps.read(resume)
    await reply(update, "Subscribed: this chat gets thesis alerts.\n\n" + help_text())


async def cmd_help(update: Update, context: Ctx) -> None:
    await reply(update, help_text())


async def cmd_recent(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    n = parse_int(context.args[0], 1, 50) if context.args else 5
    if n is None:
        await usage(update, "recent", "N must be a number from 1 to 50")
        return
    alerts = await deps.read(lambda s: recent_alerts(s, n))
    await reply(update, recent_html(alerts, deps.clock()))


async def cmd_why(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    alert_id = parse_id(context.args[0]) if context.args else None
    if alert_id is None:
        await usage(update, "why", "ID is an alert number, as /recent lists them")
        return
    found = await deps.read(lambda s: why_of(s, alert_id))
    if found is None:
        await reply(update, f"No alert #{alert_id}.")
        return
    await reply(update, why_html(*found))


async def cmd_rules(update: Update, context: Ctx) -> None:
    book = deps_of(context).rulebook
    args = context.args or []
    if args:
        if len(args) != 2 or args[0].lower() != "vocab":
            await usage(update, "rules", "the only argument is vocab NAME")
            return
        # The default thesis's vocabulary first, then the others'.
        views = [vocab_view(e.ruleset, args[1]) for e in book.engines]
        found = next((v for v in views if not isinstance(v, str)), views[0])
        if isinstance(found, str):
            await usage(update, "rules", found)
            return
        await reply(update, vocab_html(found))
        return
    last = book.last
    result = "ok" if last.ok else "rejected, the previous rules keep running"
    folders = ", ".join(map(str, book.folders))
    lines = [f"rule set <code>{esc(book.version[:12])}</code> from {esc(folders)}"]
    several = len(book.engines) > 1
    for engine in book.engines:
        rs = engine.ruleset
        head = (
            f"<b>{esc(rs.thesis.name)}</b> <code>{esc(rs.version[:12])}</code>: " if several else ""
        )
        lines.append(
            f"{head}{len(rs.thesis.legs)} legs, {len(rs.rules)} rules, "
            f"{len(rs.vocabularies)} vocabularies"
        )
    lines += [
        f"last reload {esc(last.at.isoformat(timespec='seconds'))}: {esc(result)}",
        *(f"  {esc(p)}" for p in last.problems[:10]),
    ]
    await reply(update, "\n".join(lines))


async def cmd_test(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    text = " ".join(context.args or ()).strip()
    if not text:
        await usage(update, "test")
        return
    cut, text = len(text) > MAX_TEST_CHARS, text[:MAX_TEST_CHARS]
    item = Item("test", text, "", "telegram", "press", "", deps.clock())
    engines = deps.rulebook.engines
    # Every thesis reads it; with several, each signal names its leg as thesis/leg.
    signals = [
        replace(s, leg=f"{e.ruleset.thesis.name}/{s.leg}") if len(engines) > 1 else s
        for e in engines
        for s in e.evaluate(item)
    ]
    note = f"\n<i>(read the first {MAX_TEST_CHARS} characters only)</i>" if cut else ""
    # Say when the second stage (rules/doubt.py) hedged a break, and which words it doubted.
    doubted = [
        w
        for e in engines
        if (d := e.ruleset.doubt) is not None and d.doubts(item)
        for w in d.reasons(item)
    ]
    await reply(update, signals_html(text, signals, doubted) + note)


async def cmd_unsubscribe(update: Update, context: Ctx) -> None:
    await update_prefs(update, context, lambda p, _now: p.but(subscribed=False))
    await reply(update, "Unsubscribed: no more alerts here. /subscribe brings them back.")


async def cmd_mute(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    args = context.args or []
    span = parse_span(args[0], MIN_MUTE, MAX_MUTE) if args else None
    if span is None:
        await usage(update, "mute", "DURATION is like 30m, 4h or 2d (at most 30d)")
        return
    leg = None
    if len(args) > 1:
        book = deps.rulebook.book
        try:
            rs, found = book.find_leg(args[1])
        except LegLookupError as exc:
            await usage(update, "mute", str(exc))
            return
        # Named with its thesis where several are loaded: another may have a leg so named.
        leg = f"{rs.thesis.name}/{found.id}" if len(book.names) > 1 else found.id
    await update_prefs(update, context, lambda p, now: muted(p, now + span, leg))
    await reply(update, f"Muted {esc(leg or 'every leg')} for {esc(args[0])}.")


async def cmd_unmute(update: Update, context: Ctx) -> None:
    await update_prefs(update, context, lambda p, _now: p.but(muted_until=None, muted_legs={}))
    await reply(update, "Unmuted.")


async def cmd_feeds(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    rows = await deps.read(lambda s: feed_health(s))
    rows = [r for r in rows if not r.name.startswith("file:")]
    await reply(update, feeds_html(rows, deps.clock()))


async def cmd_chart(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    book = deps.rulebook.book
    target = _chart_target(book, context.args or ())
    if isinstance(target, str):
        await usage(update, "chart", target)
        return
    thesis, days = target
    now = deps.clock()
    title = f"{thesis.name}: last {days} days, to {stamp(now)}"
    png = await chart_png(deps, now - timedelta(days=days), now, title, thesis)
    message = update.effective_message
    if message is not None:
        await message.reply_photo(png, caption=f"{thesis.name}: leg states, last {days} days")


def _chart_target(book: Book, args: Sequence[str]) -> tuple[Thesis, int] | str:
    """``[THESIS] [DAYS]``: the first thesis loaded and 30 days unless named."""
    thesis, days = book.default.thesis, 30
    for arg in args[:2]:
        if arg in book.names:
            thesis = book.ruleset(arg).thesis
            continue
        number = parse_int(arg, 1, 365)
        if number is None:
            theses = f", or a thesis: {', '.join(book.names)}" if len(book.names) > 1 else ""
            return f"DAYS must be a number from 1 to 365{theses}"
        days = number
    return thesis, days


async def cmd_reload(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    user = update.effective_user
    if user is None or user.id not in deps.admins:
        await reply(update, "Only an admin can reload the rules.")
        return
    report = await deps.run_db(lambda: deps.rulebook.refresh(deps.clock(), force=True))
    rs, targets = deps.rulebook.book, [chat_target(a) for a in sorted(deps.admins)]
    await deps.read(  # every admin hears of it, as of a reload the files' change set off
        lambda s: announce_reload(
            s, report, rs, folder=str(deps.rulebook.folder), targets=targets, now=deps.clock()
        )
    )
    if report is None or report.ok:
        await reply(
            update, f"Rules reloaded: version <code>{esc(deps.rulebook.version[:12])}</code>."
        )
    else:
        problems = "\n".join(esc(p) for p in report.problems[:20])
        await reply(
            update,
            f"Rejected, version <code>{esc(deps.rulebook.version[:12])}</code> keeps running:\n"
            f"<pre>{problems}</pre>",
        )


async def cmd_unknown(update: Update, context: Ctx) -> None:
    await reply(update, "Unknown command. /help lists what I understand.")


Handler = Callable[[Update, Ctx], Coroutine[Any, Any, None]]


def _at_most(name: str, most: int | None, handler: Handler) -> Handler:
    """``handler``, answering its usage line instead when given more than ``most`` words."""
    if most is None:
        return handler

    async def checked(update: Update, context: Ctx) -> None:
        if len(context.args or ()) > most:
            extra = "takes no arguments" if most == 0 else f"takes at most {most}"
            await usage(update, name, f"/{name} {extra}")
            return
        await handler(update, context)

    return checked


# (command, handler, most arguments it takes; None: free text or any number)
HANDLERS: tuple[tuple[str, Handler], ...] = tuple(
    (name, _at_most(name, most, handler))
    for name, handler, most in (
        ("start", cmd_start, None),  # /start PAYLOAD is how deep links arrive: ignored
        ("help", cmd_help, 0),
        ("status", cmd_status, 2),
        ("recent", cmd_recent, 1),
        ("why", cmd_why, 1),
        ("rules", cmd_rules, 2),
        ("test", cmd_test, None),
        ("subscribe", cmd_subscribe, None),
        ("unsubscribe", cmd_unsubscribe, 0),
        ("mute", cmd_mute, 2),
        ("unmute", cmd_unmute, 0),
        ("feeds", cmd_feeds, 0),
        ("chart", cmd_chart, 2),
        ("exposure", cmd_exposure, 0),
        ("digest", cmd_digest, 3),
        ("quiet", cmd_quiet, 2),
        ("reload", cmd_reload, 0),
    )
)
