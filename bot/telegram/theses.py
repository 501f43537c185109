"""The commands that choose among theses: /status [THESIS] [LEG], /subscribe THESIS [LEG...],
/exposure (the tickers several theses' legs move).

A thesis is named by its name; a leg as ``thesis/leg``, or bare where only one thesis (or the
thesis just named) has it. A chat that never chose follows every thesis, new ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session
from telegram import Update

from bot.telegram.args import quote
from bot.telegram.deps import Ctx, deps_of
from bot.telegram.html import esc
from bot.telegram.reads import board_view
from bot.telegram.render import board_html
from bot.telegram.replies import reply, usage
from bot.views.board import BoardView
from rules.book import Book, LegLookupError
from rules.exposure import Exposure, exposures
from rules.model import SEVERITIES
from storage.chats import load_prefs, save_prefs

__all__ = ["cmd_exposure", "cmd_status", "cmd_subscribe", "exposure_html", "parse_subscription"]

_MOVE = {"bullish": "▲", "bearish": "▼"}


def _status_target(book: Book, args: Sequence[str]) -> tuple[list[str], str | None] | str:
    """The theses to show and the leg to detail, or what is wrong with the arguments."""
    if not args:
        return list(book.names), None
    first, rest = args[0], args[1:]
    if first in book.names:
        if not rest:
            return [first], None
        ref = f"{first}/{rest[0]}"
    elif rest:
        return f"no thesis {quote(first)} (theses: {', '.join(book.names)})"
    else:
        ref = first
    try:
        rs, leg = book.find_leg(ref)
    except LegLookupError as exc:
        return str(exc)
    return [rs.thesis.name], leg.id


async def cmd_status(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    book = deps.rulebook.book
    target = _status_target(book, context.args or ())
    if isinstance(target, str):
        await usage(update, "status", target)
        return
    names, leg = target
    theses = [book.ruleset(n).thesis for n in names]
    now = deps.clock()

    def read(session: Session) -> list[BoardView]:
        return [board_view(session, thesis, now) for thesis in theses]

    views = await deps.read(read)
    await reply(update, "\n\n".join(board_html(view, leg) for view in views))


@dataclass(slots=True)
class Subscription:
    theses: list[str] = field(default_factory=list)
    legs: list[str] = field(default_factory=list)  # thesis/leg
    tickers: list[str] = field(default_factory=list)
    severity: str = "low"


def parse_subscription(book: Book, args: Sequence[str]) -> Subscription | str:
    """``[THESIS] [LEG...] [THESIS [LEG...]]... [$TICKER...] [severity=LEVEL]``.

    A leg after a thesis name is that thesis's; a leg before any is looked up in every thesis
    (it must be unambiguous). Naming a leg follows its thesis too.
    """
    out = Subscription()
    tickers = {t for rs in book.rulesets for t in rs.thesis.tickers}
    current: str | None = None
    for arg in args:
        if arg.startswith("severity="):
            out.severity = arg.removeprefix("severity=").lower()
            if out.severity not in SEVERITIES:
                return f"severity must be one of {', '.join(SEVERITIES)}"
        elif arg in book.names:
            current = arg
            out.theses.append(arg)
        elif arg.startswith("$") or arg.upper() in tickers:
            symbol = arg.lstrip("$").upper()
            if symbol not in tickers:
                return f"unknown ticker {quote(symbol)}"
            out.tickers.append(symbol)
        else:
            ref = f"{current}/{arg}" if current and "/" not in arg else arg
            try:
                rs, leg = book.find_leg(ref)
            except LegLookupError as exc:
                if len(book.rulesets) == 1:
                    return f"unknown leg or ticker {quote(arg)}"
                return f"unknown thesis, leg or ticker {quote(arg)}: {exc}"
            # One thesis: bare names, as before (and as the digest reads them).
            several = len(book.rulesets) > 1
            out.legs.append(f"{rs.thesis.name}/{leg.id}" if several else leg.id)
            if several:
                out.theses.append(rs.thesis.name)
    out.theses = list(dict.fromkeys(out.theses))
    return out


async def cmd_subscribe(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    chat = update.effective_chat
    assert chat is not None
    book = deps.rulebook.book
    parsed = parse_subscription(book, context.args or ())
    if isinstance(parsed, str):
        await usage(update, "subscribe", parsed)
        return
    now = deps.clock()

    def save(session: Session) -> None:
        prefs = load_prefs(session, [chat.id])[chat.id]
        chosen = prefs.but(
            subscribed=True,
            theses=tuple(parsed.theses),
            legs=tuple(parsed.legs),
            tickers=tuple(parsed.tickers),
            min_severity=parsed.severity,
        )
        save_prefs(session, chosen, now)

    await deps.read(save)
    tail = (
        f"tickers {esc(', '.join(parsed.tickers) or 'all')}; "
        f"severity {esc(parsed.severity)} and above."
    )
    if len(book.rulesets) == 1:
        await reply(update, f"Subscribed to {esc(', '.join(parsed.legs) or 'every leg')}; {tail}")
        return
    theses = ", ".join(parsed.theses) or "every thesis"
    legs = ", ".join(parsed.legs) or "all"
    await reply(update, f"Subscribed to {esc(theses)}; legs {esc(legs)}; {tail}")


def exposure_html(rows: Sequence[Exposure], states: dict[str, str]) -> str:
    """Each ticker with the legs whose break moves it, shared tickers first."""
    if not rows:
        return "No leg names a ticker."
    lines = ["<b>Exposure</b>: the legs whose break moves each ticker (state now)"]
    for row in rows:
        legs = ", ".join(
            f"{esc(e.ref)} <i>{esc(states.get(e.ref, 'intact'))}</i> {_MOVE[e.move]}"
            for e in row.legs
        )
        shared = f" <b>· {len(row.theses)} theses</b>" if row.shared else ""
        lines.append(f"${esc(row.ticker)}{shared}: {legs}")
    return "\n".join(lines)


async def cmd_exposure(update: Update, context: Ctx) -> None:
    deps = deps_of(context)
    book = deps.rulebook.book
    now = deps.clock()

    def read(session: Session) -> list[BoardView]:
        return [board_view(session, rs.thesis, now) for rs in book.rulesets]

    views = await deps.read(read)
    states = {f"{v.thesis}/{line.leg}": line.state for v in views for line in v.legs}
    await reply(update, exposure_html(exposures(book.rulesets), states))
