"""One bad entry costs only itself: polled over HTTP on 127.0.0.1, stored in a real database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.parse import normalise_entries, replace_impossible_chars
from bot.feeds.poller import Poller
from storage.feeds import feed_health, sync_feeds
from storage.models import item_t
from storage.records import FeedDef
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer

NOW = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)


def _rss(*items: str, prolog: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Wire</title><link>https://wire.example/</link>{''.join(items)}</channel></rss>"
    )


def _item(title: str, link: str) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        "<pubDate>Tue, 12 Aug 2025 08:00:00 GMT</pubDate></item>"
    )


@pytest.fixture
async def poller(engine: Engine, clock: FakeClock) -> AsyncIterator[Poller]:
    limits = FetchLimits(read_timeout=2.0, total_timeout=5.0)
    async with make_client(limits) as client:
        p = Poller(engine, Fetcher(client, limits), clock=clock)
        yield p
        p.close()


def _add(engine: Engine, url: str) -> int:
    with Session(engine) as s, s.begin():
        return sync_feeds(s, [FeedDef("wire", url, "wire", 300)], deactivate_others=False)[0]


def _stored(engine: Engine) -> dict[str, str | None]:
    with Session(engine) as s:
        return {t: u for t, u in s.execute(select(item_t.c.title, item_t.c.url)).all()}


@pytest.mark.parametrize(
    "bad_ref", ["&#xD800;", "&#55296;", "&#xDFFF;", "&#x110000;", "&#99999999999999999999;"]
)
async def test_a_reference_to_an_impossible_character_costs_only_its_entry(
    feed_server: FeedServer, poller: Poller, engine: Engine, bad_ref: str
) -> None:
    body = _rss(
        _item("China tells firms to avoid Nvidia H20 chips", "https://wire.example/h20"),
        _item(f"Dutch widen ASML {bad_ref} servicing rule", "https://wire.example/asml"),
        _item("China suspends rare earth export curbs", "https://wire.example/re"),
    )
    fid = _add(engine, feed_server.route("/wire.xml", body))

    outcome = await poller.poll(fid, force=True)

    assert (outcome.status, outcome.error) == ("new", None)
    stored = _stored(engine)
    assert "China tells firms to avoid Nvidia H20 chips" in stored
    assert "China suspends rare earth export curbs" in stored
    # The bad entry itself is kept, its impossible character replaced.
    assert "Dutch widen ASML \ufffd servicing rule" in stored
    assert outcome.new_items == 3
    with Session(engine) as s:
        [health] = feed_health(s)
    assert (health.consecutive_failures, health.last_error) == (0, None)


async def test_a_lone_surrogate_spelt_in_utf7_costs_only_its_entry(
    feed_server: FeedServer, poller: Poller, engine: Engine
) -> None:
    body = _rss(
        _item("China tells firms to avoid Nvidia H20 chips", "https://wire.example/h20"),
        _item("Dutch widen ASML +2AA- servicing rule", "https://wire.example/asml"),
    ).replace('encoding="utf-8"', 'encoding="utf-7"')
    fid = _add(engine, feed_server.route("/wire.xml", body))

    outcome = await poller.poll(fid, force=True)

    assert (outcome.status, outcome.error, outcome.new_items) == ("new", None, 2)
    assert set(_stored(engine)) == {
        "China tells firms to avoid Nvidia H20 chips",
        "Dutch widen ASML \ufffd servicing rule",
    }


async def test_a_nul_in_a_link_costs_only_that_link(
    feed_server: FeedServer, poller: Poller, engine: Engine
) -> None:
    # &nbsp; makes the document ill-formed, so feedparser reads it leniently and turns &#0;
    # into a NUL character, which PostgreSQL refuses in text.
    body = _rss(
        _item("China tells firms&nbsp;to avoid Nvidia H20 chips", "https://wire.example/h20"),
        _item("Dutch widen ASML servicing rule", "https://wire.example/a&#0;b"),
    )
    fid = _add(engine, feed_server.route("/wire.xml", body))

    outcome = await poller.poll(fid, force=True)

    assert (outcome.status, outcome.error, outcome.new_items) == ("new", None, 2)
    stored = _stored(engine)
    assert stored["China tells firms to avoid Nvidia H20 chips"] == "https://wire.example/h20"
    assert stored["Dutch widen ASML servicing rule"] is None


def test_an_entry_that_fails_normalisation_is_skipped_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = {"title": "China eases gallium exports", "link": "https://wire.example/ga"}
    lone_surrogate = {"title": "Nvidia \ud800 resumes H20 orders", "link": "https://wire.example/x"}
    bad_source = {
        "title": "MOFCOM statement",
        "link": "https://wire.example/m",
        "source": {"title": "Outlet \udfff"},
    }

    with caplog.at_level(logging.WARNING, logger="bot.feeds.parse"):
        entries, skipped, reason = normalise_entries(
            [good, lone_surrogate, bad_source, good | {"link": "https://wire.example/ga2"}],
            publisher="wire",
            now=NOW,
            base=None,
        )

    assert [e.url for e in entries] == ["https://wire.example/ga", "https://wire.example/ga2"]
    assert skipped == 2
    assert reason is not None
    assert reason.startswith("UnicodeEncodeError")
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("feed wire: skipped 2 of 4 entries that could not be read")


def test_replacing_impossible_characters_leaves_real_ones() -> None:
    body = b"<t>&#8217; &#x201d; &#xd800; &#56000; &#x10FFFF; &#x110000; &#0000000065;</t>"
    assert replace_impossible_chars(body) == (
        b"<t>&#8217; &#x201d; &#xFFFD; &#xFFFD; &#x10FFFF; &#xFFFD; &#0000000065;</t>"
    )
