"""One push: the alerts one story raised in one step, read as one message. Pure.

A story that moves several legs is one message per chat: every leg it moves (its move,
severity and confirmation), the story's headlines once, and every ticker once with the
direction the moves give it. When legs disagree on a ticker, each direction names its legs.
Console text and Telegram HTML both render from :class:`PushView`; a field added to
:class:`LegMove` (the thesis a leg belongs to, say) reaches both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rules.model import SEVERITIES
from storage.outbox import StoredAlert

__all__ = [
    "MAX_PUSH_HEADLINES",
    "LegMove",
    "PushView",
    "TickerMove",
    "leg_label",
    "push_view",
    "status_of",
]

MAX_PUSH_HEADLINES = 5


@dataclass(frozen=True, slots=True)
class LegMove:
    """One leg's part of a push: one alert."""

    alert_id: int
    leg: str
    claim: str
    severity: str
    kind: str  # transition | early
    old: str | None
    new: str | None
    status: str  # confirmed by N sources | unconfirmed | the reason (back to intact)
    confirmed: bool
    label: str = ""  # how the message names the leg: ``thesis/leg`` when it spans theses


@dataclass(frozen=True, slots=True)
class TickerMove:
    """A ticker once, with each direction the push gives it and the legs that give it."""

    symbol: str
    moves: tuple[tuple[str, tuple[str, ...]], ...]  # (bullish|bearish, legs), in leg order

    @property
    def split(self) -> bool:
        return len(self.moves) > 1


@dataclass(frozen=True, slots=True)
class PushView:
    legs: tuple[LegMove, ...]  # the worst first
    severity: str  # the worst of them
    headlines: tuple[Mapping[str, Any], ...]  # the story's, once each
    more_headlines: int
    tickers: tuple[TickerMove, ...]
    created_at: datetime
    theses: tuple[str, ...] = ()  # the theses it moves, when more than one

    @property
    def moves(self) -> str:
        """``2 legs``, or ``3 legs of 2 theses``."""
        legs = f"{len(self.legs)} leg{'s' if len(self.legs) != 1 else ''}"
        return f"{legs} of {len(self.theses)} theses" if len(self.theses) > 1 else legs

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(m.alert_id for m in self.legs))


def status_of(alert: StoredAlert) -> str:
    p = alert.payload
    if alert.new_state == "intact":
        return str(p.get("reason", ""))
    if alert.confirmed:
        n = int(p.get("sources", 0))
        return f"confirmed by {n} source{'s' if n != 1 else ''}"
    return "unconfirmed"


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def _headline_key(h: Mapping[str, Any]) -> object:
    return h.get("item") or (h.get("title"), h.get("url"))


def leg_label(alert: StoredAlert, *, several: bool = False) -> str:
    """The leg as a message names it: ``thesis/leg`` when the bot watches several theses (the
    evaluator marks such alerts ``qualified``) or the push spans several."""
    thesis = alert.payload.get("thesis")
    qualified = several or bool(alert.payload.get("qualified"))
    return f"{thesis}/{alert.leg}" if qualified and thesis else alert.leg


def push_view(alerts: Sequence[StoredAlert]) -> PushView:
    """The alerts of one push (one chat's share of it) as one message's content."""
    if not alerts:
        raise ValueError("a push has at least one alert")
    ordered = sorted(alerts, key=lambda a: (-_rank(a.severity), a.id))
    theses = {str(a.payload.get("thesis", "")) for a in alerts}
    label = {a.id: leg_label(a, several=len(theses) > 1) for a in alerts}
    legs = tuple(
        LegMove(
            a.id,
            a.leg,
            str(a.payload.get("claim", "")),
            a.severity,
            a.kind,
            a.old_state,
            a.new_state,
            status_of(a),
            a.confirmed,
            label[a.id],
        )
        for a in ordered
    )
    seen: dict[object, Mapping[str, Any]] = {}
    more = 0
    for a in ordered:
        for h in a.payload.get("headlines", []):
            seen.setdefault(_headline_key(h), h)
        more = max(more, int(a.payload.get("more_headlines", 0)))
    heads = tuple(seen.values())
    by_symbol: dict[str, dict[str, list[str]]] = {}
    for a in ordered:
        for symbol, move in a.payload.get("tickers", {}).items():
            by_symbol.setdefault(symbol, {}).setdefault(move, []).append(label[a.id])
    tickers = tuple(
        TickerMove(sym, tuple((move, tuple(ls)) for move, ls in moves.items()))  # worst leg first
        for sym, moves in sorted(by_symbol.items())
    )
    return PushView(
        legs,
        ordered[0].severity,
        heads[:MAX_PUSH_HEADLINES],
        more + max(0, len(heads) - MAX_PUSH_HEADLINES),
        tickers,
        max(a.created_at for a in alerts),
        tuple(sorted(t for t in theses if t)) if len(theses) > 1 else (),
    )
