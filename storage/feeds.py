"""Feed rows: syncing them with the configuration, their fetch state and their health."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, or_, select, text, update
from sqlmodel import Session

from storage.feed_outcomes import record_outcomes
from storage.models import feed_config_t, feed_t, item_t, sighting_t
from storage.records import FeedDef, FeedHealth, FeedState

__all__ = [
    "active_feeds",
    "claim_due",
    "claim_feed",
    "feed_health",
    "feed_state",
    "mark_seen",
    "record_failure",
    "record_success",
    "scheduled_ids",
    "sync_feeds",
    "synced_digest",
]

SYNC_LOCK = 0x74_68_65_73_69_66


def sync_feeds(session: Session, defs: Iterable[FeedDef], *, deactivate_others: bool) -> list[int]:
    """Insert or update feeds by name; return their ids in the order given.

    A changed URL forgets the old conditional-GET state: its ETag means nothing to a new server.
    """
    defs = list(defs)
    if session.get_bind().dialect.name == "postgresql":
        # Workers starting together sync one at a time; the others find the rows in place.
        # The lock comes first: a row lock taken before it (the digest's delete) deadlocked two
        # workers starting together, one holding the row and waiting here, one the reverse.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SYNC_LOCK})
    # Whoever synced last, the digest of a feeds file no longer says what the rows hold.
    session.execute(delete(feed_config_t))
    existing = (
        {
            row.name: row
            for row in session.execute(
                select(feed_t.c.id, feed_t.c.name, feed_t.c.url).where(
                    feed_t.c.name.in_([d.name for d in defs])
                )
            )
        }
        if defs
        else {}
    )
    ids: list[int] = []
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for d in defs:
        values: dict[str, Any] = {
            "url": d.url,
            "tier": d.tier,
            "interval_s": d.interval_s,
            "min_interval_s": d.min_interval_s,
            "max_interval_s": d.max_interval_s,
            "topics": list(d.topics),
            "active": True,
        }
        row = existing.get(d.name)
        if row is None:
            inserts.append({"name": d.name, **values})
            ids.append(-len(inserts))  # filled in below
            continue
        if row.url != d.url:
            # A new server: its ETag means nothing here, and its pace is learnt afresh.
            session.execute(
                update(feed_t)
                .where(feed_t.c.id == row.id)
                .values(etag=None, last_modified=None, body_hash=None, poll_interval_s=None)
            )
        updates.append({"_id": row.id, **values})
        ids.append(int(row.id))
    if inserts:
        zero = {"consecutive_failures": 0, "failures_total": 0, "polls_total": 0}
        new_ids = session.scalars(
            insert(feed_t).returning(feed_t.c.id, sort_by_parameter_order=True),
            [zero | row for row in inserts],
        ).all()
        ids = [int(new_ids[-i - 1]) if i < 0 else i for i in ids]
    if updates:
        # One executemany: start-up stays quick with thousands of feeds.
        session.execute(
            update(feed_t)
            .where(feed_t.c.id == bindparam("_id"))
            .values({k: bindparam(k) for k in updates[0] if k != "_id"}),
            updates,
        )
    if deactivate_others:
        session.execute(update(feed_t).where(feed_t.c.id.not_in(ids)).values(active=False))
    return ids


def feed_state(session: Session, feed_id: int) -> FeedState:
    return _state(session.execute(select(feed_t).where(feed_t.c.id == feed_id)).one())


def _state(row: Row[Any]) -> FeedState:
    return FeedState(
        id=row.id,
        name=row.name,
        url=row.url,
        tier=row.tier,
        interval_s=row.interval_s,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        consecutive_failures=row.consecutive_failures,
        next_poll_at=row.next_poll_at,
        min_interval_s=row.min_interval_s,
        max_interval_s=row.max_interval_s,
        poll_interval_s=row.poll_interval_s,
    )


def record_success(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    next_poll_at: datetime,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    poll_interval_s: int | None = None,
) -> None:
    """One poll's success: the batch write with one row (storage/feed_outcomes.py)."""
    row = {
        "feed_id": feed_id,
        "now": now,
        "next_poll_at": next_poll_at,
        "etag": etag,
        "last_modified": last_modified,
        "body_hash": body_hash,
        "poll_interval_s": poll_interval_s,
    }
    record_outcomes(session, [row], [])


