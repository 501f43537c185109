"""The storing half of ingest: ``store_entries`` alone, and ingest against a full database.

- upsert: pre-normalised entries (no feed parsing) through ``store_entries``, one transaction
  per feed as the poller does, into a fresh SQLite WAL file and, with THESISWATCH_BENCH_PG, into
  a scratch PostgreSQL database; then the same batches again (all already stored).
- stored: a cold ingest of the topical feeds into databases already holding N and 10 x N items
  with topical headlines: "history" spreads them at one rate over the past (10 x N items go 10 x
  further back, so the last days look the same), "dense" packs both into the last 14 days (10 x
  more stories share the window's words).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import Row, Samples, log, rate, ratio, rounds, timed
from feeds_gen import BASE_TIME, GenEntry, GenFeed, topical_headlines, write_feeds
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bot.feeds.ingest import ingest_paths
from bot.feeds.normalise import (
    SUMMARY_CHARS,
    TITLE_CHARS,
    canonical_url,
    content_hash,
    plain_text,
    short_hash,
    title_signature,
)
from storage.db import open_database
from storage.feeds import sync_feeds
from storage.items import StoryCache, store_entries
from storage.models import item_t, sighting_t, story_t
from storage.records import FeedDef, NewEntry

__all__ = [
    "StoredResult",
    "UpsertResult",
    "bench_stored",
    "bench_upsert",
    "new_entry",
    "scratch_pg_database",
    "stored_rows",
    "upsert_rows",
]


def new_entry(e: GenEntry, publisher: str) -> NewEntry:
    """What bot.feeds.parse makes of an entry, built straight from the generator's values."""
    title = plain_text(e.title, TITLE_CHARS)
    summary = plain_text(e.summary_html, SUMMARY_CHARS)
    return NewEntry(
        entry_key=short_hash("id", e.guid),
        url=canonical_url(e.link),
        content_hash=content_hash(title, summary, e.published),
        title=title,
        summary=summary,
        title_sig=title_signature(title),
        publisher=e.source[0] if e.source else publisher,
        published_at=e.published,
    )


# ---------------------------------------------------------------------------------------------
# upsert


@dataclass(slots=True)
class UpsertResult:
    backend: str
    corpus: str
    rows: int
    written: int = 0  # item + sighting + story rows the first pass inserted
    new: Samples = field(default_factory=Samples)
    known: Samples = field(default_factory=Samples)
    floor: Samples = field(default_factory=Samples)  # SQLite only: the rows alone
    notes: list[str] = field(default_factory=list)


def _store_all(engine: Engine, ids: list[int], batches: list[list[NewEntry]]) -> tuple[int, int]:
    now = datetime.now(UTC)
    items = stories = 0
    cache = StoryCache()  # as the poller keeps one across feeds
    for feed_id, entries in zip(ids, batches, strict=True):
        with Session(engine) as session, session.begin():
            result = store_entries(
                session, feed_id=feed_id, tier="press", entries=entries, now=now, stories=cache
            )
        items += result.new_items
        stories += result.new_stories
    return items, stories


def bench_upsert(
    backend: str,
    corpus: str,
    make_db: Callable[[int], Engine],
    batches: list[list[NewEntry]],
    n_rounds: int,
) -> UpsertResult:
    res = UpsertResult(backend=backend, corpus=corpus, rows=sum(map(len, batches)))
    for r in rounds(n_rounds, f"upsert {backend} {corpus}"):
        engine = make_db(r)
        defs = [
            FeedDef(f"upsert-{i}", f"https://x.invalid/{i}", "press", 300)
            for i in range(len(batches))
        ]
        with Session(engine) as session, session.begin():
            ids = sync_feeds(session, defs, deactivate_others=False)
        with timed(res.new):
            items, stories = _store_all(engine, ids, batches)
        with timed(res.known):
            again, _ = _store_all(engine, ids, batches)
        if engine.dialect.name == "sqlite":
            tables = _written(engine)
            target = make_db(r + n_rounds)
            _copy_feeds(engine, target)
            with timed(res.floor):
                _write_raw(target, tables)
            target.dispose()
        engine.dispose()
        res.written = items + res.rows + stories
        if r == 0:
            res.notes.append(
                f"upsert {backend} {corpus}: {res.rows} entries in {len(batches)} batches -> "
                f"{items} items, {res.rows} sightings, {stories} stories; second pass stored "
                f"{again} new items"
            )
    return res


