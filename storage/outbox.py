"""The alert outbox and its deliveries: nothing is marked sent before the target took it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlmodel import Session

from storage.models import alert_t, delivery_t
from storage.notify import notify_outbox

__all__ = [
    "PendingDelivery",
    "StoredAlert",
    "add_alert",
    "alert_by_id",
    "claim_push",
    "delivery_counts",
    "due_deliveries",
    "fail_target",
    "join_push",
    "last_of_kind",
    "mark_failed",
    "mark_progress",
    "mark_retry",
    "mark_sent",
    "recent_alerts",
    "story_alerted",
]


# Longer than one pass can spend on a chat (a group gets 20 messages a minute).
DELIVERY_LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    id: int
    kind: str
    leg: str
    severity: str
    old_state: str | None
    new_state: str | None
    confirmed: bool
    created_at: datetime
    payload: dict[str, Any]
    push_id: int | None = None  # shared by the alerts one story raised in one step


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    id: int
    target: str
    attempts: int
    parts_sent: int
    alert: StoredAlert


_ALERT = (
    alert_t.c.id,
    alert_t.c.kind,
    alert_t.c.leg,
    alert_t.c.severity,
    alert_t.c.old_state,
    alert_t.c.new_state,
    alert_t.c.confirmed,
    alert_t.c.created_at,
    alert_t.c.payload,
    alert_t.c.push_id,
)


def add_alert(
    session: Session,
    *,
    kind: str,
    leg: str,
    severity: str,
    old_state: str | None,
    new_state: str | None,
    confirmed: bool,
    created_at: datetime,
    payload: dict[str, Any],
    targets: Sequence[str],
    story_id: int | None = None,
    transition_id: int | None = None,
    thesis: str = "",
) -> int:
    """Write an alert and one pending delivery per target, in the caller's transaction."""
    alert_id = int(
        session.execute(
            insert(alert_t)
            .values(
                kind=kind,
                thesis=thesis,
                leg=leg,
                severity=severity,
                old_state=old_state,
                new_state=new_state,
                confirmed=confirmed,
                story_id=story_id,
                transition_id=transition_id,
                created_at=created_at,
                payload=payload,
            )
            .returning(alert_t.c.id)
        ).scalar_one()
    )
    if targets:
        session.execute(
            insert(delivery_t),
            [
                {
                    "alert_id": alert_id,
                    "target": target,
                    "status": "pending",
                    "attempts": 0,
                    "parts_sent": 0,
                    "next_attempt_at": created_at,
                }
                for target in targets
            ],
        )
        notify_outbox(session)  # PostgreSQL: listeners wake when this transaction commits
    return alert_id


def join_push(session: Session, alert_ids: Sequence[int]) -> None:
    """These alerts (written in this transaction, by one story) go out as one push per chat."""
    if len(alert_ids) > 1:
        session.execute(
            update(alert_t).where(alert_t.c.id.in_(list(alert_ids))).values(push_id=min(alert_ids))
        )


def claim_push(
    session: Session,
    head: PendingDelivery,
    *,
    now: datetime,
    owner: str = "",
    lease: timedelta = DELIVERY_LEASE,
) -> list[PendingDelivery]:
    """The other pending deliveries to ``head``'s target of alerts in its push, claimed.

    They queue right behind ``head`` (one transaction wrote them), so no other worker can hold
    them while ``head`` is ours: an earlier delivery leased or backing off blocks its target.
    """
    if head.alert.push_id is None:
        return []
    rows = session.execute(
        select(
            delivery_t.c.id,
            delivery_t.c.target,
            delivery_t.c.attempts,
            delivery_t.c.parts_sent,
            *_ALERT,
        )
        .join(alert_t, alert_t.c.id == delivery_t.c.alert_id)
        .where(
            alert_t.c.push_id == head.alert.push_id,
            delivery_t.c.target == head.target,
            delivery_t.c.status == "pending",
            delivery_t.c.id != head.id,
        )
        .order_by(delivery_t.c.alert_id)
    ).all()
    mates = [PendingDelivery(r[0], r[1], r[2], r[3], StoredAlert(*r[4:])) for r in rows]
    if mates:
        session.execute(
            update(delivery_t)
            .where(delivery_t.c.id.in_([m.id for m in mates]))
            .values(lease_owner=owner[:100] or None, lease_until=now + lease)
        )
    return mates


def due_deliveries(
    session: Session,
    *,
    target_prefix: str,
    now: datetime,
    limit: int = 50,
    owner: str = "",
    lease: timedelta = DELIVERY_LEASE,
    exclude_targets: Collection[str] = (),
    per_target: int | None = None,
) -> list[PendingDelivery]:
    """Claim pending deliveries whose time has come, oldest alert first, for ``owner``.

    A delivery waits while an older one to the same target is backing off (after a 429, say)
    or is held by another worker: each chat gets its alerts in order. The claim is a lease, so
    a worker that dies mid-send leaves its deliveries to the others once the lease expires.
    ``exclude_targets`` are chats this worker is sending to already; ``per_target`` caps what
    one chat takes of the batch, so a long queue for one chat leaves room for the others.
    """
    earlier = delivery_t.alias("earlier")
    blocked = (
        select(earlier.c.id)
        .where(
            earlier.c.target == delivery_t.c.target,
            earlier.c.status == "pending",
            earlier.c.alert_id < delivery_t.c.alert_id,
            # due, unheld ones come first in this same batch
            or_(earlier.c.next_attempt_at > now, earlier.c.lease_until > now),
        )
        .exists()
    )
    query = (
        select(
            delivery_t.c.id,
            delivery_t.c.target,
            delivery_t.c.attempts,
            delivery_t.c.parts_sent,
            *_ALERT,
        )
        .join(alert_t, alert_t.c.id == delivery_t.c.alert_id)
        .where(
            delivery_t.c.status == "pending",
            delivery_t.c.next_attempt_at <= now,
            delivery_t.c.target.startswith(target_prefix),
            or_(delivery_t.c.lease_until.is_(None), delivery_t.c.lease_until <= now),
            ~blocked,
        )
        .order_by(delivery_t.c.alert_id, delivery_t.c.id)
        .limit(limit)
    )
    if exclude_targets:
        query = query.where(delivery_t.c.target.not_in(list(exclude_targets)))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        query = query.with_for_update(of=delivery_t, skip_locked=True)
    due: list[PendingDelivery] = []
    taken: dict[str, int] = {}
    for row in session.execute(query):
        n = taken.get(row[1], 0)
        if per_target is None or n < per_target:
            taken[row[1]] = n + 1
            due.append(PendingDelivery(row[0], row[1], row[2], row[3], StoredAlert(*row[4:])))
    if postgres and due:
        due = _heads_only(session, due)
    if due:
        session.execute(
            update(delivery_t)
            .where(delivery_t.c.id.in_([d.id for d in due]))
            .values(lease_owner=owner[:100] or None, lease_until=now + lease)
        )
    return due


