"""What happened and when, read back for people: the ledger, signals and feed activity.

Read-only queries behind /status, /why, /chart and the digest. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from storage.models import (
    board_t,
    feed_t,
    item_t,
    sighting_t,
    signal_t,
    transition_t,
)

__all__ = [
    "Move",
    "board_updated_at",
    "first_seen_at",
    "last_moves",
    "last_signal_times",
    "latest_sightings",
    "moves_between",
]


@dataclass(frozen=True, slots=True)
class Move:
    """One row of the ledger: a leg changing state at ``at`` (the news's publication time)."""

    at: datetime
    leg: str
    old: str
    new: str
    reason: str


def last_moves(session: Session) -> dict[str, Move]:
    """Each leg's latest move in the ledger; a leg that never moved is absent."""
    latest = (
        select(transition_t.c.leg, func.max(transition_t.c.id).label("id"))
        .group_by(transition_t.c.leg)
        .subquery()
    )
    rows = session.execute(
        select(
            transition_t.c.at,
            transition_t.c.leg,
            transition_t.c.old_state,
            transition_t.c.new_state,
            transition_t.c.reason,
        ).join(latest, latest.c.id == transition_t.c.id)
    )
    return {row.leg: Move(*row) for row in rows}


def moves_between(session: Session, since: datetime | None, until: datetime) -> list[Move]:
    """The ledger from ``since`` (everything when None) to ``until``, oldest first."""
    query = select(
        transition_t.c.at,
        transition_t.c.leg,
        transition_t.c.old_state,
        transition_t.c.new_state,
        transition_t.c.reason,
    ).where(transition_t.c.at <= until)
    if since is not None:
        query = query.where(transition_t.c.at > since)
    return [
        Move(*row) for row in session.execute(query.order_by(transition_t.c.at, transition_t.c.id))
    ]


def last_signal_times(session: Session) -> dict[str, datetime]:
    """Per leg, the publication time of the newest item any rule matched for it."""
    rows = session.execute(
        select(signal_t.c.leg, func.max(item_t.c.published_at))
        .join(item_t, item_t.c.id == signal_t.c.item_id)
        .group_by(signal_t.c.leg)
    )
    return {leg: at for leg, at in rows if at is not None}


def board_updated_at(session: Session, thesis: str) -> datetime | None:
    """When the board was last advanced (evaluated), None if never."""
    found = session.execute(select(board_t.c.updated_at).where(board_t.c.thesis == thesis)).first()
    return found[0] if found else None


def first_seen_at(session: Session) -> datetime | None:
    """When the first stored item was read: before then there is no data, only silence."""
    found: datetime | None = session.scalar(select(func.min(item_t.c.first_seen_at)))
    return found


def latest_sightings(session: Session) -> dict[str, datetime]:
    """Per active feed (by name), when it last brought an item we had not seen from it."""
    rows = session.execute(
        select(feed_t.c.name, func.max(sighting_t.c.seen_at))
        .join(sighting_t, sighting_t.c.feed_id == feed_t.c.id)
        .where(feed_t.c.active.is_(True))
        .group_by(feed_t.c.name)
    )
    return {name: at for name, at in rows if at is not None}
