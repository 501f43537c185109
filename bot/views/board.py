"""The thesis board as people read it: each leg, since when, on what evidence, with times.

Read once from the database (:func:`read_board`, given the decoded board: decoding is the
pipeline's business, a stage above this one), then rendered as text (CLI), HTML (chat)
or JSON (``status --json``). A leg that never moved says so, instead of "intact since" the
database's first evaluation; a leg no rule ever matched says "no evidence yet".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from rules import Thesis
from rules.board import Board
from storage.history import board_updated_at, last_moves, last_signal_times
from storage.signals import items_by_ids

__all__ = ["BoardView", "EvidenceLine", "LegLine", "board_json", "read_board"]


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    effect: str
    hedged: bool
    rule_id: str
    title: str
    source: str
    published: datetime


@dataclass(frozen=True, slots=True)
class LegLine:
    leg: str
    state: str
    claim: str
    tickers: dict[str, str]  # how a break moves each ticker
    since: datetime | None  # None: never moved
    evidence: tuple[EvidenceLine, ...]  # live evidence, newest first
    last_signal: datetime | None  # newest news any rule matched for this leg, live or not


@dataclass(frozen=True, slots=True)
class BoardView:
    thesis: str
    legs: tuple[LegLine, ...]
    evaluated_at: datetime | None  # None: the rules have read nothing yet
    now: datetime

    def leg(self, leg: str) -> LegLine:
        for line in self.legs:
            if line.leg == leg:
                return line
        raise KeyError(leg)


def read_board(session: Session, thesis: Thesis, board: Board, now: datetime) -> BoardView:
    """``board`` (the stored one, or a new one) with the ledger's and the signals' times."""
    keys = sorted({int(e.item_key) for s in board.legs for e in s.evidence})
    titles = {str(k): i.title for k, i in items_by_ids(session, keys).items()}
    moved = last_moves(session, thesis.name)
    signalled = last_signal_times(session, thesis.name)
    legs = []
    for status in board.legs:
        spec = thesis.leg(status.leg)
        evidence = tuple(
            EvidenceLine(
                e.effect,
                e.hedged,
                e.rule_id,
                titles.get(e.item_key, f"item {e.item_key}"),
                e.source,
                e.at,
            )
            for e in sorted(status.evidence, key=lambda e: e.at, reverse=True)
        )
        legs.append(
            LegLine(
                status.leg,
                status.state,
                spec.claim,
                {t.symbol: t.move for t in spec.tickers},
                status.since if status.leg in moved or status.state != "intact" else None,
                evidence,
                signalled.get(status.leg),
            )
        )
    return BoardView(thesis.name, tuple(legs), board_updated_at(session, thesis.name), now)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def board_json(view: BoardView) -> dict[str, Any]:
    """The board for scripts: ISO 8601 times in UTC offsets, nulls for "never"."""
    return {
        "thesis": view.thesis,
        "evaluated_at": _iso(view.evaluated_at),
        "now": view.now.isoformat(),
        "legs": [
            {
                "leg": line.leg,
                "state": line.state,
                "since": _iso(line.since),
                "claim": line.claim,
                "tickers": line.tickers,
                "last_signal": _iso(line.last_signal),
                "evidence": [
                    {
                        "effect": e.effect,
                        "hedged": e.hedged,
                        "rule": e.rule_id,
                        "title": e.title,
                        "source": e.source,
                        "published": e.published.isoformat(),
                    }
                    for e in line.evidence
                ],
            }
            for line in view.legs
        ],
    }
