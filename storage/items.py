"""The batched upsert of one feed's entries: items stored once, sightings per feed, stories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from storage.models import item_t, sighting_t, story_t
from storage.records import NewEntry, StoreResult
from storage.revisions import feed_sightings, revise, text_hash
from storage.stories import WINDOW, StoryIndex, best_story

__all__ = ["StoryCache", "store_entries"]

# Stays under SQLite's bound-parameter limit on old builds and keeps IN lists cheap to plan.
CHUNK = 500
# How many recent stories the cache holds at most after a rebuild.
MAX_CANDIDATES = 20_000
# A long-running cache is rebuilt this often, which drops stories that left the window.
REBUILD_EVERY = timedelta(hours=6)

T = TypeVar("T")


def _chunks(seq: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(seq), CHUNK):
        yield seq[start : start + CHUNK]


def _lookup(session: Session, column: Any, values: Sequence[Any], key: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for part in _chunks(values):
        rows = session.execute(select(column, key).where(column.in_(part)))
        out.update((row[0], row[1]) for row in rows)
    return out


class StoryCache:
    """Recent stories kept in memory between batches; the database stays the truth.

    Each batch reads only the stories created since the last one (by any worker), so placing
    two new entries does not reload thousands of stories. Stories this batch creates are not
    added here: the next batch reads them back once committed, so a rolled-back batch leaves
    nothing behind.
    """

    def __init__(self) -> None:
        self.index = StoryIndex()
        self._lo: datetime | None = None
        self._hi: datetime | None = None
        self._built: datetime | None = None

    def index_for(self, session: Session, lo: datetime, hi: datetime, now: datetime) -> StoryIndex:
        lo, hi = lo - WINDOW, hi + WINDOW
        stale = self._built is None or now - self._built > REBUILD_EVERY
        if stale or self._lo is None or self._hi is None or lo < self._lo or hi > self._hi:
            self.index = StoryIndex()
            self._lo, self._hi, self._built = lo, max(hi, now + WINDOW), now
            self._load(session, since_id=0)
        else:
            self._load(session, since_id=self.index.max_id)
        return self.index

    def _load(self, session: Session, since_id: int) -> None:
        rows = session.execute(
            select(story_t.c.id, story_t.c.title_sig, story_t.c.last_published_at)
            .where(
                story_t.c.id > since_id,
                story_t.c.last_published_at >= self._lo,
                story_t.c.first_published_at <= self._hi,
            )
            .order_by(story_t.c.id.desc())
            .limit(MAX_CANDIDATES)
        )
        for story_id, sig, published in rows:
            self.index.add(story_id, sig, published)


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

    by_url = _lookup(session, item_t.c.url, [e.url for e in fresh if e.url], item_t.c.id)
    by_hash = _lookup(session, item_t.c.content_hash, [e.content_hash for e in fresh], item_t.c.id)
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
        story_ids, new_stories = _assign_stories(session, created, now, stories)
        session.execute(
            insert(item_t),
            [
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
                for i, e in enumerate(created)
            ],
        )
        # One executemany and one read back: SQLite would run RETURNING row by row.
        new_ids = _lookup(session, item_t.c.content_hash, list(to_create), item_t.c.id)
    for key, content in item_hash.items():
        item_of[key] = new_ids[content]

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
                "text_hash": hashes[e.entry_key],
            }
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
    session: Session, entries: Sequence[NewEntry], now: datetime, cache: StoryCache | None
) -> tuple[list[int], int]:
    """Story ids for new items: an existing recent story, or one created in one batch."""
    lo = min(e.published_at for e in entries)
    hi = max(e.published_at for e in entries)
    known = (cache or StoryCache()).index_for(session, lo, hi, now)
    # New stories get provisional negative ids so later entries of this batch can join them.
    batch = StoryIndex()
    founders: list[NewEntry] = []
    assigned: list[int] = []
    spans: dict[int, tuple[datetime, datetime]] = {}
    for e in entries:
        story_id = best_story(e.title_sig, e.published_at, known, batch)
        if story_id is None:
            founders.append(e)
            story_id = -len(founders)
            batch.add(story_id, e.title_sig, e.published_at)
        first, last = spans.get(story_id, (e.published_at, e.published_at))
        spans[story_id] = (min(first, e.published_at), max(last, e.published_at))
        assigned.append(story_id)

    real: dict[int, int] = {}
    if founders:
        # A story's key is its founding item's content hash: unique, so ids can be read back.
        session.execute(
            insert(story_t),
            [
                {
                    "key": e.content_hash,
                    "title": e.title,
                    "title_sig": e.title_sig,
                    "first_published_at": spans[-(i + 1)][0],
                    "last_published_at": spans[-(i + 1)][1],
                    "created_at": now,
                }
                for i, e in enumerate(founders)
            ],
        )
        ids = _lookup(session, story_t.c.key, [e.content_hash for e in founders], story_t.c.id)
        real = {-(i + 1): ids[e.content_hash] for i, e in enumerate(founders)}
    _widen_spans(session, {sid: span for sid, span in spans.items() if sid > 0})
    return [real.get(sid, sid) for sid in assigned], len(founders)


def _widen_spans(session: Session, spans: dict[int, tuple[datetime, datetime]]) -> None:
    if not spans:
        return
    current = session.execute(
        select(story_t.c.id, story_t.c.first_published_at, story_t.c.last_published_at).where(
            story_t.c.id.in_(list(spans))
        )
    )
    updates = [
        {"sid": sid, "lo": min(spans[sid][0], first), "hi": max(spans[sid][1], last)}
        for sid, first, last in current
        if spans[sid][0] < first or spans[sid][1] > last
    ]
    if updates:
        session.execute(
            update(story_t)
            .where(story_t.c.id == bindparam("sid"))
            .values(first_published_at=bindparam("lo"), last_published_at=bindparam("hi")),
            updates,
        )
