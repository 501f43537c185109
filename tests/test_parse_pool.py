"""Parsing in a process pool: the same entries, hostile bodies and a dead parser cost one feed."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
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

ROOT = Path(__file__).resolve().parents[1]


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


_OWNER = """
import os, sys, time
from multiprocessing import resource_tracker
from bot.feeds.parsepool import make_parse_pool
if __name__ == "__main__":
    pool = make_parse_pool(1)
    child = pool.submit(os.getpid).result(timeout=60)
    print(child, resource_tracker._resource_tracker._pid, flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_parser_processes_exit_when_their_owner_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(_OWNER)
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    ) as owner:
        assert owner.stdout is not None
        pids = [int(p) for p in owner.stdout.readline().split()]
        assert len(pids) == 2
        assert all(_alive(p) for p in pids)
        owner.kill()  # SIGKILL, as the OOM killer does: no shutdown, the queue never closes
        owner.wait(timeout=30)

    deadline = time.monotonic() + 30  # a liveness bound, not a speed check: they check each 1 s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if _alive(p)] == []  # neither the parser nor the resource tracker


def test_pool_size() -> None:
    assert pool_size(-1, cores=1) == 0  # one core: parse in-process
    assert pool_size(-1, cores=2) == 1
    assert pool_size(-1, cores=8) == 7
    assert pool_size(3, cores=8) == 3
    assert pool_size(0, cores=8) == 0
    assert make_parse_pool(0) is None
