"""`thesiswatch run` as a real process: it polls, and SIGTERM/SIGINT stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.feedserver import FeedServer, rss


def _items(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("select count(*) from item").fetchone()[0])
    except sqlite3.OperationalError:  # schema not there yet
        return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_polls_then_stops_cleanly_on_a_signal(
    tmp_path: Path, feed_server: FeedServer, sig: signal.Signals
) -> None:
    feed_server.route("/a.xml", rss(("Dutch widen ASML licence rule", "https://x.example/a")))
    feed_server.route("/b.xml", rss(("China suspends rare earth curbs", "https://x.example/b")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        f"  - {{name: a, url: '{feed_server.url('/a.xml')}', tier: wire}}\n"
        f"  - {{name: b, url: '{feed_server.url('/b.xml')}', tier: press}}\n"
    )
    db = tmp_path / "run.db"
    ops_port = _free_port()
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": f"sqlite:///{db}",
        "THESISWATCH_FEEDS": str(feeds),
        "THESISWATCH_OPS_PORT": str(ops_port),
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
        deadline = time.monotonic() + 30
        while _items(db) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert _items(db) == 2, "both feeds are polled right after start"
        health = _get(ops_port, "/healthz")
        metrics = _get(ops_port, "/metrics")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(health)["status"] == "ok"
    assert 'thesiswatch_feed_polls_total{status="new"} 2.0' in metrics
    assert "polling 2 feeds" in err
    assert "stopping" in err
    assert "Traceback" not in err
