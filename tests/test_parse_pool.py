"""Parsing in a process pool: the same entries, hostile bodies and a dead parser cost one feed."""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.parsepool import _child_init, make_parse_pool, pool_size
from bot.feeds.poller import Poller
from storage.models import feed_t, item_t
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer, rss
from tests.helpers.news import add_feed


class CountingPool(ProcessPoolExecutor):
    """A real spawned pool that counts what it was given."""

    def __init__(self) -> None:
        super().__init__(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_child_init
        )
        self.jobs = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
async def pooled(
    sqlite_engine: Engine, clock: FakeClock
) -> AsyncIterator[tuple[Poller, CountingPool]]:
    pool = CountingPool()
    async with make_client(FetchLimits()) as client:
        poller = Poller(sqlite_engine, Fetcher(client), clock=clock, parse_pool=pool)
        yield poller, pool
        poller.close()
        if poller.parse_pool is not None:
            poller.parse_pool.shutdown(wait=True, cancel_futures=True)


def _titles(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(item_t.c.title).order_by(item_t.c.title)))


async def test_bodies_are_parsed_in_the_pool_and_stored(
    pooled: tuple[Poller, CountingPool], feed_server: FeedServer, sqlite_engine: Engine
) -> None:
    poller, pool = pooled
    url = feed_server.route(
        "/f",
        rss(
            ("China curbs gallium", "https://x.example/1"),
            ("Dutch widen rule", "https://x.example/2"),
        ),
        etag='"v1"',
    )
    feed = add_feed(sqlite_engine, "f", url, "wire")

    first = await poller.poll(feed, force=True)
    again = await poller.poll(feed, force=True)  # 304: nothing to parse

    assert (first.status, first.new_items) == ("new", 2)
    assert again.status == "not_modified"
    assert pool.jobs == 1
    assert _titles(sqlite_engine) == ["China curbs gallium", "Dutch widen rule"]


async def test_hostile_xml_through_the_pool_is_the_feeds_failure(
    pooled: tuple[Poller, CountingPool], feed_server: FeedServer, sqlite_engine: Engine
) -> None:
    poller, _ = pooled
    lol = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    bomb = feed_server.route(
        "/bomb",
        f'<?xml version="1.0"?><!DOCTYPE rss [{lol}]><rss version="2.0"><channel>'
        "<title>t</title><item><title>&lol9;</title><link>https://x.example/b</link></item>"
        "</channel></rss>",
    )
    noise = feed_server.route("/noise", b"\x00\xff" * 500)
    for name, url in (("bomb", bomb), ("noise", noise)):
        await poller.poll(add_feed(sqlite_engine, name, url, "wire"), force=True)

    assert all(len(t) < 1000 for t in _titles(sqlite_engine))
    with Session(sqlite_engine) as s:
        errors = {n: e for n, e in s.execute(select(feed_t.c.name, feed_t.c.last_error))}
    assert errors["noise"] is not None


async def test_a_parser_process_that_dies_costs_one_poll(
    pooled: tuple[Poller, CountingPool], feed_server: FeedServer, sqlite_engine: Engine
) -> None:
    poller, pool = pooled
    url = feed_server.route("/f", rss(("China curbs gallium", "https://x.example/1")))
    feed = add_feed(sqlite_engine, "f", url, "wire")
    assert pool.submit(int, 1).result(timeout=60) == 1  # the process is up
    for process in list(pool._processes.values()):
        process.kill()
        process.join(timeout=30)

    failed = await poller.poll(feed, force=True)
    retried = await poller.poll(feed, force=True)

    assert failed.status == "error"
    assert "parser process died" in (failed.error or "")
    assert (retried.status, retried.new_items) == ("new", 1)  # a fresh pool read it
    assert poller.parse_pool is not pool


def test_pool_size() -> None:
    assert pool_size(-1, cores=1) == 0  # one core: parse in-process
    assert pool_size(-1, cores=2) == 1
    assert pool_size(-1, cores=8) == 7
    assert pool_size(3, cores=8) == 3
    assert pool_size(0, cores=8) == 0
    assert make_parse_pool(0) is None