def _heads_only(session: Session, due: list[PendingDelivery]) -> list[PendingDelivery]:
    """Drop targets whose oldest pending delivery is not ours.

    SKIP LOCKED passes over rows another worker is claiming at this very moment, and the
    ``blocked`` test cannot see a lease that is not committed yet: without this check two
    workers could split one chat's queue between them and send it out of order.
    """
    first: dict[str, int] = {}
    for d in due:
        first.setdefault(d.target, d.alert.id)
    heads = dict(
        session.execute(
            select(delivery_t.c.target, func.min(delivery_t.c.alert_id))
            .where(delivery_t.c.status == "pending", delivery_t.c.target.in_(list(first)))
            .group_by(delivery_t.c.target)
        ).all()
    )
    return [d for d in due if heads.get(d.target) == first[d.target]]


def mark_progress(session: Session, delivery_id: int, parts_sent: int) -> None:
    """Parts of a long alert already accepted, so a retry does not send them twice."""
    session.execute(
        update(delivery_t).where(delivery_t.c.id == delivery_id).values(parts_sent=parts_sent)
    )


def mark_sent(session: Session, delivery_id: int, now: datetime) -> None:
    """Recorded once Telegram took it; a repeat (a retried write) changes nothing."""
    session.execute(
        update(delivery_t)
        .where(delivery_t.c.id == delivery_id, delivery_t.c.status == "pending")
        .values(
            status="sent",
            sent_at=now,
            attempts=delivery_t.c.attempts + 1,
            last_error=None,
            lease_owner=None,
            lease_until=None,
        )
    )


def mark_retry(
    session: Session, delivery_id: int, *, next_attempt_at: datetime, error: str
) -> None:
    session.execute(
        update(delivery_t)
        .where(delivery_t.c.id == delivery_id)
        .values(
            attempts=delivery_t.c.attempts + 1,
            next_attempt_at=next_attempt_at,
            last_error=error[:500],
            lease_owner=None,
            lease_until=None,
        )
    )


def mark_failed(session: Session, delivery_id: int, *, error: str) -> None:
    session.execute(
        update(delivery_t)
        .where(delivery_t.c.id == delivery_id)
        .values(
            status="failed",
            attempts=delivery_t.c.attempts + 1,
            last_error=error[:500],
            lease_owner=None,
            lease_until=None,
        )
    )


def recent_alerts(
    session: Session, limit: int = 10, kinds: Collection[str] = ("transition", "early")
) -> list[StoredAlert]:
    """The newest alerts about the thesis (not the admins' notices, unless ``kinds`` says)."""
    rows = session.execute(
        select(*_ALERT)
        .where(alert_t.c.kind.in_(list(kinds)))
        .order_by(alert_t.c.id.desc())
        .limit(limit)
    )
    return [StoredAlert(*row) for row in rows]


def last_of_kind(session: Session, kind: str) -> StoredAlert | None:
    row = session.execute(
        select(*_ALERT).where(alert_t.c.kind == kind).order_by(alert_t.c.id.desc()).limit(1)
    ).first()
    return StoredAlert(*row) if row else None


def alert_by_id(session: Session, alert_id: int) -> StoredAlert | None:
    row = session.execute(select(*_ALERT).where(alert_t.c.id == alert_id)).first()
    return StoredAlert(*row) if row else None


def delivery_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(delivery_t.c.status, func.count()).group_by(delivery_t.c.status))
    return {status: int(n) for status, n in rows}


def story_alerted(
    session: Session, *, story_id: int, leg: str, kind: str = "early", thesis: str | None = None
) -> bool:
    """Whether this story already raised this kind of alert on this leg (of ``thesis``; None:
    any) -- one per story."""
    query = select(alert_t.c.id).where(
        alert_t.c.story_id == story_id, alert_t.c.leg == leg, alert_t.c.kind == kind
    )
    if thesis is not None:
        query = query.where(alert_t.c.thesis == thesis)
    found = session.execute(query.limit(1)).first()
    return found is not None


def fail_target(session: Session, target: str, *, error: str) -> int:
    """Every pending delivery to a target that can never be reached again."""
    done = session.execute(
        update(delivery_t)
        .where(delivery_t.c.target == target, delivery_t.c.status == "pending")
        .values(status="failed", last_error=error[:500])
    )
    return int(done.rowcount)  # type: ignore[attr-defined]
