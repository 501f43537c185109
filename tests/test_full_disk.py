"""A database that refuses writes (a full disk): one line per failure, red health, no loss.

Real refusals: in-process a real SQLite file capped by ``PRAGMA max_page_count`` (SQLITE_FULL)
and the local PostgreSQL in read-only transactions; and a real `thesiswatch run` whose SQLite
file sits on a small tmpfs that a filler file fills (skipped where mounting is not allowed).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller
from bot.jobs import Pipeline
from bot.ops.leader import Leadership
from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer, engine_check
from bot.pipeline.console import CONSOLE
from bot.pipeline.evaluate import Evaluator
from bot.pipeline.rulebook import Rulebook
from storage.db import make_engine
from storage.feeds import feed_health, sync_feeds
from storage.models import item_t
from storage.records import FeedDef
from tests.conftest import FakeClock
from tests.helpers.db import T0, entry, feeds, store
from tests.helpers.feedserver import FeedServer, rss
from tests.helpers.inline_rules import make_rules_dir


def stories(feed: int, n: int) -> list[tuple[str, str]]:
    # Long summaries (the rss helper repeats the title), so storing them needs new pages.
    return [
        (
            f"Feed {feed} story {i} on export curbs " + "detail " * 150,
            f"https://x.example/{feed}/{i}",
        )
        for i in range(n)
    ]


@contextmanager
def writes_refused(engine: Engine) -> Iterator[None]:
    """Every connection checked out meanwhile refuses to grow the database or to write."""
    on = True

    def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cur = dbapi_conn.cursor()
        if engine.dialect.name == "sqlite":
            # No page beyond those the file has now: SQLite answers SQLITE_FULL, as on a full disk.
            pages = cur.execute("PRAGMA page_count").fetchone()[0] if on else 1073741823
            cur.execute(f"PRAGMA max_page_count = {int(pages)}")
        else:
            cur.execute(
                f"SET SESSION CHARACTERISTICS AS TRANSACTION READ {'ONLY' if on else 'WRITE'}"
            )
            dbapi_conn.commit()
        cur.close()

    event.listen(engine, "checkout", checkout)
    try:
        yield
    finally:
        on = False
        # Pooled connections are checked out again, and lifted, before their next use.


@pytest.fixture
async def poller(engine: Engine, clock: FakeClock) -> AsyncIterator[Poller]:
    limits = FetchLimits(read_timeout=2.0, total_timeout=5.0)
    async with make_client(limits) as client:
        p = Poller(engine, Fetcher(client, limits), clock=clock)
        yield p
        p.close()


def item_urls(engine: Engine) -> set[str]:
    with Session(engine) as s:
        return {str(u) for u in s.scalars(select(item_t.c.url))}


async def health(ops: OpsServer) -> tuple[int, dict[str, Any]]:
    return await ops.health()


async def test_refused_writes_log_one_line_each_turn_health_red_and_lose_nothing(
    engine: Engine,
    poller: Poller,
    feed_server: FeedServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = feed_server.route("/f.xml", rss(*stories(0, 2)))
    with Session(engine) as s, s.begin():
        [feed_id] = sync_feeds(s, [FeedDef("f", url, "wire", 300)], deactivate_others=False)
    metrics = Metrics()
    ops = OpsServer(metrics, engine_check(engine), port=0, max_poll_age=None, clock=clock)
    metrics.record_poll(await poller.poll(feed_id, force=True))
    before = item_urls(engine)
    assert len(before) == 2
    wanted = stories(0, 120)
    feed_server.route("/f.xml", rss(*wanted))
    caplog.set_level(logging.INFO)

    with writes_refused(engine):
        caplog.clear()
        refused = await poller.poll(feed_id, force=True)
        metrics.record_poll(refused, now=clock.now)
        lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
        red, body = await health(ops)
        held = item_urls(engine)

    clock.advance(minutes=1)
    recovered = await poller.poll(feed_id, force=True)
    metrics.record_poll(recovered, now=clock.now)
    green, after = await health(ops)

    expected = (
        "SQLITE_FULL: database or disk is full"
        if engine.dialect.name == "sqlite"
        else "ReadOnlySqlTransaction (SQLSTATE 25006)"
    )
    assert (refused.status, refused.db_error, refused.error) == (
        "error",
        expected,
        f"database: {expected}",
    )
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None
    assert expected in lines[0].getMessage()
    assert held == before
    assert red == 503
    assert body["writes"] == "failing"
    since = clock.now - timedelta(minutes=1)
    assert body["reason"] == (
        f"database writes failing since {since.isoformat(timespec='seconds')}: {expected}"
    )
    assert recovered.status == "new"
    assert item_urls(engine) == {link for _, link in wanted}
    assert (green, after["writes"]) == (200, "ok")
    with Session(engine) as s:
        [row] = feed_health(s)
    assert row.consecutive_failures == 0


async def test_a_refused_write_is_recorded_in_the_feeds_health_when_it_can_be(
    sqlite_engine: Engine, feed_server: FeedServer, clock: FakeClock
) -> None:
    # SQLite at its page cap still takes an update in place: the failure is in /feeds and the
    # CLI, not only in the log.
    url = feed_server.route("/f.xml", rss(*stories(0, 1)))
    with Session(sqlite_engine) as s, s.begin():
        [feed_id] = sync_feeds(s, [FeedDef("f", url, "wire", 300)], deactivate_others=False)
    limits = FetchLimits(read_timeout=2.0, total_timeout=5.0)
    async with make_client(limits) as client:
        poller = Poller(sqlite_engine, Fetcher(client, limits), clock=clock)
        try:
            await poller.poll(feed_id, force=True)
            feed_server.route("/f.xml", rss(*stories(0, 120)))
            with writes_refused(sqlite_engine):
                outcome = await poller.poll(feed_id, force=True)
        finally:
            poller.close()
    with Session(sqlite_engine) as s:
        [row] = feed_health(s)
    assert outcome.status == "error"
    assert row.last_error == "database: SQLITE_FULL: database or disk is full"
    # The database, not the feed, failed: the next poll keeps the feed's own interval.
    assert row.next_poll_at is not None
    assert 270 <= (row.next_poll_at - clock.now).total_seconds() <= 330


# -- a real process on a real full disk --------------------------------------------------------

FEEDS = 3


def _tool(name: str) -> str:
    return shutil.which(name) or f"/bin/{name}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = [_tool("mount"), "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); SQLITE_FULL is covered in-process")
    yield disk
    subprocess.run([_tool("umount"), "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk says no more, down to its last byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    refused = []
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                refused.append(exc.errno)
    finally:
        os.close(fd)
    assert set(refused) == {errno.ENOSPC}
    return filler


def stored(db: Path) -> set[str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return {str(r[0]) for r in conn.execute("select url from item")}
    except sqlite3.Error:
        return set()


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def wait_for(what: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert proc.poll() is None, "the process died"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_on_a_full_disk_logs_a_line_per_failure_turns_red_and_loses_nothing(
    small_disk: Path, tmp_path: Path, feed_server: FeedServer
) -> None:
    def publish(n: int) -> set[str]:
        urls: set[str] = set()
        for f in range(FEEDS):
            entries = stories(f, n)
            feed_server.route(f"/f{f}.xml", rss(*entries))
            urls |= {link for _, link in entries}
        return urls

    first = publish(2)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{name: f{f}, url: '{feed_server.url(f'/f{f}.xml')}', tier: wire, "
            "interval: 2s}\n"
            for f in range(FEEDS)
        )
    )
    db = small_disk / "run.db"
    port = free_port()
    log = tmp_path / "stderr.log"
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": f"sqlite:///{db}",
        "THESISWATCH_FEEDS": str(feeds),
        "THESISWATCH_OPS_PORT": str(port),
        "THESISWATCH_MIN_FEED_INTERVAL": "1",
    }
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stderr=err, text=True
        )
    try:
        wait_for(lambda: stored(db) == first, proc)
        filler = fill(small_disk)
        start = len(records(log))
        later = publish(150)

        def failures() -> list[dict[str, Any]]:
            return [r for r in records(log)[start:] if r["level"] in ("WARNING", "ERROR")]

        wait_for(lambda: len(failures()) >= 2 * FEEDS, proc)
        red, body = get(port, "/healthz")
        during = stored(db)

        filler.unlink()
        wait_for(lambda: stored(db) == later and get(port, "/healthz")[0] == 200, proc)
        _, metrics = get(port, "/metrics")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    logged = records(log)
    assert proc.returncode == 0
    assert during == first
    assert red == 503
    assert "database writes failing since" in json.loads(body)["reason"]
    assert "SQLITE_FULL" in json.loads(body)["reason"]
    assert [r for r in logged if "exc" in r or "Traceback" in r["message"]] == []
    # One line per failed poll: as many poller lines as the metrics count database failures.
    polls = [
        r
        for r in logged
        if r["logger"] in ("bot.feeds.poller", "bot.feeds.recording") and "database" in r["message"]
    ]
    [counted] = [
        line.rsplit(" ", 1)[1]
        for line in metrics.splitlines()
        if line.startswith('thesiswatch_feed_failures_total{reason="database"}')
    ]
    assert len(polls) == int(float(counted)) >= FEEDS


async def test_a_refused_evaluation_is_one_line_and_red_until_one_goes_through(
    engine: Engine, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    [gov] = feeds(engine, "mofcom", tier="official")
    # Enough signals that writing them needs pages the capped SQLite file does not have.
    news = [
        entry(f"China lifts ban on Nvidia H20 purchases, step {i}", f"https://gov/{i}")
        for i in range(300)
    ]
    store(engine, gov, *news, tier="official")
    rulebook = Rulebook(make_rules_dir(tmp_path), T0)
    limits = FetchLimits()
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits), clock=lambda: T0)
        pipeline = Pipeline(
            engine, poller, rulebook, Evaluator(rulebook, [CONSOLE]), clock=lambda: T0
        )
        caplog.set_level(logging.INFO)
        try:
            with writes_refused(engine):
                caplog.clear()
                refused = await pipeline.evaluate()
                lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
                red = pipeline.metrics.write_error
            evaluated = await pipeline.evaluate()
            green = pipeline.metrics.writes_failing_since
        finally:
            poller.close()
    expected = (
        "SQLITE_FULL: database or disk is full"
        if engine.dialect.name == "sqlite"
        else "ReadOnlySqlTransaction (SQLSTATE 25006)"
    )
    assert refused.items == 0
    assert [(r.name, r.getMessage(), r.exc_info) for r in lines] == [
        (
            "bot.jobs",
            f"evaluation failed: database {expected}; it runs again on its next tick",
            None,
        )
    ]
    assert red == expected
    assert evaluated.items == len(news)
    assert evaluated.signals == len(news)
    assert green is None


async def test_a_job_whose_database_is_gone_logs_one_line_not_a_traceback(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The bot-lock step on a PostgreSQL that does not answer (nothing listens on port 9).
    gone = make_engine("postgresql://postgres@127.0.0.1:9/none")
    rulebook = Rulebook(make_rules_dir(tmp_path), T0)
    limits = FetchLimits()
    async with make_client(limits) as client:
        poller = Poller(sqlite_engine, Fetcher(client, limits))
        pipeline = Pipeline(sqlite_engine, poller, rulebook, Evaluator(rulebook, [CONSOLE]))

        async def step() -> bool:
            return await asyncio.to_thread(Leadership(gone).try_acquire)

        caplog.set_level(logging.INFO)
        try:
            result = await pipeline.tracked(step)()
        finally:
            poller.close()
            gone.dispose()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert result is None
    assert [(r.name, r.exc_info) for r in lines] == [("bot.jobs", None)]
    assert lines[0].getMessage().startswith("test_a_job_whose_database_is_gone")
    assert "failed: database OperationalError" in lines[0].getMessage()
    assert pipeline.metrics.writes_failing_since is not None
