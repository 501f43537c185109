"""Batch statements: the same rows and answers on SQLite and PostgreSQL, whatever the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, insert, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, SQLModel

from storage.bulk import Bulk, Lookup, Many, one_of
from storage.db import make_engine
from storage.feeds import sync_feeds
from storage.models import feed_t, item_t, story_t
from storage.records import FeedDef
from storage.types import UTCDateTime
from tests.helpers.db import T0

_STORIES = Bulk(
    story_t,
    ("key", "title", "title_sig", "first_published_at", "last_published_at", "created_at"),
    returning=("id", "key"),
)
# A JSON column cannot go in a PostgreSQL array: this one goes row by row there too.
_FEEDS = Bulk(feed_t, ("name", "url", "tier", "interval_s", "topics"), returning=("id", "name"))


def _rows(bulk: Bulk, dicts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(d[c] for c in bulk.columns) for d in dicts]


# 400 stories take three statements on SQLite (166 rows of 6 columns in 999 parameters).
@pytest.mark.parametrize("size", [1, 3, 120, 400])
def test_a_batch_goes_in_whole_and_its_ids_come_back(engine: Engine, size: int) -> None:
    stories = [
        {"key": f"k{i}", "title": f"t{i}", "title_sig": f"s{i}", "first_published_at": T0,
         "last_published_at": T0 + timedelta(minutes=i), "created_at": T0}
        for i in range(size)
    ]  # fmt: skip
    feeds = [
        {"name": f"f{i}", "url": f"https://f{i}.example/", "tier": "press", "interval_s": 300,
         "topics": [] if i % 2 else ["h20"]}
        for i in range(size)
    ]  # fmt: skip
    with Session(engine) as s, s.begin():
        back = _STORIES.run(s.connection(), _rows(_STORIES, stories))
        story_ids = {key: sid for sid, key in back}
        feed_ids = {name: fid for fid, name in _FEEDS.run(s.connection(), _rows(_FEEDS, feeds))}
    with Session(engine) as s:
        stored = {
            key: (sid, last)
            for sid, key, last in s.execute(
                select(story_t.c.id, story_t.c.key, story_t.c.last_published_at)
            )
        }
        topics = {fid: t for fid, t in s.execute(select(feed_t.c.id, feed_t.c.topics))}

    assert len(back) == size
    assert stored == {r["key"]: (story_ids[r["key"]], r["last_published_at"]) for r in stories}
    assert {f["name"]: topics[feed_ids[f["name"]]] for f in feeds} == {
        f["name"]: f["topics"] for f in feeds
    }


def test_nulls_and_lookups_of_one_of_a_list(engine: Engine) -> None:
    items = Bulk(
        item_t,
        ("story_id", "feed_id", "tier", "publisher", "title", "summary", "url", "content_hash",
         "published_at", "first_seen_at"),
        returning=("id", "url"),
    )  # fmt: skip
    with Session(engine) as s, s.begin():
        [fid] = sync_feeds(
            s, [FeedDef("g", "https://g.example/", "press", 300)], deactivate_others=False
        )
        conn = s.connection()
        [(sid, _)] = _STORIES.run(conn, [("k", "t", "t", T0, T0, T0)])
        back = items.run(
            conn,
            [(sid, fid, "press", "p", "t", "", None if i % 2 else f"https://x/{i}", f"h{i}", T0,
              T0) for i in range(4)],
        )  # fmt: skip
        pg = conn.dialect.name == "postgresql"
        query = select(item_t.c.content_hash).where(one_of(item_t.c.url, "urls", pg))
        found = sorted(conn.execute(query, {"urls": ["https://x/2", "https://x/1"]}).scalars())
        none = list(conn.execute(query, {"urls": []}).scalars())

    assert sorted(url or "" for _, url in back) == ["", "", "https://x/0", "https://x/2"]
    assert (found, none) == (["h2"], [])


def _lookup(*columns: Any) -> Lookup:
    return Lookup(
        *(
            select(*columns).where(
                item_t.c.feed_id == bindparam("feed"),
                or_(one_of(item_t.c.url, "urls", pg), one_of(item_t.c.content_hash, "hashes", pg)),
            )
            for pg in (False, True)
        )
    )


def test_a_lookup_answers_as_sqlalchemys_select(engine: Engine) -> None:
    """Lists of any length, empty ones included, on the driver's path and on SQLAlchemy's."""
    plain = _lookup(item_t.c.id, item_t.c.url, item_t.c.content_hash)
    dated = _lookup(item_t.c.id, item_t.c.published_at)  # a column SQLAlchemy converts
    with Session(engine) as s, s.begin():
        fids = sync_feeds(
            s,
            [FeedDef(n, f"https://{n}.example/", "press", 300) for n in ("g", "h")],
            deactivate_others=False,
        )
        conn = s.connection()
        [(sid, _)] = _STORIES.run(conn, [("k", "t", "t", T0, T0, T0)])
        Bulk(item_t, ("story_id", "feed_id", "tier", "publisher", "title", "summary", "url",
                      "content_hash", "published_at", "first_seen_at")).run(
            conn,
            [(sid, fids[i % 2], "press", "p", "t", "", None if i % 3 else f"https://x/{i}",
              f"h{i}", T0 + timedelta(minutes=i), T0) for i in range(12)],
        )  # fmt: skip
        got = []
        for urls, hashes in (
            (["https://x/0", "https://x/3", "https://x/6"], ["h1", "h2", "h7"]),
            ([], ["h4", "h2", "h5"]),
            (["https://x/9"], []),
            ([], []),
            ([f"https://x/{i}" for i in range(12)], [f"h{i}" for i in range(12)]),
        ):
            params = {"feed": fids[0], "urls": urls, "hashes": hashes}
            pg = conn.dialect.name == "postgresql"
            want = conn.execute(plain.postgresql if pg else plain.sqlite, params).all()
            got.append((sorted(map(tuple, plain.run(conn, params))), sorted(map(tuple, want))))
            dates = sorted(map(tuple, dated.run(conn, params)))
            assert all(d.tzinfo is UTC for _, d in dates)
    assert [ours for ours, _ in got] == [theirs for _, theirs in got]
    assert [len(ours) for ours, _ in got] == [3, 2, 0, 0, 6]


@pytest.mark.postgres
def test_postgres_plans_each_run_with_its_values(pg_url: str) -> None:
    """A plan cached while the tables were empty would scan them whole once they are not."""
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    finally:
        engine.dispose()


def test_sqlite_stores_what_sqlalchemy_would(tmp_path: Path) -> None:
    """The driver-level inserts on SQLite write the very values SQLAlchemy's insert writes."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    SQLModel.metadata.create_all(engine)
    paris = timezone(timedelta(hours=1))
    dates = [
        T0,
        datetime(2025, 3, 30, 1, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 3, 30, 3, 0, 0, 1, tzinfo=paris),  # stored as UTC, 02:00:00.000001
    ]
    stories = [
        (f"k{i}", "t\u00e9'\"", "", dates[i % 3], dates[(i + 1) % 3], dates[i % 3])
        for i in range(6)
    ]
    try:
        with engine.begin() as conn:
            _STORIES.run(conn, stories[:3])
            plain = [dict(zip(_STORIES.columns, r, strict=True)) for r in stories[3:]]
            conn.execute(insert(story_t), plain)
            raw = conn.exec_driver_sql(
                "SELECT key, title, first_published_at, last_published_at, created_at,"
                " typeof(first_published_at) FROM story ORDER BY key"
            ).all()
        with pytest.raises(ValueError, match="naive"), engine.begin() as conn:
            _STORIES.run(conn, [("n", "t", "", datetime(2025, 1, 1), T0, T0)])
    finally:
        engine.dispose()
    ours, theirs = raw[:3], raw[3:]
    assert [r[1:] for r in ours] == [r[1:] for r in theirs]
    assert ours[2][2] == "2025-03-30 02:00:00.000001"


