"""Replaying stored items through the current rules, in time order, without writing anything.

It runs the same step as the live evaluator (``bot.pipeline.evaluate.step``) with the clock at each
item's publication time, so it shows what would have fired had every item been read when it
came out: a live run that read them on time raised the same alerts (the board applies a batch
in publication order, one step per publication time, so polling delays change nothing). News a
live run read too late to alert (an archive, a newly added feed) is replayed here as fresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from bot.pipeline.alerts import AlertDraft, draft_alerts
from bot.pipeline.evaluate import step
from rules import Engine as RulesEngine
from rules.board import Transition, new_board
from storage.signals import StoredItem

__all__ = ["BacktestResult", "TimelinePoint", "backtest"]


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    at: datetime
    leg: str
    state: str


@dataclass(slots=True)
class BacktestResult:
    items: int = 0
    signals: int = 0
    transitions: list[Transition] = field(default_factory=list)
    alerts: list[tuple[datetime, AlertDraft]] = field(default_factory=list)
    timeline: list[TimelinePoint] = field(default_factory=list)


def backtest(
    engine: RulesEngine,
    items: Sequence[StoredItem],
    *,
    on_item: Callable[[int], object] | None = None,
) -> BacktestResult:
    """``items`` in publication order; each group of equal time is one step of the board.

    An item's revisions (see ``storage.signals.versions_between``) are replayed in turn: each
    tells the board only what the earlier ones did not, as in the live run.
    """
    result = BacktestResult()
    if not items:
        return result
    rs = engine.ruleset
    board = new_board(rs.thesis, items[0].published_at)
    result.timeline += [TimelinePoint(s.since, s.leg, s.state) for s in board.legs]
    known: dict[str, StoredItem] = {}
    warned: set[tuple[int, str]] = set()
    fired: dict[str, set[str]] = {}
    for (at, _), group in groupby(items, key=lambda i: (i.published_at, i.revision)):
        batch = list(group)
        known.update((str(i.id), i) for i in batch)
        signals, received = step(engine, board, batch, at, fired=fired)
        for s in signals:
            fired.setdefault(s.item_key, set()).add(s.rule_id)
        for outcome in received.steps:
            drafts = draft_alerts(
                outcome, rs.thesis, rs.version, known, lambda story, leg: (story, leg) in warned
            )
            warned.update((d.story_id, d.leg) for d in drafts if d.story_id is not None)
            result.transitions += outcome.transitions
            result.alerts += [(at, d) for d in drafts]
            result.timeline += [TimelinePoint(t.at, t.leg, t.new) for t in outcome.transitions]
        board = received.board
        result.items += len(batch)
        result.signals += len(signals)
        if on_item:
            on_item(len(batch))
    return result
