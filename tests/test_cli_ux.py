"""The command line as a trader meets it: quiet logs, clear errors, times, JSON for scripts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.feedserver import FeedServer, rss


def _items(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("select count(*) from item").fetchone()[0])
    except sqlite3.OperationalError:  # no file or no schema yet
        return 0


def _thesiswatch(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_bad_feeds_file_prints_its_error_and_nothing_else(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: a\n    tier: tabloid\n    url: https://a/\n")
    done = _thesiswatch(tmp_path, "run", "--once", env={"THESISWATCH_FEEDS": str(feeds)})
    assert done.returncode == 1
    assert done.stderr == (
        f"thesiswatch: 1 problem(s):\n{feeds}:3:11: tier must be one of official, wire, press, "
        "blog\n"
    )
    assert not (tmp_path / "data").exists()  # nor was a database made for nothing


def test_a_running_process_logs_only_its_own_lines(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.route("/a.xml", rss(("Dutch widen ASML licence rule", "https://x.example/a")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - {{name: a, url: '{feed_server.url('/a.xml')}', tier: wire}}\n")
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "THESISWATCH_FEEDS": str(feeds),
        "THESISWATCH_OPS_PORT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Stopped once the poll is stored: a stop in mid-poll is another test's business.
        while _items(tmp_path / "run.db") < 1 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in err.splitlines()]
    assert any("polling 1 feeds" in e["message"] for e in lines)
    strangers = [e for e in lines if not e["logger"].startswith(("bot.", "rules.", "storage."))]
    assert strangers == [], strangers[0].get("exc")
