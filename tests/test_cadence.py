"""Adaptive polling over HTTP on 127.0.0.1: ttl, sy:updatePeriod, max-age, Retry-After, bounds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.feeds.cadence import Bounds, cache_max_age, next_interval, sy_period_s, ttl_s
from bot.feeds.config import parse_feeds
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller
from rules.yamlsrc import YamlError
from storage.feeds import sync_feeds
from storage.models import feed_t
from storage.records import FeedDef
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer, rss

SY = 'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


def _rss_with(channel_extra: str, *items: tuple[str, str], ns: str = "") -> str:
    body = rss(*items)
    body = body.replace('<rss version="2.0">', f'<rss version="2.0" {ns}>')
    return body.replace("<channel>", f"<channel>{channel_extra}", 1)


def _add(engine: Engine, url: str, interval: int, low: int, high: int) -> int:
    with Session(engine) as s, s.begin():
        feed = FeedDef("f", url, "wire", interval, min_interval_s=low, max_interval_s=high)
        return sync_feeds(s, [feed], deactivate_others=False)[0]


def _interval(engine: Engine, feed_id: int) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(feed_t.c.poll_interval_s).where(feed_t.c.id == feed_id)))


@pytest.fixture
async def poller(sqlite_engine: Engine, clock: FakeClock) -> AsyncIterator[Poller]:
    async with make_client(FetchLimits()) as client:
        p = Poller(sqlite_engine, Fetcher(client), clock=clock)
        yield p
        p.close()


def _gap(outcome_next: object, clock: FakeClock) -> float:
    return (outcome_next - clock.now).total_seconds()  # type: ignore[operator]


# --- the publisher's word ---------------------------------------------------------------------


async def test_rss_ttl_is_a_floor_on_the_interval(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine, clock: FakeClock
) -> None:
    url = feed_server.route("/f", _rss_with("<ttl>30</ttl>", ("A", "https://x.example/a")))
    feed = _add(sqlite_engine, url, 300, 60, 3600)

    out = await poller.poll(feed, force=True)

    assert _interval(sqlite_engine, feed) == 1800  # 30 minutes, not 5 (nor 2.5 for news)
    assert 1620 <= _gap(out.next_poll_at, clock) <= 1980  # 10 % jitter


async def test_sy_update_period_and_frequency(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine, clock: FakeClock
) -> None:
    sy = "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>"
    url = feed_server.route("/f", _rss_with(sy, ("A", "https://x.example/a"), ns=SY))
    feed = _add(sqlite_engine, url, 300, 60, 3600)

    await poller.poll(feed, force=True)

    assert _interval(sqlite_engine, feed) == 900  # four times an hour


async def test_a_hint_never_passes_the_configured_maximum(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine
) -> None:
    url = feed_server.route("/f", _rss_with("<ttl>1440</ttl>", ("A", "https://x.example/a")))
    feed = _add(sqlite_engine, url, 60, 60, 120)  # a desk feed: never slower than 2 minutes

    await poller.poll(feed, force=True)

    assert _interval(sqlite_engine, feed) == 120


async def test_cache_control_max_age(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine
) -> None:
    url = feed_server.route(
        "/f", rss(("A", "https://x.example/a")), headers={"Cache-Control": "public, max-age=900"}
    )
    feed = _add(sqlite_engine, url, 300, 60, 3600)

    await poller.poll(feed, force=True)

    assert _interval(sqlite_engine, feed) == 900


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_holds_the_feed_back(
    status: int, feed_server: FeedServer, poller: Poller, sqlite_engine: Engine, clock: FakeClock
) -> None:
    url = feed_server.route("/f", b"", status=status, headers={"Retry-After": "1200"})
    feed = _add(sqlite_engine, url, 60, 60, 120)

    out = await poller.poll(feed, force=True)

    assert out.status == "error"
    assert _gap(out.next_poll_at, clock) >= 1200
    # Not due before then: a dispatcher claim finds nothing.
    clock.advance(seconds=1199)
    assert await poller.claim_due(10, set()) == []
    clock.advance(seconds=2)
    assert [s.id for s in await poller.claim_due(10, set())] == [feed]


# --- busy feeds faster, quiet ones slower -----------------------------------------------------


async def test_a_busy_feed_speeds_up_and_a_quiet_one_slows_down_within_bounds(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine, clock: FakeClock
) -> None:
    busy_url = feed_server.route("/busy", rss(("B0", "https://x.example/b0")))
    quiet_url = feed_server.route("/quiet", rss(("Q", "https://x.example/q")), etag='"q"')
    with Session(sqlite_engine) as s, s.begin():
        busy, quiet = sync_feeds(
            s,
            [
                FeedDef("busy", busy_url, "wire", 120, min_interval_s=30, max_interval_s=600),
                FeedDef("quiet", quiet_url, "wire", 120, min_interval_s=30, max_interval_s=600),
            ],
            deactivate_others=False,
        )
    seen_busy, seen_quiet = [], []
    for n in range(1, 14):
        feed_server.route("/busy", rss((f"B{n}", f"https://x.example/b{n}")))
        await poller.poll(busy, force=True)
        await poller.poll(quiet, force=True)  # 304 after the first
        seen_busy.append(_interval(sqlite_engine, busy))
        seen_quiet.append(_interval(sqlite_engine, quiet))
        clock.advance(seconds=30)

    assert seen_busy[0] == 60
    assert seen_busy[-1] == 30  # halved to the minimum
    assert seen_quiet == sorted(seen_quiet)
    assert seen_quiet[-1] == 600  # grew to the maximum and stays there
    assert [h.headers.get("if-none-match") for h in feed_server.hits_for("/quiet")][1:] == [
        '"q"'
    ] * 12


def test_next_interval_rules() -> None:
    b = Bounds.of(120, 30, 600)
    assert next_interval(None, b, changed=True) == 60
    assert next_interval(None, b, changed=False) == 150
    assert next_interval(40, b, changed=True) == 30
    assert next_interval(580, b, changed=False) == 600
    assert next_interval(60, b, changed=True, hint_s=300) == 300
    assert next_interval(60, b, changed=True, hint_s=10**6) == 600
    # Bounds that leave no room (min = max = interval): a fixed interval.
    assert next_interval(None, Bounds.of(60, 60, 60), changed=True, hint_s=900) == 60


def test_hint_parsers() -> None:
    assert ttl_s("15") == 900
    assert ttl_s("soon") is None
    assert ttl_s("0") is None
    assert sy_period_s("daily", "2") == 43200
    assert sy_period_s(None, "24") == 3600  # the period defaults to daily
    assert sy_period_s("fortnightly", "1") is None
    assert sy_period_s(None, None) is None
    assert cache_max_age({"cache-control": "max-age=60, s-maxage=120"}) == 120
    assert cache_max_age({"cache-control": "no-cache"}) is None
    assert cache_max_age({}) is None


# --- the feeds file -----------------------------------------------------------------------


def test_bounds_in_the_feeds_file(tmp_path: Path) -> None:
    text = (
        "feeds:\n"
        "  - {name: a, url: 'https://a.example/rss', tier: wire, interval: 1m,"
        " min_interval: 30s, max_interval: 5m}\n"
        "  - {name: b, url: 'https://b.example/rss', tier: wire, interval: 5m}\n"
    )
    a, b = parse_feeds(text, "feeds.yaml", tmp_path, min_interval=30)
    assert (a.interval_s, a.min_interval_s, a.max_interval_s) == (60, 30, 300)
    assert (b.interval_s, b.min_interval_s, b.max_interval_s) == (300, 150, 600)  # defaults


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("min_interval: 10s", "feeds.yaml:2:85: min_interval must be at least 30s"),
        ("min_interval: 2m", "min_interval must not exceed interval (1m)"),
        ("max_interval: 30s", "max_interval must not be below interval (1m)"),
        ("max_interval: soon", "is not a duration"),
    ],
)
def test_bad_bounds_are_reported_with_their_place(tmp_path: Path, extra: str, message: str) -> None:
    text = (
        "feeds:\n"
        f"  - {{name: a, url: 'https://a.example/rss', tier: wire, interval: 1m, {extra}}}\n"
    )
    with pytest.raises(YamlError) as err:
        parse_feeds(text, "feeds.yaml", tmp_path, min_interval=30)
    assert message in str(err.value)


def test_interval_bounds_reach_the_database(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as s, s.begin():
        (fid,) = sync_feeds(
            s, [FeedDef("a", "https://a", "wire", 60, (), 30, 300)], deactivate_others=False
        )
        row = s.execute(select(feed_t).where(feed_t.c.id == fid)).one()
    assert (row.min_interval_s, row.max_interval_s, row.poll_interval_s) == (30, 300, None)