def _written(engine: Engine) -> list[dict[str, list[tuple[Any, ...]]]]:
    """The story, item and sighting rows as stored (raw values), grouped by the feed's batch.

    A story goes with the batch that founded it: that of its earliest feed."""
    batches: dict[int, dict[str, list[tuple[Any, ...]]]] = {}
    with engine.connect() as conn:
        for table, feed in (
            ("story", "(SELECT min(feed_id) FROM item WHERE item.story_id = t.id)"),
            ("item", "t.feed_id"),
            ("sighting", "t.feed_id"),
        ):
            for row in conn.exec_driver_sql(f"SELECT {feed}, t.* FROM {table} t ORDER BY t.id"):  # noqa: S608
                batches.setdefault(row[0], {}).setdefault(table, []).append(tuple(row[1:]))
    return [batches[k] for k in sorted(batches)]


def _copy_feeds(source: Engine, target: Engine) -> None:
    with source.connect() as src, target.begin() as dst:
        feeds = src.exec_driver_sql("SELECT * FROM feed").all()
        marks = ", ".join("?" * len(feeds[0]))
        dst.exec_driver_sql(f"INSERT INTO feed VALUES ({marks})", [tuple(f) for f in feeds])  # noqa: S608


def _write_raw(engine: Engine, batches: list[dict[str, list[tuple[Any, ...]]]]) -> None:
    """SQLite's own cost of the same rows: executemany on the driver, a transaction a batch."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        for batch in batches:
            for table in ("story", "item", "sighting"):
                rows = batch.get(table)
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608
            conn.commit()
    finally:
        conn.close()


def upsert_rows(res: UpsertResult) -> list[Row]:
    label = f"store_entries {res.backend} {res.corpus}"
    new, new_cpu = res.new.median, res.new.median_cpu
    per_row = res.written / res.rows
    sqlite = res.backend.startswith("SQLite")
    # The target counts rows written (items + sightings + stories), the unit. SQLite
    # works in this process, so its rate per CPU second is the one the shared machine's load
    # does not halve; PostgreSQL works in its own processes: only wall time means anything.
    return [
        Row(
            name=f"{label}: new entries",
            value=f"{rate(res.rows, new)} entries",
            baseline=f"{rate(res.written, new)} rows ({per_row:.2f}/entry)",
            ratio="",
            cpu_ratio=(
                f"{rate(res.written, new_cpu)} rows, {rate(res.rows, new_cpu)} entries per CPU-s"
                if sqlite
                else ""
            ),
            target=">= 20,000 rows/s" if sqlite else "",
            ok=res.written / new_cpu >= 20_000 if sqlite else None,
        ),
        *(
            [
                Row(
                    name=f"{label}: new entries / the same rows by executemany",
                    value=f"{rate(res.written, new)} rows",
                    baseline=f"{rate(res.written, res.floor.median)} rows",
                    ratio=ratio(res.new, res.floor)[1],
                    cpu_ratio=ratio(res.new, res.floor, cpu=True)[1],
                )
            ]
            if res.floor.seconds
            else []
        ),
        Row(
            name=f"{label}: already stored",
            value=f"{rate(res.rows, res.known.median)} entries",
            baseline="",
            ratio="",
            cpu_ratio=f"{rate(res.rows, res.known.median_cpu)} per CPU-s" if sqlite else "",
        ),
    ]


@contextmanager
def scratch_pg_database(url: str) -> Iterator[Callable[[int], Engine]]:
    """``bench_<pid>_<n>`` databases on the server of ``url``, dropped afterwards (only they)."""
    base = make_url(url)
    if base.get_driver_name() in ("", "psycopg2"):
        base = base.set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make_db(r: int) -> Engine:
        name = f"bench_{os.getpid()}_{len(created)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return open_database(base.set(database=name).render_as_string(hide_password=False))

    try:
        yield make_db
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


# ---------------------------------------------------------------------------------------------
# stored: ingest against a database already holding many items


@dataclass(slots=True)
class StoredResult:
    entries: int
    sizes: tuple[int, ...]
    times: dict[tuple[str, int], Samples] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _fill(engine: Engine, n: int, span: timedelta, seed: int) -> None:
    """``n`` evaluated items with topical headlines, published evenly over ``span`` before
    the feeds' newest entries, two items a story, one sighting each."""
    with Session(engine) as session, session.begin():
        filler = FeedDef("filler", "https://filler.invalid/", "press", 300)
        [feed_id] = sync_feeds(session, [filler], deactivate_others=False)
    rng = random.Random(seed)
    titles = topical_headlines(n, seed=seed)
    step = span / max(n, 1)
    story_id = 0
    chunk = 5_000
    for lo in range(0, n, chunk):
        stories: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        sightings: list[dict[str, Any]] = []
        for k in range(lo, min(lo + chunk, n)):
            at = BASE_TIME - step * (n - k) - timedelta(seconds=rng.randrange(600))
            title = titles[k]
            summary = f"Filler {k}: export controls, licences and supply."
            chash = content_hash(title, summary, at)
            if k % 2 == 0:
                story_id += 1
                stories.append(
                    {
                        "id": story_id,
                        "key": chash,
                        "title": title,
                        "title_sig": title_signature(title),
                        "first_published_at": at,
                        "last_published_at": at + step,
                        "created_at": at,
                    }
                )
            url = f"https://filler{k % 53}.example/a/{k}"
            items.append(
                {
                    "id": k + 1,
                    "story_id": story_id,
                    "feed_id": feed_id,
                    "tier": "press",
                    "publisher": "filler",
                    "title": title,
                    "summary": summary,
                    "url": url,
                    "content_hash": chash,
                    "published_at": at,
                    "first_seen_at": at,
                    "evaluated_at": at,
                }
            )
            sightings.append(
                {
                    "id": k + 1,
                    "item_id": k + 1,
                    "feed_id": feed_id,
                    "entry_key": short_hash("filler", str(k)),
                    "publisher": "filler",
                    "url": url,
                    "seen_at": at,
                }
            )
        with Session(engine) as session, session.begin():
            if stories:
                session.execute(insert(story_t), stories)
            session.execute(insert(item_t), items)
            session.execute(insert(sighting_t), sightings)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