def claim_feed(
    session: Session, feed_id: int, *, owner: str, now: datetime, lease: timedelta, early: timedelta
) -> bool:
    """Take the feed's poll for ``owner`` if it is due (within ``early``) and nobody holds it.

    One conditional UPDATE: on PostgreSQL a second worker racing for the same row re-checks the
    condition after the first commits and finds the lease taken; an expired lease (a worker that
    died mid-poll) is simply taken over. ``owner``'s own lease is no obstacle: it is left over
    from a poll whose end the database refused to record (a full disk), and a worker polls a
    feed once at a time.
    """
    done = session.execute(
        update(feed_t)
        .where(
            feed_t.c.id == feed_id,
            feed_t.c.active.is_(True),
            or_(
                feed_t.c.lease_until.is_(None),
                feed_t.c.lease_until < now,
                feed_t.c.lease_owner == owner,
            ),
            or_(feed_t.c.next_poll_at.is_(None), feed_t.c.next_poll_at <= now + early),
        )
        .values(lease_owner=owner, lease_until=now + lease)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def claim_due(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    exclude: Iterable[int] = (),
) -> list[FeedState]:
    """Lease up to ``limit`` scheduled feeds that are due, most overdue first.

    One statement: on PostgreSQL the candidates are locked with SKIP LOCKED, so workers
    claiming at the same moment take different feeds and never wait for each other; a lease
    left by a dead worker is taken over once expired. ``exclude``: this worker's polls still
    running (its own leases are otherwise no obstacle, see :func:`claim_feed`).
    """
    due = (
        select(feed_t.c.id)
        .where(
            feed_t.c.active.is_(True),
            feed_t.c.interval_s > 0,
            or_(feed_t.c.next_poll_at.is_(None), feed_t.c.next_poll_at <= now),
            or_(
                feed_t.c.lease_until.is_(None),
                feed_t.c.lease_until < now,
                feed_t.c.lease_owner == owner,
            ),
        )
        .order_by(feed_t.c.next_poll_at.asc().nulls_first(), feed_t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    skip = list(exclude)
    if skip:
        due = due.where(feed_t.c.id.not_in(skip))
    rows = session.execute(
        update(feed_t)
        .where(feed_t.c.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=now + lease)
        .returning(*feed_t.c)
    )
    states = [_state(row) for row in rows]
    states.sort(key=lambda s: (s.next_poll_at is not None, s.next_poll_at or now, s.id))
    return states


def record_failure(
    session: Session, feed_id: int, *, now: datetime, reason: str, next_poll_at: datetime
) -> None:
    """One poll's failure: the batch write with one row (storage/feed_outcomes.py)."""
    row = {"feed_id": feed_id, "now": now, "reason": reason, "next_poll_at": next_poll_at}
    record_outcomes(session, [], [row])


def feed_health(session: Session, *, include_inactive: bool = False) -> list[FeedHealth]:
    """Every feed's health with the number of items it has carried."""
    counts = (
        select(sighting_t.c.feed_id, func.count().label("n_items"))
        .group_by(sighting_t.c.feed_id)
        .subquery()
    )
    query = (
        select(feed_t, func.coalesce(counts.c.n_items, 0).label("items"))
        .outerjoin(counts, counts.c.feed_id == feed_t.c.id)
        .order_by(feed_t.c.name)
    )
    if not include_inactive:
        query = query.where(feed_t.c.active.is_(True))
    return [
        FeedHealth(
            name=r.name,
            url=r.url,
            tier=r.tier,
            active=r.active,
            last_success_at=r.last_success_at,
            last_error=r.last_error,
            last_error_at=r.last_error_at,
            consecutive_failures=r.consecutive_failures,
            failures_total=r.failures_total,
            polls_total=r.polls_total,
            next_poll_at=r.next_poll_at,
            items=r.items,
        )
        for r in session.execute(query)
    ]


def active_feeds(session: Session) -> list[FeedState]:
    """Configured feeds (not files given to ``ingest``), in name order."""
    rows = session.execute(
        select(feed_t)
        .where(feed_t.c.active.is_(True), feed_t.c.interval_s > 0)
        .order_by(feed_t.c.name)
    )
    return [_state(row) for row in rows]


def mark_seen(
    session: Session, item_ids: Iterable[int], hashes: Iterable[str], now: datetime
) -> int:
    """Items of a feed's undated archive, read at its first poll: stored, never evaluated.

    Timed by when first seen, they would all look like news of this minute; what a feed held
    before we first read it is history, like any dated archive (old news never alerts).
    """
    ids, keys = list(item_ids), list(hashes)
    if not ids or not keys:
        return 0
    done = session.execute(
        update(item_t)
        .where(
            item_t.c.id.in_(ids),
            item_t.c.content_hash.in_(keys),
            item_t.c.evaluated_at.is_(None),
        )
        .values(evaluated_at=now)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def synced_digest(session: Session, digest: str | None = None) -> str | None:
    """The digest of the feeds file last synced; with ``digest``, record that one instead."""
    if digest is None:
        return session.scalar(select(feed_config_t.c.digest).where(feed_config_t.c.id == 1))
    session.execute(delete(feed_config_t))
    now = datetime.now(UTC)
    session.execute(insert(feed_config_t).values(id=1, digest=digest, synced_at=now))
    return digest


def scheduled_ids(session: Session) -> list[int]:
    """Ids of the configured feeds (active, on a schedule), in name order."""
    query = select(feed_t.c.id).where(feed_t.c.active.is_(True), feed_t.c.interval_s > 0)
    return [int(i) for i in session.scalars(query.order_by(feed_t.c.name))]
