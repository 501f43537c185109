"""The delivery backlog after trouble: claims given back, stale runs collapsed, stalls measured.

The normal cycle (claim, send, mark) lives in :mod:`storage.outbox`; this is what a deliverer
needs when the database or the target was away: its own leases released once the database
answers again, deliveries deferred by an outage brought forward once the target answers, a
run of alerts too old to send one by one settled as one, and how long the backlog has waited.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlmodel import Session

from storage.models import alert_t, delivery_t
from storage.outbox import DELIVERY_LEASE

__all__ = [
    "Backlog",
    "StaleRun",
    "claim_stale",
    "delivery_backlog",
    "mark_collapsed",
    "release_claims",
    "resume_deferred",
]


def release_claims(
    session: Session, owner: str, *, until: datetime, keep: Collection[int] = ()
) -> int:
    """Give back the deliveries ``owner`` holds on leases ending by ``until``, but ``keep``.

    A pass that failed half-way (the database went away) could not release what it claimed;
    the owner's next pass does it, so the chats behind those claims wait seconds, not a lease.
    ``until`` (the failure's time plus a lease) spares claims made since, still in use.
    """
    query = update(delivery_t).where(
        delivery_t.c.lease_owner == owner[:100],
        delivery_t.c.status == "pending",
        delivery_t.c.lease_until <= until,
    )
    if keep:
        query = query.where(delivery_t.c.id.not_in(list(keep)))
    done = session.execute(query.values(lease_owner=None, lease_until=None))
    return int(done.rowcount)  # type: ignore[attr-defined]


def resume_deferred(session: Session, *, target_prefix: str, now: datetime, error: str) -> int:
    """Make due now the pending deliveries whose last error starts with ``error``.

    After an outage each delivery's own backoff says nothing about the target any more: once
    the target answers again they go at full rate. Deliveries deferred for another reason (a
    429's ``retry_after``) keep their time.
    """
    done = session.execute(
        update(delivery_t)
        .where(
            delivery_t.c.status == "pending",
            delivery_t.c.target.startswith(target_prefix),
            delivery_t.c.next_attempt_at > now,
            delivery_t.c.last_error.startswith(error),
        )
        .values(next_attempt_at=now)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StaleRun:
    """Pending deliveries to one target whose alerts are too old to send one by one."""

    ids: tuple[int, ...]
    alert_ids: tuple[int, ...]
    first: datetime
    last: datetime


def claim_stale(
    session: Session,
    *,
    target: str,
    before: datetime,
    owner: str,
    now: datetime,
    lease: timedelta = DELIVERY_LEASE,
) -> StaleRun | None:
    """Lease to ``owner`` every pending delivery to ``target`` of an alert created before
    ``before``, unless another worker holds it; None when there is none."""
    query = (
        select(delivery_t.c.id, alert_t.c.id, alert_t.c.created_at)
        .join(alert_t, alert_t.c.id == delivery_t.c.alert_id)
        .where(
            delivery_t.c.target == target,
            delivery_t.c.status == "pending",
            alert_t.c.created_at < before,
            or_(
                delivery_t.c.lease_until.is_(None),
                delivery_t.c.lease_until <= now,
                delivery_t.c.lease_owner == owner[:100],
            ),
        )
        .order_by(delivery_t.c.alert_id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=delivery_t, skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return None
    ids = tuple(r[0] for r in rows)
    session.execute(
        update(delivery_t)
        .where(delivery_t.c.id.in_(ids))
        .values(lease_owner=owner[:100] or None, lease_until=now + lease)
    )
    created = [r[2] for r in rows]
    return StaleRun(ids, tuple(r[1] for r in rows), min(created), max(created))


def mark_collapsed(session: Session, ids: Collection[int], now: datetime) -> int:
    """Settle deliveries that went out as one summary message instead of one by one."""
    done = session.execute(
        update(delivery_t)
        .where(delivery_t.c.id.in_(list(ids)), delivery_t.c.status == "pending")
        .values(
            status="collapsed",
            sent_at=now,
            attempts=delivery_t.c.attempts + 1,
            lease_owner=None,
            lease_until=None,
        )
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Backlog:
    """The oldest alert still waiting, and whether anything was sent since ``since``."""

    oldest_pending: datetime | None
    sent_since: bool


def delivery_backlog(session: Session, *, target_prefix: str, since: datetime) -> Backlog:
    """For the health check: the oldest pending alert, and whether anything was delivered
    after ``since`` (asked only when the oldest is older than that: it scans settled rows)."""
    oldest = session.execute(
        select(func.min(alert_t.c.created_at))
        .select_from(delivery_t)
        .join(alert_t, alert_t.c.id == delivery_t.c.alert_id)
        .where(delivery_t.c.status == "pending", delivery_t.c.target.startswith(target_prefix))
    ).scalar()
    if oldest is None:
        return Backlog(None, False)
    if oldest >= since:
        return Backlog(oldest, False)
    sent = session.execute(
        select(
            exists().where(
                delivery_t.c.sent_at >= since, delivery_t.c.target.startswith(target_prefix)
            )
        )
    ).scalar()
    return Backlog(oldest, bool(sent))
