"""Batch statements: the same rows and answers on SQLite and PostgreSQL, whatever the batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session

from storage.bulk import Bulk, one_of
from storage.db import make_engine
from storage.feeds import sync_feeds
from storage.models import feed_t, item_t, story_t
from storage.records import FeedDef
from tests.helpers.db import T0

_STORIES = Bulk(
    story_t,
    ("key", "title", "title_sig", "first_published_at", "last_published_at", "created_at"),
    returning=("id", "key"),
)
# A JSON column cannot go in a PostgreSQL array: this one goes row by row there too.
_FEEDS = Bulk(feed_t, ("name", "url", "tier", "interval_s", "topics"), returning=("id", "name"))


@pytest.mark.parametrize("size", [1, 3, 120])
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
        story_ids = {key: sid for sid, key in _STORIES.run(s.connection(), stories)}
        feed_ids = {name: fid for fid, name in _FEEDS.run(s.connection(), feeds)}
    with Session(engine) as s:
        stored = {
            key: (sid, last)
            for sid, key, last in s.execute(
                select(story_t.c.id, story_t.c.key, story_t.c.last_published_at)
            )
        }
        topics = {fid: t for fid, t in s.execute(select(feed_t.c.id, feed_t.c.topics))}

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
        [(sid, _)] = _STORIES.run(
            conn,
            [{"key": "k", "title": "t", "title_sig": "t", "first_published_at": T0,
              "last_published_at": T0, "created_at": T0}],
        )  # fmt: skip
        back = items.run(
            conn,
            [{"story_id": sid, "feed_id": fid, "tier": "press", "publisher": "p", "title": "t",
              "summary": "", "url": None if i % 2 else f"https://x/{i}", "content_hash": f"h{i}",
              "published_at": T0, "first_seen_at": T0} for i in range(4)],
        )  # fmt: skip
        pg = conn.dialect.name == "postgresql"
        query = select(item_t.c.content_hash).where(one_of(item_t.c.url, "urls", pg))
        found = sorted(conn.execute(query, {"urls": ["https://x/2", "https://x/1"]}).scalars())
        none = list(conn.execute(query, {"urls": []}).scalars())

    assert sorted(url or "" for _, url in back) == ["", "", "https://x/0", "https://x/2"]
    assert (found, none) == (["h2"], [])


@pytest.mark.postgres
def test_postgres_plans_each_run_with_its_values(pg_url: str) -> None:
    """A plan cached while the tables were empty would scan them whole once they are not."""
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    finally:
        engine.dispose()
