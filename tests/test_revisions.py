"""An entry rewritten under the same key is stored as a revision and read again, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller
from bot.pipeline.backtest import backtest
from bot.pipeline.console import CONSOLE
from bot.pipeline.evaluate import Evaluator
from bot.pipeline.rulebook import Rulebook
from storage.models import item_revision_t, item_t, sighting_t, signal_t
from storage.revisions import MAX_REVISIONS
from storage.signals import versions_between
from tests.conftest import FakeClock
from tests.helpers.db import T0, entry, feeds, store
from tests.helpers.feedserver import FeedServer
from tests.helpers.news import Entry, add_feed, alerts, dated_rss, make_rules, news_pipeline

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LINK = "https://wire.example/h20-story"
PUBLISHED = NOW - timedelta(minutes=20)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return make_rules(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def _one(engine: Engine, *columns: object) -> tuple[object, ...]:
    with Session(engine) as s:
        return tuple(s.execute(select(*columns)).one())  # type: ignore[call-overload]


def _rows(engine: Engine, *columns: object) -> list[tuple[object, ...]]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(select(*columns).order_by(columns[0]))]  # type: ignore[call-overload]


def _count(engine: Engine, table: object) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def _serve(server: FeedServer, title: str, summary: str = "", when: datetime = PUBLISHED) -> str:
    return server.route("/wire.xml", dated_rss(Entry(title, LINK, when, summary)))


async def test_a_cosmetic_rewrite_is_stored_and_read_again_without_a_new_alert(
    engine: Engine, feed_server: FeedServer, rules_dir: Path, clock: FakeClock
) -> None:
    url = _serve(feed_server, "China approves Nvidia H20 purchases", "Beijing gave the nod.")
    wire = add_feed(engine, "wire", url, "official")

    async with news_pipeline(engine, rules_dir, clock) as pipeline:
        first = await pipeline.poll(wire)
        assert alerts(engine) == [("transition", "h20-ban", "broken", True)]

        _serve(
            feed_server,
            "UPDATE 1-China approves purchases of Nvidia's H20 chips",
            "Beijing gave the nod on Tuesday, two people familiar said.",
        )
        clock.advance(minutes=6)
        second = await pipeline.poll(wire)

    assert (first.new_items, second.new_items, second.revised_items) == (1, 0, 1)
    # One item, now carrying the rewrite; the text it replaced is kept, marked as read.
    assert _count(engine, item_t) == 1
    assert _one(engine, item_t.c.title, item_t.c.revision, item_t.c.evaluated_at) == (
        "UPDATE 1-China approves purchases of Nvidia's H20 chips",
        2,
        NOW + timedelta(minutes=6),
    )
    assert _one(
        engine, item_revision_t.c.revision, item_revision_t.c.title, item_revision_t.c.evaluated_at
    ) == (1, "China approves Nvidia H20 purchases", NOW)
    # Read again: the same rule fired on the new text ...
    assert _rows(engine, signal_t.c.revision, signal_t.c.rule_id) == [
        (1, "h20-purchases-approved"),
        (2, "h20-purchases-approved"),
    ]
    # ... which means what the first text meant: no second push.
    assert alerts(engine) == [("transition", "h20-ban", "broken", True)]


async def test_a_rewrite_that_changes_the_meaning_alerts_once(
    engine: Engine, feed_server: FeedServer, rules_dir: Path, clock: FakeClock
) -> None:
    url = _serve(feed_server, "China weighs approving Nvidia H20 purchases")
    wire = add_feed(engine, "wire", url, "official")

    async with news_pipeline(engine, rules_dir, clock) as pipeline:
        await pipeline.poll(wire)
        assert (_count(engine, signal_t), alerts(engine)) == (0, [])

        _serve(feed_server, "China approves Nvidia H20 purchases")
        clock.advance(minutes=6)
        revised = await pipeline.poll(wire)
        assert alerts(engine) == [("transition", "h20-ban", "broken", True)]

        clock.advance(minutes=6)
        await pipeline.poll(wire)  # the same body again: nothing to read
        _serve(feed_server, "China approves Nvidia H20 chip purchases")  # a later touch-up
        clock.advance(minutes=6)
        touched = await pipeline.poll(wire)

    assert (revised.revised_items, touched.revised_items) == (1, 1)
    assert _rows(engine, item_revision_t.c.revision, item_revision_t.c.title) == [
        (1, "China weighs approving Nvidia H20 purchases"),
        (2, "China approves Nvidia H20 purchases"),
    ]
    assert alerts(engine) == [("transition", "h20-ban", "broken", True)]
    # A replay of the stored versions sees the same story: one alert.
    with Session(engine) as s:
        replay = backtest(Rulebook(rules_dir, NOW).engine, versions_between(s, None, None))
    assert [(d.kind, d.leg, d.new_state) for _, d in replay.alerts] == [
        ("transition", "h20-ban", "broken")
    ]


async def test_an_old_entry_rewritten_today_stays_old_news(
    engine: Engine, feed_server: FeedServer, rules_dir: Path, clock: FakeClock
) -> None:
    then = datetime(2020, 1, 10, 9, 0, tzinfo=UTC)
    url = _serve(feed_server, "US and China near a trade deal", when=then)
    archive = add_feed(engine, "archive", url, "official")

    async with news_pipeline(engine, rules_dir, clock) as pipeline:
        await pipeline.poll(archive)
        _serve(feed_server, "US and China sign phase one trade deal", when=then)
        clock.advance(minutes=6)
        revised = await pipeline.poll(archive)

    assert revised.revised_items == 1
    assert _rows(engine, signal_t.c.revision, signal_t.c.rule_id) == [(2, "trade-deal-signed")]
    assert _one(engine, item_t.c.published_at) == (then,)  # dated by the feed, not by us
    assert alerts(engine) == []


async def test_a_rewrite_waits_for_the_rules_across_a_restart(
    engine: Engine, feed_server: FeedServer, rules_dir: Path, clock: FakeClock
) -> None:
    url = _serve(feed_server, "China weighs approving Nvidia H20 purchases")
    wire = add_feed(engine, "wire", url, "official")
    limits = FetchLimits(max_bytes=64 * 1024, read_timeout=2.0, total_timeout=5.0)
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits), clock=clock)
        try:
            await poller.poll(wire, force=True)
            Evaluator(Rulebook(rules_dir, NOW), [CONSOLE]).run(engine, clock())
            _serve(feed_server, "China approves Nvidia H20 purchases")
            clock.advance(minutes=6)
            await poller.poll(wire, force=True)  # stored; the process dies before evaluating
        finally:
            poller.close()

    restarted = Evaluator(Rulebook(rules_dir, NOW), [CONSOLE])  # a new process
    first = restarted.run(engine, clock.advance(minutes=1))
    again = restarted.run(engine, clock.advance(minutes=1))

    assert (first.items, first.signals, first.alerts) == (1, 1, 1)
    assert (again.items, again.signals, again.alerts) == (0, 0, 0)
    assert _count(engine, signal_t) == 1


async def test_outlets_carrying_one_story_under_their_own_headlines_never_revise_it(
    engine: Engine, feed_server: FeedServer, rules_dir: Path, clock: FakeClock
) -> None:
    def serve(path: str, headline: str, extra: int) -> str:
        # Each poll also brings a new, unrelated entry: the body changes, so it is parsed.
        other = Entry(f"Desk note {extra}", f"https://{path}.example/{extra}", PUBLISHED)
        return feed_server.route(f"/{path}.xml", dated_rss(Entry(headline, LINK, PUBLISHED), other))

    a = add_feed(engine, "a", serve("a", "China approves Nvidia H20 purchases", 0), "wire")
    b = add_feed(engine, "b", serve("b", "China approves H20 purchases - Reuters", 0), "press")
    async with news_pipeline(engine, rules_dir, clock) as pipeline:
        outcomes = []
        for n in range(1, 4):
            outcomes += [await pipeline.poll(a), await pipeline.poll(b)]
            serve("a", "China approves Nvidia H20 purchases", n)
            serve("b", "China approves H20 purchases - Reuters", n)
            clock.advance(minutes=6)

    assert [o.revised_items for o in outcomes] == [0] * 6
    assert _count(engine, item_revision_t) == 0
    assert _rows(engine, sighting_t.c.item_id).count((1,)) == 2  # one item, two sources


def test_an_entry_rewritten_without_end_stops_being_read_again(engine: Engine) -> None:
    [f] = feeds(engine, "f")
    results = [
        store(engine, f, entry(f"Live: chip stocks, minute {n}", "https://f/live"), now=T0)
        for n in range(MAX_REVISIONS + 5)
    ]

    assert [r.revised_items for r in results] == [0] + [1] * (MAX_REVISIONS - 1) + [0] * 5
    assert _one(engine, item_t.c.revision, item_t.c.title) == (
        MAX_REVISIONS,
        f"Live: chip stocks, minute {MAX_REVISIONS - 1}",
    )
    assert _count(engine, item_revision_t) == MAX_REVISIONS - 1