PATTERNS: dict[str, Callable[[int, int], timedelta]] = {
    # One day of news holds n_small / 20 items whatever n is: the smaller database covers the
    # 14 days of the feeds' entries and more, so both show the feeds the same recent stories.
    "history": lambda n, n_small: timedelta(days=20 * n / n_small),
    "dense": lambda n, n_small: timedelta(days=14),
}


def bench_stored(
    feeds: list[GenFeed], sizes: Sequence[int], n_rounds: int, tmp: Path, seed: int
) -> StoredResult:
    entries = sum(len(f.entries) for f in feeds)
    res = StoredResult(entries=entries, sizes=tuple(sizes))
    templates: dict[tuple[str, int], Path] = {}
    for pattern, span in PATTERNS.items():
        for n in sizes:
            folder = tmp / f"stored-{pattern}-{n}"
            engine = open_database(f"sqlite:///{folder / 'bench.db'}")
            log(f"  filling {pattern} database with {n:,} items")
            _fill(engine, n, span(n, sizes[0]), seed)
            engine.dispose()
            templates[(pattern, n)] = folder / "bench.db"
            res.times[(pattern, n)] = Samples()
    for r in rounds(n_rounds, "stored"):
        for (pattern, n), template in templates.items():
            folder = tmp / f"stored-run-{pattern}-{n}-{r}"
            folder.mkdir()
            shutil.copy(template, folder / "bench.db")
            engine = open_database(f"sqlite:///{folder / 'bench.db'}")
            paths = write_feeds(feeds, folder / "feeds")
            with timed(res.times[(pattern, n)]):
                summary = asyncio.run(ingest_paths(engine, paths, tier="press"))
            engine.dispose()
            if r == 0:
                res.notes.append(
                    f"stored {pattern} {n:,}: {summary.entries} entries -> "
                    f"{summary.new_items} items, {summary.new_stories} stories"
                )
    return res


def stored_rows(res: StoredResult) -> list[Row]:
    rows = []
    small, big = res.sizes[0], res.sizes[-1]
    for pattern in PATTERNS:
        base, subject = res.times[(pattern, small)], res.times[(pattern, big)]
        cpu_mid, cpu_cell = ratio(subject, base, cpu=True)
        flat = pattern == "history"
        rows.append(
            Row(
                name=f"cold ingest, {big:,} vs {small:,} stored items ({pattern})",
                value=f"{subject.median_cpu / res.entries * 1e6:,.0f} us CPU/entry",
                baseline=f"{base.median_cpu / res.entries * 1e6:,.0f} us CPU/entry",
                ratio=ratio(subject, base)[1],
                cpu_ratio=cpu_cell,
                target="<= 1.10x" if flat else "",
                ok=cpu_mid <= 1.10 if flat else None,
            )
        )
    return rows
