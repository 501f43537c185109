"""The batched upsert of one feed's entries: items stored once, sightings per feed, stories.

A batch costs a fixed handful of statements whatever its size: one read of the feed's earlier
sightings, one of the items other feeds brought, multi-row inserts of stories, items and
sightings (ids come back from the insert itself), and one update of the stories it extends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, or_, select, update
from sqlmodel import Session

from storage.bulk import Bulk, Lookup, Many, one_of
from storage.models import item_t, sighting_t, story_t
from storage.records import NewEntry, StoreResult
from storage.revisions import feed_sightings, revise, text_hash
from storage.stories import day_of, micros
from storage.story_cache import StoryCache
from storage.types import UTCDateTime

__all__ = ["StoryCache", "store_entries"]

# Stays under SQLite's bound-parameter limit on old builds and keeps IN lists cheap to plan.
CHUNK = 500

# Statements are built once: building one costs more than running it on a batch.
_INSERT_ITEMS = Bulk(
    item_t,
    ("story_id", "feed_id", "tier", "publisher", "title", "summary", "url", "content_hash",
     "published_at", "first_seen_at"),
    returning=("id", "content_hash"),
)  # fmt: skip
_INSERT_STORIES = Bulk(
    story_t,
    ("key", "title", "title_sig", "first_published_at", "last_published_at", "created_at"),
    returning=("id", "key"),
)
_INSERT_SIGHTINGS = Bulk(
    sighting_t, ("item_id", "feed_id", "entry_key", "publisher", "url", "seen_at", "text_hash")
)
_LO = bindparam("lo", type_=UTCDateTime())
_HI = bindparam("hi", type_=UTCDateTime())
# A story's span only widens; rows it would not change are not written at all.
_WIDEN = Many(
    update(story_t)
    .where(
        story_t.c.id == bindparam("sid"),
        or_(story_t.c.first_published_at > _LO, story_t.c.last_published_at < _HI),
    )
    .values(
        first_published_at=case(
            (story_t.c.first_published_at > _LO, _LO), else_=story_t.c.first_published_at
        ),
        last_published_at=case(
            (story_t.c.last_published_at < _HI, _HI), else_=story_t.c.last_published_at
        ),
    )
)


_EXISTING = Lookup(
    *(
        select(item_t.c.id, item_t.c.url, item_t.c.content_hash).where(
            or_(one_of(item_t.c.url, "urls", pg), one_of(item_t.c.content_hash, "hashes", pg))
        )
        for pg in (False, True)
    )
)


def _existing(session: Session, fresh: Sequence[NewEntry]) -> tuple[dict[str, int], dict[str, int]]:
    """Items already stored under these entries' URLs or texts: (by URL, by content hash)."""
    by_url: dict[str, int] = {}
    by_hash: dict[str, int] = {}
    conn = session.connection()
    for start in range(0, len(fresh), CHUNK):
        part = fresh[start : start + CHUNK]
        params = {"urls": [e.url for e in part if e.url], "hashes": [e.content_hash for e in part]}
        for item_id, url, content in _EXISTING.run(conn, params):
            if url is not None:
                by_url[url] = item_id
            by_hash[content] = item_id
    return by_url, by_hash


