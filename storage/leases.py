"""Leases across tables: who holds what, and letting go of a dead worker's claims."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import Session

from storage.models import delivery_t, feed_t

__all__ = ["lease_owners", "release_ids", "release_owner"]


def lease_owners(session: Session) -> set[str]:
    owners: set[str] = set()
    for table in (feed_t, delivery_t):
        rows = session.execute(
            select(table.c.lease_owner).where(table.c.lease_owner.is_not(None)).distinct()
        )
        owners.update(o for o in rows.scalars() if o)
    return owners


def release_owner(session: Session, owner: str) -> int:
    """Clear every lease ``owner`` holds (it is known to be dead)."""
    released = 0
    for table in (feed_t, delivery_t):
        done = session.execute(
            update(table)
            .where(table.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        released += int(done.rowcount)  # type: ignore[attr-defined]
    return released


def release_ids(session: Session, delivery_ids: list[int]) -> None:
    """Give back deliveries claimed but not attempted (their chat had to stop)."""
    if delivery_ids:
        session.execute(
            update(delivery_t)
            .where(delivery_t.c.id.in_(delivery_ids), delivery_t.c.status == "pending")
            .values(lease_owner=None, lease_until=None)
        )
