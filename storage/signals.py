"""Evaluation state: items awaiting the rules, their signals, the board and its ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from storage.models import board_t, item_revision_t, item_t, signal_t, transition_t

__all__ = [
    "StoredItem",
    "add_transition",
    "items_between",
    "items_by_ids",
    "load_board",
    "mark_evaluated",
    "pending_items",
    "rules_fired",
    "save_board",
    "save_signals",
    "versions_between",
]

CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    story_id: int
    title: str
    summary: str
    publisher: str
    tier: str
    url: str | None
    published_at: datetime
    first_seen_at: datetime
    revision: int = 1  # the item's text version: a feed's rewrite makes a new one


_COLUMNS = (
    item_t.c.id,
    item_t.c.story_id,
    item_t.c.title,
    item_t.c.summary,
    item_t.c.publisher,
    item_t.c.tier,
    item_t.c.url,
    item_t.c.published_at,
    item_t.c.first_seen_at,
    item_t.c.revision,
)


def pending_items(
    session: Session, limit: int = 500, *, until: datetime | None = None
) -> list[StoredItem]:
    """Items the rules have not seen yet, first stored first; locked against other workers.

    ``until`` keeps only items published by then: a replay with a controlled clock.
    """
    query = (
        select(*_COLUMNS).where(item_t.c.evaluated_at.is_(None)).order_by(item_t.c.id).limit(limit)
    )
    if until is not None:
        query = query.where(item_t.c.published_at <= until)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [StoredItem(*row) for row in session.execute(query)]


def items_between(
    session: Session, since: datetime | None, until: datetime | None
) -> list[StoredItem]:
    """Stored items in publication order, for a replay."""
    query = select(*_COLUMNS).order_by(item_t.c.published_at, item_t.c.id)
    if since is not None:
        query = query.where(item_t.c.published_at >= since)
    if until is not None:
        query = query.where(item_t.c.published_at < until)
    return [StoredItem(*row) for row in session.execute(query)]


def versions_between(
    session: Session, since: datetime | None, until: datetime | None
) -> list[StoredItem]:
    """Every text the rules read, in publication order: a replay sees each revision in turn.

    An item's earlier texts come first (at their own publication times); a text rewritten
    before the rules read it is left out, as the live run never saw it.
    """
    current = items_between(session, since, until)
    query = (
        select(
            item_revision_t.c.item_id,
            item_t.c.story_id,
            item_revision_t.c.title,
            item_revision_t.c.summary,
            item_t.c.publisher,
            item_t.c.tier,
            item_t.c.url,
            item_revision_t.c.published_at,
            item_t.c.first_seen_at,
            item_revision_t.c.revision,
        )
        .join(item_t, item_t.c.id == item_revision_t.c.item_id)
        .where(item_revision_t.c.evaluated_at.is_not(None))
    )
    if since is not None:
        query = query.where(item_revision_t.c.published_at >= since)
    if until is not None:
        query = query.where(item_revision_t.c.published_at < until)
    earlier = [StoredItem(*row) for row in session.execute(query)]
    return sorted(current + earlier, key=lambda i: (i.published_at, i.id, i.revision))


def mark_evaluated(session: Session, items: Sequence[StoredItem], now: datetime) -> None:
    """The rules read these items' texts; a text rewritten meanwhile stays pending."""
    if items:
        session.execute(
            update(item_t)
            .where(item_t.c.id == bindparam("iid"), item_t.c.revision == bindparam("rev"))
            .values(evaluated_at=now),
            [{"iid": i.id, "rev": i.revision} for i in items],
        )


def rules_fired(
    session: Session, items: Sequence[StoredItem], thesis: str | None = None
) -> dict[int, frozenset[str]]:
    """The rules (of ``thesis``; None: any) that fired on earlier texts of these items:
    ``{item id: rule ids}``. Rule ids are unique only within a thesis."""
    revised = {i.id: i.revision for i in items if i.revision > 1}
    fired: dict[int, set[str]] = {}
    ids = sorted(revised)
    for start in range(0, len(ids), CHUNK):
        query = select(signal_t.c.item_id, signal_t.c.rule_id, signal_t.c.revision).where(
            signal_t.c.item_id.in_(ids[start : start + CHUNK])
        )
        if thesis is not None:
            query = query.where(signal_t.c.thesis == thesis)
        rows = session.execute(query)
        for item_id, rule_id, revision in rows:
            if revision < revised[item_id]:
                fired.setdefault(item_id, set()).add(rule_id)
    return {k: frozenset(v) for k, v in fired.items()}


def save_signals(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        session.execute(insert(signal_t), list(rows))


def load_board(session: Session, thesis: str) -> tuple[dict[str, Any], str] | None:
    """The stored board and the rule-set version that last moved it; locked on PostgreSQL.

    The row lock makes evaluation one worker at a time, which the board needs: it is one value.
    """
    query = select(board_t.c.data, board_t.c.ruleset_version).where(board_t.c.thesis == thesis)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).first()
    return (dict(row[0]), row[1]) if row else None


def save_board(
    session: Session, thesis: str, version: str, data: Mapping[str, Any], now: datetime
) -> None:
    values = {"ruleset_version": version, "updated_at": now, "data": dict(data)}
    done = session.execute(update(board_t).where(board_t.c.thesis == thesis).values(**values))
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(board_t).values(thesis=thesis, **values))


def add_transition(
    session: Session,
    *,
    thesis: str,
    leg: str,
    old: str,
    new: str,
    at: datetime,
    reason: str,
    version: str,
    evidence: list[dict[str, Any]],
) -> int:
    return int(
        session.execute(
            insert(transition_t)
            .values(
                thesis=thesis,
                leg=leg,
                old_state=old,
                new_state=new,
                at=at,
                reason=reason[:500],
                ruleset_version=version,
                evidence=evidence,
            )
            .returning(transition_t.c.id)
        ).scalar_one()
    )


def items_by_ids(session: Session, ids: Sequence[int]) -> dict[int, StoredItem]:
    if not ids:
        return {}
    rows = session.execute(select(*_COLUMNS).where(item_t.c.id.in_(list(ids))))
    return {row[0]: StoredItem(*row) for row in rows}
