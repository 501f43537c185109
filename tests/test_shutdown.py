"""SIGTERM to a real `thesiswatch run` in the middle of polling and evaluating many feeds.

It exits 0 without a traceback, and nothing is lost: what it stored is stored once, and a
restart evaluates what it had not, exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller
from storage.feeds import sync_feeds
from storage.leases import release_owner
from storage.models import item_t
from storage.records import FeedDef
from tests.helpers.feedserver import FeedServer, rss

FEEDS = 200
PER_FEED = 4
HEADLINES = (
    "China tells firms to avoid Nvidia H20 chips",
    "Dutch widen ASML servicing licence rule",
    "China suspends rare earth export curbs",
    "US and China trade talks stall again",
)


def one(db: Path, sql: str) -> Any:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchone()[0]


def items(db: Path) -> int:
    try:
        return int(one(db, "select count(*) from item"))
    except sqlite3.Error:  # not created yet
        return 0


def run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    err = (tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}.log").open("w")
    with err:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run", *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def many_feeds(tmp_path: Path, feed_server: FeedServer) -> Path:
    lines = ["feeds:"]
    for f in range(FEEDS):
        entries = [
            (f"{HEADLINES[i % len(HEADLINES)]} ({f}-{i})", f"https://x.example/{f}/{i}")
            for i in range(PER_FEED)
        ]
        feed_server.route(f"/f{f}.xml", rss(*entries))
        lines.append(f"  - {{name: f{f}, url: '{feed_server.url(f'/f{f}.xml')}', tier: wire}}")
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sigterm_mid_work_exits_quietly_and_loses_nothing(tmp_path: Path, many_feeds: Path) -> None:
    db = tmp_path / "run.db"
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": f"sqlite:///{db}",
        "THESISWATCH_FEEDS": str(many_feeds),
        "THESISWATCH_OPS_PORT": "-1",
    }
    proc = run(tmp_path, env)
    try:
        deadline = time.monotonic() + 60
        # Mid-work: some feeds stored and being evaluated, most still to poll.
        while items(db) < FEEDS * PER_FEED // 4:
            assert proc.poll() is None, "run died"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    first = records(tmp_path / "stderr-0.log")
    at_stop = items(db)
    assert at_stop < FEEDS * PER_FEED, "the signal came after the work: not mid-work"

    again = run(tmp_path, env, "--once")
    assert again.wait(timeout=120) == 0
    second = records(tmp_path / "stderr-1.log")

    assert proc.returncode == 0
    noisy = [r for r in first if "exc" in r or r["level"] in ("ERROR", "CRITICAL")]
    assert noisy == [], noisy[:3]
    assert not any("CancelledError" in r["message"] for r in first)
    assert [r for r in second if "exc" in r] == []
    # Stored once each, all of them after the restart, each evaluated, none twice.
    assert one(db, "select count(*) from item") == FEEDS * PER_FEED
    assert one(db, "select count(distinct url) from item") == FEEDS * PER_FEED
    assert one(db, "select count(*) from item where evaluated_at is null") == 0
    assert one(db, "select count(*) from feed where lease_owner is not null") == 0
    assert (
        one(
            db,
            "select count(*) from (select item_id, rule_id from signal "
            "group by item_id, rule_id having count(*) > 1)",
        )
        == 0
    )
    assert one(db, "select count(*) from signal") > 0


async def test_a_stopping_poller_drops_its_fetch_and_the_next_start_stores_the_feed(
    sqlite_engine: Engine, feed_server: FeedServer
) -> None:
    path = "/slow.xml"
    url = feed_server.route(path, rss((HEADLINES[0], "https://x.example/slow")), delay=30)
    with Session(sqlite_engine) as s, s.begin():
        [feed_id] = sync_feeds(s, [FeedDef("slow", url, "wire", 300)], deactivate_others=False)
    limits = FetchLimits(read_timeout=60, total_timeout=60)
    async with make_client(limits) as client:
        poller = Poller(sqlite_engine, Fetcher(client, limits), owner="host:1:a")
        polling = asyncio.ensure_future(poller.poll(feed_id, force=True))
        # The server's thread records the request: then the fetch is in flight.
        while not feed_server.hits_for(path):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        poller.stop()
        dropped = await polling
        late = await poller.poll(feed_id, force=True)  # after the stop: not even claimed
        poller.close()
        with Session(sqlite_engine) as s, s.begin():  # as the shutdown does
            release_owner(s, "host:1:a")

        feed_server.route(path, rss((HEADLINES[0], "https://x.example/slow")))
        restarted = Poller(sqlite_engine, Fetcher(client, limits), owner="host:2:b")
        again = await restarted.poll(feed_id, force=True)
        restarted.close()
    assert (dropped.status, late.status) == ("skipped", "skipped")
    assert len(feed_server.hits_for(path)) == 2
    assert again.status == "new"
    with Session(sqlite_engine) as s:
        assert s.scalar(select(func.count()).select_from(item_t)) == 1
