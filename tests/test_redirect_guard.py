"""A feed's redirect may not lead into the private network (loopback, link-local, private)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.netguard import IPAddress, address_kind
from bot.feeds.poller import Poller
from bot.settings import load
from storage.feeds import feed_health, sync_feeds
from storage.models import item_t
from storage.records import FeedDef
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer, rss

SECRET = rss(("internal: db password rotation schedule", "https://intranet.example/secret"))
LIMITS = FetchLimits(read_timeout=2.0, total_timeout=5.0)


@pytest.fixture
def internal() -> Iterator[FeedServer]:
    """Another service on this machine, on another port: what a redirect must not reach."""
    server = FeedServer()
    server.route("/secret", SECRET)
    server.start()
    yield server
    server.stop()


def _add(engine: Engine, url: str) -> int:
    with Session(engine) as s, s.begin():
        return sync_feeds(s, [FeedDef("feed", url, "press", 300)], deactivate_others=False)[0]


def _items(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(item_t)) or 0)


@pytest.fixture
async def poller(sqlite_engine: Engine, clock: FakeClock) -> AsyncIterator[Poller]:
    async with make_client(LIMITS) as client:
        p = Poller(sqlite_engine, Fetcher(client, LIMITS), clock=clock)
        yield p
        p.close()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "127.1", "2130706433", "[::ffff:127.0.0.1]", "[::1]"],
    ids=["ipv4", "name", "short-ipv4", "decimal-ipv4", "ipv4-mapped-ipv6", "ipv6-loopback"],
)
async def test_a_redirect_to_another_local_port_is_refused_and_shown_in_health(
    feed_server: FeedServer,
    internal: FeedServer,
    poller: Poller,
    sqlite_engine: Engine,
    host: str,
) -> None:
    target = f"http://{host}:{internal.port}/secret"
    fid = _add(
        sqlite_engine, feed_server.route("/feed", b"", status=302, headers={"Location": target})
    )

    outcome = await poller.poll(fid, force=True)

    assert outcome.status == "error"
    assert outcome.error is not None
    assert outcome.error.startswith("redirect refused: ")
    assert "loopback address" in outcome.error
    assert "THESISWATCH_ALLOW_PRIVATE_REDIRECTS" in outcome.error
    assert internal.hits == []  # refused before a request was sent
    assert _items(sqlite_engine) == 0
    with Session(sqlite_engine) as s:
        [health] = feed_health(s)
    assert health.last_error == outcome.error
    assert health.consecutive_failures == 1


async def test_a_redirect_on_the_feeds_own_host_and_port_is_followed(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine
) -> None:
    feed_server.route("/new.xml", SECRET)
    fid = _add(
        sqlite_engine,
        feed_server.route(
            "/old", b"", status=301, headers={"Location": feed_server.url("/new.xml")}
        ),
    )

    outcome = await poller.poll(fid, force=True)

    assert (outcome.status, outcome.new_items) == ("new", 1)


async def test_the_setting_allows_private_redirects(
    feed_server: FeedServer, internal: FeedServer, sqlite_engine: Engine, clock: FakeClock
) -> None:
    limits = FetchLimits(read_timeout=2.0, total_timeout=5.0, allow_private_redirects=True)
    fid = _add(
        sqlite_engine,
        feed_server.route("/feed", b"", status=302, headers={"Location": internal.url("/secret")}),
    )
    async with make_client(limits) as client:
        poller = Poller(sqlite_engine, Fetcher(client, limits), clock=clock)
        try:
            outcome = await poller.poll(fid, force=True)
        finally:
            poller.close()

    assert (outcome.status, outcome.new_items) == ("new", 1)
    assert len(internal.hits) == 1


async def test_a_name_that_resolves_public_then_connects_privately_is_refused(
    feed_server: FeedServer, internal: FeedServer, sqlite_engine: Engine, clock: FakeClock
) -> None:
    """DNS rebinding: the check before the request sees a public address, the connection
    goes to 127.0.0.1; what the connection really reached decides, before the body is read."""

    async def public_dns(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.216.34")]  # what the public internet would say

    fid = _add(
        sqlite_engine,
        feed_server.route(
            "/feed",
            b"",
            status=302,
            headers={"Location": f"http://localhost:{internal.port}/secret"},
        ),
    )
    async with make_client(LIMITS) as client:
        poller = Poller(sqlite_engine, Fetcher(client, LIMITS, resolver=public_dns), clock=clock)
        try:
            outcome = await poller.poll(fid, force=True)
        finally:
            poller.close()

    assert outcome.error is not None
    assert outcome.error.startswith("redirect refused: localhost:")
    assert _items(sqlite_engine) == 0


async def test_a_redirect_to_another_scheme_is_refused(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine
) -> None:
    fid = _add(
        sqlite_engine,
        feed_server.route("/feed", b"", status=302, headers={"Location": "file:///etc/passwd"}),
    )

    outcome = await poller.poll(fid, force=True)

    assert outcome.error == "redirect refused: to a file URL"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.2", "loopback"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "private"),
        ("fec0::1", "site-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
        ("8.8.8.8", None),
        ("::ffff:8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load().allow_private_redirects is False
    monkeypatch.setenv("THESISWATCH_ALLOW_PRIVATE_REDIRECTS", "true")
    assert load().allow_private_redirects is True
