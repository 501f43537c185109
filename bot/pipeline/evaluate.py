"""Stored items through the rules and the board; alerts into the outbox, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.pipeline import routing
from bot.pipeline.alerts import AlertDraft, draft_alerts, pushes
from bot.pipeline.board_codec import board_from_json, board_to_json, evidence_to_json
from bot.pipeline.rulebook import Rulebook
from rules import Engine as RulesEngine
from rules import Item, Signal
from rules.board import Board, Outcome, Received, is_late, new_board, receive, rule_cooldowns
from storage.chats import load_prefs
from storage.outbox import add_alert, join_push, story_alerted
from storage.signals import (
    StoredItem,
    add_transition,
    items_by_ids,
    load_board,
    mark_evaluated,
    pending_items,
    rules_fired,
    save_board,
    save_signals,
)

__all__ = [
    "MAX_AGE",
    "EvalSummary",
    "Evaluator",
    "Router",
    "chat_router",
    "rules_item",
    "step",
]

log = logging.getLogger(__name__)

BATCH = 500
# News published longer ago than this when it is read never moves a leg or alerts.
MAX_AGE = timedelta(hours=72)

Router = Callable[[Session, AlertDraft, datetime], Sequence[str]]


def chat_router(chats: Sequence[int]) -> Router:
    """Each alert to the allowed chats whose subscription wants it, read at alert time."""

    def route(session: Session, draft: AlertDraft, now: datetime) -> list[str]:
        prefs = load_prefs(session, chats)
        tickers = list(draft.payload.get("tickers", {}))
        thesis = str(draft.payload.get("thesis", ""))
        return routing.route(
            prefs,
            leg=draft.leg,
            severity=draft.severity,
            tickers=tickers,
            now=now,
            thesis=thesis,
            evidence=bool(draft.payload.get("headlines")),
        )

    return route


@dataclass(slots=True)
class EvalSummary:
    items: int = 0
    signals: int = 0
    transitions: int = 0
    alerts: int = 0
    late: int = 0  # items too old to move a leg or alert: history only


def rules_item(item: StoredItem) -> Item:
    tier = item.tier if item.tier in ("official", "wire", "press", "blog") else "press"
    return Item(
        key=str(item.id),
        title=item.title,
        summary=item.summary,
        source=item.publisher,
        tier=tier,  # type: ignore[arg-type]
        url=item.url or "",
        published=item.published_at,
    )


def step(
    engine: RulesEngine,
    board: Board,
    items: Sequence[StoredItem],
    now: datetime,
    *,
    max_age: timedelta | None = MAX_AGE,
    fired: Mapping[str, Collection[str]] | None = None,
) -> tuple[list[Signal], Received]:
    """The pure core shared by the live run and the backtest: items read at ``now``.

    Every signal is returned (it is history). The board takes those of news no older than
    ``max_age``, one step per publication time, except what a rewritten item said before:
    ``fired`` maps an item's key to the rules its earlier texts fired, so a rewrite that keeps
    the meaning tells the board nothing new and one that changes it tells only the change.
    """
    signals = [s for item in items for s in engine.evaluate(rules_item(item))]
    said = fired or {}
    news = [s for s in signals if s.rule_id not in said.get(s.item_key, ())]
    rs = engine.ruleset
    received = receive(board, news, rs.confirmation, now, rule_cooldowns(rs), max_age=max_age)
    return signals, received


def _signal_row(s: Signal, thesis: str, revision: int, now: datetime) -> dict[str, Any]:
    return {
        "thesis": thesis,
        "item_id": int(s.item_key),
        "revision": revision,
        "rule_id": s.rule_id,
        "ruleset_version": s.ruleset_version,
        "leg": s.leg,
        "effect": s.effect,
        "direction": s.direction,
        "severity": s.severity,
        "hedged": s.hedged,
        "tickers": s.ticker_map(),
        "spans": [
            {"field": p.field, "start": p.start, "end": p.end, "text": p.text} for p in s.spans
        ],
        "created_at": now,
    }


class Evaluator:
    """Evaluates whatever the rules have not seen yet; safe to call as often as you like."""

    def __init__(
        self,
        rulebook: Rulebook,
        targets: Sequence[str] | Router,
        *,
        max_age: timedelta | None = MAX_AGE,
    ) -> None:
        """``targets``: fixed delivery targets, or a router choosing them per alert.

        ``max_age``: news published longer ago than this when it is read is kept as history
        (its signals are stored) but never moves a leg or alerts.
        """
        self.rulebook = rulebook
        self.max_age = max_age
        if callable(targets):
            self.route: Router = targets
        else:
            fixed = tuple(targets)
            self.route = lambda _session, _draft, _now: fixed

    def run(
        self,
        db: Engine,
        now: datetime,
        *,
        until: datetime | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> EvalSummary:
        """Pending items in batches; with none pending, one step lets old evidence decay.

        ``until`` takes only items published by then (a replay with a controlled clock).
        ``stop`` is asked before each batch: a shutdown ends the run between two commits,
        and what is left stays pending for the next one.
        """
        total = EvalSummary()
        while not (stop and stop()):
            with Session(db) as session, session.begin():
                batch = self._batch(session, now, until)
            total.items += batch.items
            total.signals += batch.signals
            total.transitions += batch.transitions
            total.alerts += batch.alerts
            total.late += batch.late
            if batch.items < BATCH:
                return total
        return total

    def _batch(self, session: Session, now: datetime, until: datetime | None) -> EvalSummary:
        engines = self.rulebook.engines
        # Every board is locked (on PostgreSQL) before the items, always in the same order:
        # evaluation stays one worker at a time, as with one board.
        boards = [self._board(session, e, now) for e in engines]
        items = pending_items(session, BATCH, until=until)
        batch = {str(i.id): i for i in items}
        total = EvalSummary(len(items))
        # A story's alerts across theses: one push per chat naming each thesis and leg.
        by_story: dict[int, list[int]] = {}
        for engine, board in zip(engines, boards, strict=True):
            rs = engine.ruleset
            name = rs.thesis.name
            fired = {str(k): v for k, v in rules_fired(session, items, name).items()}
            signals, received = step(engine, board, items, now, max_age=self.max_age, fired=fired)
            rows = [_signal_row(s, name, batch[s.item_key].revision, now) for s in signals]
            save_signals(session, rows)
            total.alerts += sum(
                self._write_alerts(session, engine, o, batch, now, by_story) for o in received.steps
            )
            save_board(session, name, rs.version, board_to_json(received.board), now)
            total.signals += len(signals)
            total.transitions += len(received.transitions)
        for ids in by_story.values():
            join_push(session, ids)
        mark_evaluated(session, items, now)
        late = [i for i in items if is_late(i.published_at, now, self.max_age)]
        if late:
            oldest = min(i.published_at for i in late)
            log.info(
                "%d item(s) published more than %g h ago (oldest %s): stored, no alert",
                len(late),
                self.max_age.total_seconds() / 3600 if self.max_age else 0,
                oldest.date().isoformat(),
            )
        total.late = len(late)
        return total

    @staticmethod
    def _board(session: Session, engine: RulesEngine, now: datetime) -> Board:
        thesis = engine.ruleset.thesis
        stored = load_board(session, thesis.name)  # locks the board row on PostgreSQL
        return board_from_json(stored[0], thesis, now) if stored else new_board(thesis, now)

    def _write_alerts(
        self,
        session: Session,
        engine: RulesEngine,
        outcome: Outcome,
        batch: dict[str, StoredItem],
        now: datetime,
        by_story: dict[int, list[int]],
    ) -> int:
        rs = engine.ruleset
        name = rs.thesis.name
        wanted = {int(e.item_key) for t in outcome.transitions for e in t.evidence}
        items = {str(k): v for k, v in items_by_ids(session, sorted(wanted)).items()} | batch
        transition_ids: dict[int, int] = {}
        for t in outcome.transitions:
            transition_ids[id(t)] = add_transition(
                session,
                thesis=name,
                leg=t.leg,
                old=t.old,
                new=t.new,
                at=t.at,
                reason=t.reason,
                version=rs.version,
                evidence=[evidence_to_json(e) for e in t.evidence],
            )
            log.info("%s/%s: %s -> %s (%s)", name, t.leg, t.old, t.new, t.reason)
        drafts = draft_alerts(
            outcome,
            rs.thesis,
            rs.version,
            items,
            lambda story, leg: story_alerted(session, story_id=story, leg=leg, thesis=name),
        )
        # The thesis goes into the data the renderers and the router read.
        qualified = len(self.rulebook.engines) > 1  # messages then name the leg thesis/leg
        drafts = [
            replace(d, payload={"thesis": name, "qualified": qualified, **d.payload})
            for d in drafts
        ]
        for push in pushes(drafts):  # a story moving several legs is one message per chat
            ids = [self._add(session, d, name, now, transition_ids) for d in push]
            if push[0].push_key is None:
                join_push(session, ids)
            else:  # joined once every thesis has spoken
                by_story.setdefault(push[0].push_key, []).extend(ids)
        return len(drafts)

    def _add(
        self,
        session: Session,
        d: AlertDraft,
        thesis: str,
        now: datetime,
        transition_ids: dict[int, int],
    ) -> int:
        return add_alert(
            session,
            kind=d.kind,
            thesis=thesis,
            leg=d.leg,
            severity=d.severity,
            old_state=d.old_state,
            new_state=d.new_state,
            confirmed=d.confirmed,
            created_at=now,
            payload=d.payload,
            targets=self.route(session, d, now),
            story_id=d.story_id,
            transition_id=transition_ids[id(d.transition)] if d.transition else None,
        )