def test_utc_datetimes_become_the_text_sqlalchemys_sqlite_type_gives() -> None:
    """The one-call conversion on SQLite: SQLAlchemy's own steps, value for value."""
    dialect = sqlite.dialect()
    column = UTCDateTime()
    ours = column.dialect_impl(dialect).bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    values = [
        T0,
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 3, 30, 3, 0, 0, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 1, 1, 0, 30, tzinfo=kathmandu),  # the day before, in UTC
        datetime(2026, 12, 2, 7, 17, 18, 5, tzinfo=UTC),
    ]
    assert [ours(v) for v in values] == [
        theirs(column.process_bind_param(v, dialect)) for v in values
    ]
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))
    assert ours(values[4]) == "2025-12-31 18:45:00.000000"


def test_many_updates_as_sqlalchemys_executemany(engine: Engine) -> None:
    """Dates converted, repeated parameters placed, rows the WHERE leaves out left alone."""
    widen = Many(
        update(story_t)
        .where(story_t.c.id == bindparam("sid"), story_t.c.last_published_at < bindparam("hi"))
        .values(last_published_at=bindparam("hi"), title=bindparam("title"))
    )
    later = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    with Session(engine) as s, s.begin():
        conn = s.connection()
        ids = dict(_STORIES.run(conn, [(f"k{i}", "t", "s", T0, T0, T0) for i in range(3)]))
        sid = {key: i for i, key in ids.items()}
        widen.run(conn, [])
        widen.run(
            conn,
            [
                {"sid": sid["k0"], "hi": later, "title": "moved"},
                {"sid": sid["k1"], "hi": T0 - timedelta(days=1), "title": "not moved"},
            ],
        )
    with Session(engine) as s:
        got = dict(s.execute(select(story_t.c.key, story_t.c.last_published_at)).all())
        titles = dict(s.execute(select(story_t.c.key, story_t.c.title)).all())
    assert got == {"k0": later, "k1": T0, "k2": T0}
    assert titles == {"k0": "moved", "k1": "t", "k2": "t"}


@pytest.mark.parametrize("highest", [None, 2**63 - 1])
def test_sqlite_ids_come_back_whether_or_not_rowids_run_on(
    tmp_path: Path, highest: int | None
) -> None:
    """Ids are read back by rowid range after executemany; once the highest possible rowid
    is taken SQLite picks new ones at random, and the ids are read by the unique key instead."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    SQLModel.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            if highest is not None:
                conn.execute(
                    insert(story_t),
                    [{"id": highest, "key": "top", "title": "t", "title_sig": "",
                      "first_published_at": T0, "last_published_at": T0, "created_at": T0}],
                )  # fmt: skip
            back = _STORIES.run(conn, [(f"k{i}", "t", "", T0, T0, T0) for i in range(300)])
            stored = dict(conn.execute(select(story_t.c.key, story_t.c.id)).all())
    finally:
        engine.dispose()
    stored.pop("top", None)
    assert len(back) == 300
    assert {key: sid for sid, key in back} == stored
    assert len(stored) == 300
