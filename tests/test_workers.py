"""Three worker processes on one PostgreSQL database, 200 feeds on 127.0.0.1, one killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from storage.db import make_engine, migrate
from storage.models import alert_t, delivery_t, feed_t, item_t, sighting_t
from tests.helpers.feedserver import FeedServer, rss
from tests.helpers.inline_rules import make_rules_dir

pytestmark = pytest.mark.postgres

FEEDS = 200
INTERVAL = 6  # seconds; the feeds file allows it through THESISWATCH_MIN_FEED_INTERVAL


def _worker(tmp: Path, url: str, feeds: Path, name: str) -> subprocess.Popen[str]:
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": url,
        "THESISWATCH_FEEDS": str(feeds),
        "THESISWATCH_OPS_PORT": "0",
        "THESISWATCH_RULES_DIR": str(make_rules_dir(tmp)),
        "THESISWATCH_MIN_FEED_INTERVAL": "1",
        "THESISWATCH_FETCH_CONCURRENCY": "50",
    }
    with (tmp / f"{name}.out").open("w") as out:  # the child keeps its own copy of the fd
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "thesiswatch"), "run", "--role", "all"],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture
def db(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _polls(db: Engine) -> dict[str, tuple[int, datetime | None]]:
    with Session(db) as s:
        rows = s.execute(select(feed_t.c.name, feed_t.c.polls_total, feed_t.c.last_success_at))
        return {name: (n, at) for name, n, at in rows}


def _count(db: Engine, table: object) -> int:
    with Session(db) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def test_three_workers_share_the_feeds_and_survive_a_kill(
    tmp_path: Path, pg_url: str, db: Engine, feed_server: FeedServer
) -> None:
    # Each feed carries its own story and one syndicated wire story shared by all of them;
    # feed 0 is an official source breaking the H20 leg, which makes exactly one alert.
    shared = ("Dutch government widens ASML servicing licence rule", "https://wire.example/x")
    lines = ["feeds:"]
    for i in range(FEEDS):
        title = "China lifts ban on Nvidia H20 purchases" if i == 0 else f"Desk note {i} on chips"
        body = rss((title, f"https://n.example/{i}"), shared, published=datetime.now(UTC))
        path = feed_server.route(f"/f{i}.xml", body)
        tier = "official" if i == 0 else "press"
        lines.append(f"  - {{name: f{i:03d}, url: '{path}', tier: {tier}, interval: {INTERVAL}}}")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("\n".join(lines) + "\n")

    workers = [_worker(tmp_path, pg_url, feeds, f"w{n}") for n in range(3)]
    try:
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline and min(n for n, _ in _polls(db).values() or [(0, 0)]) < 2
        ):
            time.sleep(0.5)
        assert len(_polls(db)) == FEEDS
        workers[0].kill()  # SIGKILL, mid-flight: its leases must not strand its feeds
        workers[0].wait()
        killed_at = datetime.now(UTC)
        time.sleep(INTERVAL * 3)
        checked_at = datetime.now(UTC)
    finally:
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        for w in workers[1:]:
            try:
                w.wait(timeout=40)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()

    assert all(w.returncode == 0 for w in workers[1:]), [w.returncode for w in workers]
    polls = _polls(db)
    # On time after the kill: every feed polled within an interval, its jitter and a lease
    # sweep (10 s) of the check; none left behind by the dead worker.
    late = {
        name: at
        for name, (_, at) in polls.items()
        if at is None or at < checked_at - timedelta(seconds=INTERVAL * 1.2 + 12)
    }
    assert not late, f"{len(late)} feeds not polled since {killed_at}: {sorted(late)[:5]}"
    # Every item stored once: one per feed plus the shared story, seen by every feed.
    assert _count(db, item_t) == FEEDS + 1
    assert _count(db, sighting_t) == 2 * FEEDS
    # Every alert delivered once, by whichever worker claimed it.
    alerts = _count(db, alert_t)
    assert alerts == 1
    with Session(db) as s:
        statuses = list(s.execute(select(delivery_t.c.status)).scalars())
    assert statuses == ["sent"]
    printed = sum((tmp_path / f"w{n}.out").read_text().count("alert #") for n in range(3))
    assert printed == alerts
