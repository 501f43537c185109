"""The batched upsert of one feed's entries: items stored once, sightings per feed, stories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from storage.models import item_t, sighting_t, story_t
from storage.records import NewEntry, StoreResult
from storage.stories import WINDOW, StoryIndex

__all__ = ["store_entries"]

# Stays under SQLite's bound-parameter limit on old builds and keeps IN lists cheap to plan.
CHUNK = 500
# How many recent stories a batch is compared against.
MAX_CANDIDATES = 5000

T = TypeVar("T")


def _chunks(seq: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(seq), CHUNK):
        yield seq[start : start + CHUNK]


def _lookup(session: Session, column: Any, values: list[Any], key: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for part in _chunks(values):
        out.update(
            (row[0], row[1]) for row in session.execute(select(column, key).where(column.in_(part)))
        )
    return out


def _story_index(session: Session, entries: Sequence[NewEntry]) -> StoryIndex:
    lo = min(e.published_at for e in entries) - WINDOW
    hi = max(e.published_at for e in entries) + WINDOW
    rows = session.execute(
        select(story_t.c.id, story_t.c.title_sig, story_t.c.last_published_at)
        .where(story_t.c.last_published_at >= lo, story_t.c.first_published_at <= hi)
        .order_by(story_t.c.last_published_at.desc())
        .limit(MAX_CANDIDATES)
    )
    index = StoryIndex()
    for story_id, sig, published in rows:
        index.add(story_id, sig, published)
    return index


def store_entries(
    session: Session,
    *,
    feed_id: int,
    tier: str,
    entries: Sequence[NewEntry],
    now: datetime,
) -> StoreResult:
    """Upsert one feed's entries inside the caller's transaction.

    Entries this feed already carried are skipped with one query; an entry whose URL or content
    another feed brought becomes a new sighting of that item; the rest become items, grouped
    into an existing story when a recent headline says the same thing.
    """
    unique: dict[str, NewEntry] = {}
    for entry in entries:
        unique.setdefault(entry.entry_key, entry)
    known = _feed_keys(session, feed_id, list(unique))
    fresh = [e for k, e in unique.items() if k not in known]
    if not fresh:
        return StoreResult(entries=len(entries))

    by_url = _lookup(session, item_t.c.url, [e.url for e in fresh if e.url], item_t.c.id)
    by_hash = _lookup(session, item_t.c.content_hash, [e.content_hash for e in fresh], item_t.c.id)

    item_of: dict[str, int] = {}
    to_create: list[NewEntry] = []
    batch_urls: dict[str, NewEntry] = {}
    batch_hashes: dict[str, NewEntry] = {}
    for e in fresh:
        existing = (by_url.get(e.url) if e.url else None) or by_hash.get(e.content_hash)
        if existing is not None:
            item_of[e.entry_key] = existing
            continue
        twin = (batch_urls.get(e.url) if e.url else None) or batch_hashes.get(e.content_hash)
        if twin is not None:
            # Same item twice in one feed under two keys: one item, one sighting per key.
            item_of[e.entry_key] = -1  # resolved after insert
            continue
        to_create.append(e)
        if e.url:
            batch_urls[e.url] = e
        batch_hashes[e.content_hash] = e

    new_stories = 0
    new_ids: list[int] = []
    if to_create:
        story_ids, new_stories = _assign_stories(session, to_create, now)
        rows = [
            {
                "story_id": story_ids[i],
                "feed_id": feed_id,
                "tier": tier,
                "publisher": e.publisher,
                "title": e.title,
                "summary": e.summary,
                "url": e.url,
                "content_hash": e.content_hash,
                "published_at": e.published_at,
                "first_seen_at": now,
            }
            for i, e in enumerate(to_create)
        ]
        new_ids = list(
            session.scalars(
                insert(item_t).returning(item_t.c.id, sort_by_parameter_order=True), rows
            ).all()
        )
        for e, item_id in zip(to_create, new_ids, strict=True):
            item_of[e.entry_key] = item_id
    for e in fresh:
        if item_of.get(e.entry_key) == -1:
            twin = (batch_urls.get(e.url) if e.url else None) or batch_hashes[e.content_hash]
            item_of[e.entry_key] = item_of[twin.entry_key]

    session.execute(
        insert(sighting_t),
        [
            {
                "item_id": item_of[e.entry_key],
                "feed_id": feed_id,
                "entry_key": e.entry_key,
                "publisher": e.publisher,
                "url": e.url,
                "seen_at": now,
            }
            for e in fresh
        ],
    )
    return StoreResult(
        entries=len(entries),
        new_items=len(new_ids),
        new_sightings=len(fresh),
        new_stories=new_stories,
        new_item_ids=tuple(new_ids),
    )


def _feed_keys(session: Session, feed_id: int, keys: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in _chunks(keys):
        out.update(
            session.execute(
                select(sighting_t.c.entry_key, sighting_t.c.item_id).where(
                    sighting_t.c.feed_id == feed_id, sighting_t.c.entry_key.in_(part)
                )
            ).all()
        )
    return out


def _assign_stories(
    session: Session, entries: Sequence[NewEntry], now: datetime
) -> tuple[list[int], int]:
    """Story ids for new items: an existing recent story, or one created in one batch."""
    index = _story_index(session, entries)
    # New stories get provisional negative ids so later entries of this batch can join them.
    provisional: list[NewEntry] = []
    assigned: list[int] = []
    spans: dict[int, tuple[datetime, datetime]] = {}
    for e in entries:
        story_id = index.find(e.title_sig, e.published_at)
        if story_id is None:
            provisional.append(e)
            story_id = -len(provisional)
            index.add(story_id, e.title_sig, e.published_at)
        lo, hi = spans.get(story_id, (e.published_at, e.published_at))
        spans[story_id] = (min(lo, e.published_at), max(hi, e.published_at))
        assigned.append(story_id)

    real: dict[int, int] = {}
    if provisional:
        rows = [
            {
                "title": e.title,
                "title_sig": e.title_sig,
                "first_published_at": spans[-(i + 1)][0],
                "last_published_at": spans[-(i + 1)][1],
                "created_at": now,
            }
            for i, e in enumerate(provisional)
        ]
        ids = session.scalars(
            insert(story_t).returning(story_t.c.id, sort_by_parameter_order=True), rows
        ).all()
        real = {-(i + 1): story_id for i, story_id in enumerate(ids)}

    existing = [sid for sid in spans if sid > 0]
    if existing:
        current = session.execute(
            select(story_t.c.id, story_t.c.first_published_at, story_t.c.last_published_at).where(
                story_t.c.id.in_(existing)
            )
        )
        updates = []
        for sid, first, last in current:
            lo, hi = spans[sid]
            if lo < first or hi > last:
                updates.append({"sid": sid, "lo": min(lo, first), "hi": max(hi, last)})
        if updates:
            session.execute(
                update(story_t)
                .where(story_t.c.id == bindparam("sid"))
                .values(first_published_at=bindparam("lo"), last_published_at=bindparam("hi")),
                updates,
            )
    return [real.get(sid, sid) for sid in assigned], len(provisional)
