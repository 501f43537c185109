"""Pruning old rows: items and deliveries past their age, never the evidence still in use."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlmodel import Session

from storage.models import (
    alert_t,
    delivery_t,
    item_revision_t,
    item_t,
    sighting_t,
    signal_t,
    story_t,
)

__all__ = ["Pruned", "prune"]

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Pruned:
    items: int = 0
    deliveries: int = 0
    stories: int = 0
    pending: int = 0  # of ``deliveries``: never delivered, their alert past its age


def prune(session: Session, *, before: datetime, keep_items: Collection[int]) -> Pruned:
    """Delete deliveries of alerts created before ``before`` and items first seen before it.

    Deliveries go whatever their status: one still pending that long (a chat unreachable for
    the whole retention period) will never be worth sending. Kept: items the rules have not
    evaluated yet, and ``keep_items`` (the evidence behind the current leg states). Alerts
    stay: their payload is the record of what was said and why.
    """
    old_alerts = select(alert_t.c.id).where(alert_t.c.created_at < before)
    pending = session.execute(
        delete(delivery_t).where(
            delivery_t.c.status == "pending", delivery_t.c.alert_id.in_(old_alerts)
        )
    ).rowcount  # type: ignore[attr-defined]
    settled = session.execute(
        delete(delivery_t).where(delivery_t.c.alert_id.in_(old_alerts))
    ).rowcount  # type: ignore[attr-defined]
    keep = set(keep_items)
    old = [
        i
        for i in session.execute(
            select(item_t.c.id).where(
                item_t.c.first_seen_at < before, item_t.c.evaluated_at.is_not(None)
            )
        ).scalars()
        if i not in keep
    ]
    for start in range(0, len(old), CHUNK):
        part = old[start : start + CHUNK]
        session.execute(delete(signal_t).where(signal_t.c.item_id.in_(part)))
        session.execute(delete(sighting_t).where(sighting_t.c.item_id.in_(part)))
        session.execute(delete(item_revision_t).where(item_revision_t.c.item_id.in_(part)))
        session.execute(delete(item_t).where(item_t.c.id.in_(part)))
    orphan = ~exists().where(item_t.c.story_id == story_t.c.id)
    session.execute(
        update(alert_t)
        .where(alert_t.c.story_id.in_(select(story_t.c.id).where(orphan)))
        .values(story_id=None)
    )
    stories = session.execute(delete(story_t).where(orphan)).rowcount  # type: ignore[attr-defined]
    return Pruned(
        items=len(old),
        deliveries=int(pending) + int(settled),
        stories=int(stories),
        pending=int(pending),
    )
