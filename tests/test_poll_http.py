"""One feed polled over real HTTP: conditional GET, unchanged bodies, failures and backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller
from storage.feeds import feed_health, sync_feeds
from storage.models import feed_t, item_t
from storage.records import FeedDef
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer, rss

FEED = rss(
    ("China tells firms to avoid Nvidia H20 chips", "https://news.example/h20?utm_source=rss"),
    ("Dutch widen ASML servicing licence rule", "https://news.example/asml"),
)

AddFeed = Callable[..., int]


@pytest.fixture
def add_feed(engine: Engine) -> AddFeed:
    def add(name: str, url: str, interval_s: int = 300, tier: str = "press") -> int:
        with Session(engine) as s, s.begin():
            return sync_feeds(s, [FeedDef(name, url, tier, interval_s)], deactivate_others=False)[0]

    return add


@pytest.fixture
async def poller(engine: Engine, clock: FakeClock) -> AsyncIterator[Poller]:
    limits = FetchLimits(max_bytes=64 * 1024, read_timeout=1.0, total_timeout=2.0)
    async with make_client(limits) as client:
        p = Poller(engine, Fetcher(client, limits), clock=clock)
        yield p
        p.close()


def _count(engine: Engine, table: object) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def _feed_row(engine: Engine, feed_id: int) -> object:
    with Session(engine) as s:
        return s.execute(select(feed_t).where(feed_t.c.id == feed_id)).one()


async def test_etag_and_last_modified_round_trip(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed, engine: Engine
) -> None:
    url = feed_server.route(
        "/f.xml", FEED, etag='"v1"', last_modified="Tue, 12 Aug 2025 08:00:00 GMT"
    )
    fid = add_feed("f", url)

    first = await poller.poll(fid, force=True)
    second = await poller.poll(fid, force=True)

    assert (first.status, first.new_items) == ("new", 2)
    assert second.status == "not_modified"
    hits = feed_server.hits_for("/f.xml")
    assert "if-none-match" not in hits[0].headers
    assert hits[1].headers["if-none-match"] == '"v1"'
    assert hits[1].headers["if-modified-since"] == "Tue, 12 Aug 2025 08:00:00 GMT"
    assert _count(engine, item_t) == 2


async def test_identical_body_is_not_parsed_again(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed, engine: Engine
) -> None:
    fid = add_feed("f", feed_server.route("/f.xml", FEED))  # no validators: a plain 200 each time

    await poller.poll(fid, force=True)
    again = await poller.poll(fid, force=True)

    assert again.status == "unchanged"
    assert again.entries == 0
    assert _count(engine, item_t) == 2


async def test_changed_body_stores_only_the_new_entry(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed, engine: Engine
) -> None:
    fid = add_feed("f", feed_server.route("/f.xml", FEED))
    await poller.poll(fid, force=True)
    feed_server.route(
        "/f.xml",
        rss(
            ("China lifts curbs on rare earth exports", "https://news.example/re"),
            ("China tells firms to avoid Nvidia H20 chips", "https://news.example/h20"),
            ("Dutch widen ASML servicing licence rule", "https://news.example/asml"),
        ),
    )
    outcome = await poller.poll(fid, force=True)

    assert (outcome.status, outcome.entries, outcome.new_items) == ("new", 3, 1)
    assert _count(engine, item_t) == 3


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ({"status": 500}, "http 500"),
        ({"status": 404}, "http 404"),
        ({"delay": 3.0}, "timeout"),
        ({"body": b"x" * (65 * 1024)}, "too large"),
        ({"body": b"x" * 10, "content_length": 10 * 1024 * 1024}, "too large"),
        ({"body": b"\x00\xffgarbage<<<not xml"}, "not a feed"),
        ({"body": b"<html><body>Login required</body></html>"}, "not a feed"),
    ],
    ids=["500", "404", "timeout", "oversize", "declared-oversize", "garbage", "html"],
)
async def test_failure_backs_off_and_is_recorded(
    feed_server: FeedServer,
    poller: Poller,
    add_feed: AddFeed,
    engine: Engine,
    clock: FakeClock,
    route: dict[str, object],
    reason: str,
) -> None:
    route = dict(route)  # parametrize shares the dict between backends
    body = route.pop("body", FEED)
    fid = add_feed("bad", feed_server.route("/bad.xml", body, **route), interval_s=300)

    first = await poller.poll(fid, force=True)
    second = await poller.poll(fid, force=True)
    third = await poller.poll(fid, force=True)

    assert first.status == "error"
    assert first.error is not None
    assert first.error.startswith(reason)
    # Exponential: the ceiling doubles each time; equal jitter keeps at least half of it.
    assert timedelta(seconds=150) <= first.next_poll_at - clock.now <= timedelta(seconds=300)
    assert timedelta(seconds=300) <= second.next_poll_at - clock.now <= timedelta(seconds=600)
    assert timedelta(seconds=600) <= third.next_poll_at - clock.now <= timedelta(seconds=1200)
    with Session(engine) as s:
        [health] = feed_health(s)
    assert health.consecutive_failures == 3
    assert health.last_error is not None
    assert health.last_error.startswith(reason)


async def test_recovery_resets_the_failure_count(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed, engine: Engine
) -> None:
    fid = add_feed("f", feed_server.route("/f.xml", b"", status=503))
    await poller.poll(fid, force=True)
    feed_server.route("/f.xml", FEED)

    outcome = await poller.poll(fid, force=True)

    assert outcome.status == "new"
    with Session(engine) as s:
        [health] = feed_health(s)
    assert (health.consecutive_failures, health.failures_total) == (0, 1)
    assert health.last_error == "http 503: Service Unavailable"


async def test_retry_after_is_honoured(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed, clock: FakeClock
) -> None:
    fid = add_feed(
        "busy", feed_server.route("/busy", b"", status=429, headers={"Retry-After": "3600"})
    )

    outcome = await poller.poll(fid, force=True)

    assert outcome.error is not None
    assert outcome.error.startswith("http 429")
    assert outcome.next_poll_at - clock.now >= timedelta(seconds=3600)


async def test_gzip_and_redirects_are_followed(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed
) -> None:
    feed_server.route("/real.xml", FEED, gzip=True)
    fid = add_feed(
        "moved", feed_server.route("/old", b"", status=301, headers={"Location": "/real.xml"})
    )

    outcome = await poller.poll(fid, force=True)

    assert (outcome.status, outcome.new_items) == ("new", 2)
    assert feed_server.hits_for("/real.xml")[0].headers["accept-encoding"].startswith("gzip")


async def test_redirect_loop_is_a_failure(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed
) -> None:
    fid = add_feed("loop", feed_server.route("/a", b"", status=302, headers={"Location": "/a"}))

    outcome = await poller.poll(fid, force=True)

    assert outcome.error is not None
    assert outcome.error.startswith("redirects")


async def test_slow_drip_cannot_hold_a_poll(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed
) -> None:
    # Each byte arrives well within the read timeout; the whole never does.
    fid = add_feed("drip", feed_server.route("/drip", FEED, drip=0.05))

    outcome = await poller.poll(fid, force=True)

    assert outcome.error is not None
    assert outcome.error.startswith("timeout")


async def test_a_bad_feed_does_not_delay_the_others(
    feed_server: FeedServer, poller: Poller, add_feed: AddFeed, engine: Engine
) -> None:
    slow = add_feed("slow", feed_server.route("/slow", FEED, delay=1.8))
    broken = add_feed("broken", feed_server.route("/broken", b"", status=500))
    good = [add_feed(f"good{i}", feed_server.route(f"/good{i}", FEED)) for i in range(3)]
    done: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def poll(fid: int) -> None:
        outcome = await poller.poll(fid, force=True)
        done[outcome.feed] = loop.time() - start

    await asyncio.gather(*(poll(f) for f in [slow, broken, *good]))

    assert all(done[f"good{i}"] < done["slow"] for i in range(3))
    assert _count(engine, item_t) == 2  # three good feeds, same two stories


async def test_a_feed_is_polled_by_one_worker_at_a_time(
    feed_server: FeedServer, add_feed: AddFeed, engine: Engine, clock: FakeClock
) -> None:
    fid = add_feed("f", feed_server.route("/f.xml", FEED, delay=0.5), interval_s=300)
    limits = FetchLimits(read_timeout=5.0)
    async with make_client(limits) as client:
        one = Poller(engine, Fetcher(client, limits), clock=clock, owner="worker-1")
        two = Poller(engine, Fetcher(client, limits), clock=clock, owner="worker-2")
        try:
            first, second = await asyncio.gather(one.poll(fid), two.poll(fid))
            not_due = await two.poll(fid)
            clock.advance(seconds=301)
            due = await two.poll(fid)
        finally:
            one.close()
            two.close()
    assert sorted([first.status, second.status]) == ["new", "skipped"]
    assert not_due.status == "skipped"
    assert due.status in ("unchanged", "not_modified")
    assert len(feed_server.hits_for("/f.xml")) == 2


async def test_a_dead_workers_lease_is_taken_over(
    feed_server: FeedServer, add_feed: AddFeed, engine: Engine, clock: FakeClock, poller: Poller
) -> None:
    from storage.feeds import claim_feed

    fid = add_feed("f", feed_server.route("/f.xml", FEED))
    with Session(engine) as s, s.begin():  # a worker took the feed, then died
        assert claim_feed(
            s, fid, owner="dead", now=clock.now, lease=timedelta(minutes=5), early=timedelta(0)
        )
    assert (await poller.poll(fid, force=True)).status == "skipped"
    clock.advance(minutes=6)
    assert (await poller.poll(fid, force=True)).status == "new"