def store_entries(
    session: Session,
    *,
    feed_id: int,
    tier: str,
    entries: Sequence[NewEntry],
    now: datetime,
    stories: StoryCache | None = None,
) -> StoreResult:
    """Upsert one feed's entries inside the caller's transaction.

    Entries this feed already carried are found with one query and skipped, unless the feed
    rewrote their text, which revises their item; an entry whose URL or content another feed
    brought becomes a new sighting of that item; the rest become items, grouped into an
    existing story when a recent headline says the same thing.
    """
    unique: dict[str, NewEntry] = {}
    for entry in entries:
        unique.setdefault(entry.entry_key, entry)
    hashes = {k: text_hash(e) for k, e in unique.items()}
    known = feed_sightings(session, feed_id, list(unique))
    rewritten = [
        (known[k], e) for k, e in unique.items() if k in known and known[k].text_hash != hashes[k]
    ]
    revised = revise(session, feed_id, rewritten, hashes, now)
    fresh = [e for k, e in unique.items() if k not in known]
    if not fresh:
        return StoreResult(
            entries=len(entries), revised_items=len(revised), revised_item_ids=revised
        )

    by_url, by_hash = _existing(session, fresh)
    # An entry is an existing item, a twin of one created in this batch, or a new item.
    to_create: dict[str, NewEntry] = {}  # content hash -> entry
    batch_urls: dict[str, str] = {}  # url -> content hash of the entry that creates it
    item_hash: dict[str, str] = {}  # entry key -> content hash of its item (new ones)
    item_of: dict[str, int] = {}  # entry key -> item id (existing ones)
    for e in fresh:
        existing = (by_url.get(e.url) if e.url else None) or by_hash.get(e.content_hash)
        if existing is not None:
            item_of[e.entry_key] = existing
            continue
        twin = (batch_urls.get(e.url) if e.url else None) or (
            e.content_hash if e.content_hash in to_create else None
        )
        if twin is None:
            to_create[e.content_hash] = e
            twin = e.content_hash
            if e.url:
                batch_urls[e.url] = twin
        item_hash[e.entry_key] = twin

    new_stories = 0
    new_ids: dict[str, int] = {}
    if to_create:
        created = list(to_create.values())
        story_ids, new_stories = _assign_stories(session, created, now, stories or StoryCache())
        rows = _INSERT_ITEMS.run(
            session.connection(),
            [
                (
                    story_ids[i],
                    feed_id,
                    tier,
                    e.publisher,
                    e.title,
                    e.summary,
                    e.url,
                    e.content_hash,
                    e.published_at,
                    now,
                )
                for i, e in enumerate(created)
            ],
        )
        new_ids = {content: item_id for item_id, content in rows}
    for key, content in item_hash.items():
        item_of[key] = new_ids[content]

    _INSERT_SIGHTINGS.run(
        session.connection(),
        [
            (
                item_of[e.entry_key],
                feed_id,
                e.entry_key,
                e.publisher,
                e.url,
                now,
                hashes[e.entry_key],
            )
            for e in fresh
        ],
    )
    return StoreResult(
        entries=len(entries),
        new_items=len(new_ids),
        new_sightings=len(fresh),
        new_stories=new_stories,
        new_item_ids=tuple(sorted(new_ids.values())),
        revised_items=len(revised),
        revised_item_ids=revised,
    )


def _assign_stories(
    session: Session, entries: Sequence[NewEntry], now: datetime, cache: StoryCache
) -> tuple[list[int], int]:
    """Story ids for new items: an existing recent story, or one created in one batch."""
    known = cache.index_for(session, {day_of(e.published_at) for e in entries}, now)
    # New stories go into the cache's index under provisional negative ids, so later entries
    # of this batch can join them (a tie goes to the stored story, the higher id); within the
    # batch every story keeps the span it had when the batch began. The cache drops them
    # again if the batch does not get as far as cache.founded, or is rolled back.
    founders: list[NewEntry] = []
    assigned: list[int] = []
    spans: dict[int, tuple[datetime, datetime]] = {}
    search = known.search
    for e in entries:
        head = known.headline(e.title_sig, e.published_at)
        hit = search(head)
        if hit is None:
            founders.append(e)
            story_id = -len(founders)
            known.add(story_id, e.title_sig, e.published_at, head=head)
        else:
            story_id = hit[1]
        first, last = spans.get(story_id, (e.published_at, e.published_at))
        spans[story_id] = (min(first, e.published_at), max(last, e.published_at))
        assigned.append(story_id)

    real: dict[int, int] = {}
    if founders:
        # A story's key is its founding item's content hash: unique, so ids map back by it.
        rows = _INSERT_STORIES.run(
            session.connection(),
            [
                (
                    e.content_hash,
                    e.title,
                    e.title_sig,
                    spans[-(i + 1)][0],
                    spans[-(i + 1)][1],
                    now,
                )
                for i, e in enumerate(founders)
            ],
        )
        ids = {key: story_id for story_id, key in rows}
        real = {-(i + 1): ids[e.content_hash] for i, e in enumerate(founders)}
        known.renumber(real)
    # The next batch checks these stories were committed.
    cache.founded({real[-(i + 1)]: e.title_sig for i, e in enumerate(founders)})
    # Only spans that grow, as far as the cache knows (the stored one is never narrower), in
    # id order so two workers extending the same stories lock them in the same order.
    widened: list[dict[str, Any]] = []
    for sid, (lo, hi) in sorted(spans.items()):
        if sid > 0:
            known_lo, known_hi = known.span(sid) or (math.inf, -math.inf)
            if micros(lo) < known_lo or micros(hi) > known_hi:
                widened.append({"sid": sid, "lo": lo, "hi": hi})
    if widened:
        _WIDEN.run(session.connection(), widened)
        cache.touched(w["sid"] for w in widened)
    return [real.get(sid, sid) for sid in assigned], len(founders)
