"""A feed's first poll with an undated archive: stored as seen, no alert for each entry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from storage.models import item_t
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer
from tests.helpers.news import add_feed, alerts, make_rules, news_pipeline

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def undated_rss(*entries: tuple[str, str]) -> str:
    """RSS 2.0 with no pubDate anywhere: entries are timed by when first seen."""
    items = "".join(
        f"<item><title>{escape(t)}</title><link>{link}</link><guid>{link}</guid></item>"
        for t, link in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Gov</title><link>https://gov.example/</link>{items}</channel></rss>"
    )


ARCHIVE = [
    ("China approves Nvidia H20 purchases", "https://gov.example/a1"),
    ("US and China sign trade deal on chips", "https://gov.example/a2"),
    ("Commerce ministry lifts H20 curbs", "https://gov.example/a3"),
]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return make_rules(tmp_path)


async def test_first_poll_of_an_undated_archive_alerts_nothing_and_later_news_does(
    engine: Engine, feed_server: FeedServer, rules_dir: Path
) -> None:
    clock = FakeClock(NOW)
    url = feed_server.route("/gov.xml", undated_rss(*ARCHIVE))
    gov = add_feed(engine, "gov", url, "official")

    async with news_pipeline(engine, rules_dir, clock) as pipeline:
        first = await pipeline.poll(gov)
        assert first.new_items == len(ARCHIVE)
        assert alerts(engine) == []  # main alerted on every archived entry here
        with Session(engine) as s:
            seen = s.execute(select(item_t.c.evaluated_at)).scalars().all()
        assert seen == [NOW] * len(ARCHIVE)  # stored, marked as read

        # A new undated entry on a later poll is news, timed by when it is first seen.
        feed_server.route(
            "/gov.xml",
            undated_rss(
                ("China approves Nvidia H20 purchases again", "https://gov.example/n"), *ARCHIVE
            ),
        )
        clock.advance(minutes=5)
        second = await pipeline.poll(gov)

    assert second.new_items == 1
    assert alerts(engine) == [("transition", "h20-ban", "broken", True)]


async def test_files_given_to_ingest_are_read_as_before(
    engine: Engine, feed_server: FeedServer, rules_dir: Path
) -> None:
    """Not a scheduled feed (interval 0: ingest, demo, replay): undated entries are read."""
    clock = FakeClock(NOW)
    url = feed_server.route("/gov.xml", undated_rss(ARCHIVE[0]))
    gov = add_feed(engine, "gov", url, "official", interval_s=0)

    async with news_pipeline(engine, rules_dir, clock) as pipeline:
        await pipeline.poll(gov)

    assert alerts(engine) == [("transition", "h20-ban", "broken", True)]
