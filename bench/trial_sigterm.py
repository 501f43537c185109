"""SIGTERM trial (issue 8 item 14): a real `thesiswatch run` polling many feeds is stopped.

    .venv/bin/python bench/trial_sigterm.py                      # 5,000 feeds, 3 runs
    .venv/bin/python bench/trial_sigterm.py --feeds 500 --runs 5
    git archive main | tar -x -C /tmp/main-copy && \\
        .venv/bin/python bench/trial_sigterm.py --code /tmp/main-copy   # the same trial on main

Each run serves the feeds on 127.0.0.1 (three items each), starts `python -m bot run` on a fresh
SQLite file with the code in ``--code``, sends SIGTERM once as many items are stored as there
are feeds (mid-work: most feeds still polling, evaluations running), and reports its exit
status, the log records carrying a traceback, and the seconds from SIGTERM to exit. A trial,
not a benchmark: it counts faults; the stop time is shown with the load average beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.feedserver import FeedServer, rss  # noqa: E402


def _items(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("select count(*) from item").fetchone()[0])
    except sqlite3.Error:
        return 0


def trial(server: FeedServer, code: Path, feeds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigterm-trial-"))
    lines = ["feeds:"]
    for i in range(feeds):
        lines.append(f"  - {{name: f{i}, url: '{server.url(f'/f{i}.xml')}', tier: wire}}")
    (tmp / "feeds.yaml").write_text("\n".join(lines) + "\n")
    db = tmp / "run.db"
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": f"sqlite:///{db}",
        "THESISWATCH_FEEDS": str(tmp / "feeds.yaml"),
        "THESISWATCH_OPS_PORT": "-1",
        "PYTHONPATH": str(code),
    }
    with (tmp / "stderr.log").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=code,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 600
    while _items(db) < feeds and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    at_signal = _items(db)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    stopped = time.monotonic() - started
    records = [
        json.loads(line)
        for line in (tmp / "stderr.log").read_text().splitlines()
        if line.startswith("{")
    ]
    return {
        "items_at_sigterm": at_signal,
        "exit": proc.returncode,
        "tracebacks": sum(1 for r in records if "exc" in r),
        "errors": sum(1 for r in records if r["level"] in ("ERROR", "CRITICAL")),
        "stop_s": round(stopped, 2),
        "load": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to run (default: this)")
    args = parser.parse_args()
    server = FeedServer()
    # The bot drops connections on SIGTERM: the test server need not print each reset.
    server._httpd.handle_error = lambda *_: None  # type: ignore[method-assign]
    for i in range(args.feeds):
        entries = [
            (f"China curbs rare earth exports {i}-{j}", f"https://x/{i}/{j}") for j in range(3)
        ]
        server.route(f"/f{i}.xml", rss(*entries))
    server.start()
    try:
        runs = [trial(server, args.code.resolve(), args.feeds) for _ in range(args.runs)]
    finally:
        server.stop()
    for run in runs:
        print(json.dumps(run))
    print(
        json.dumps(
            {
                "code": str(args.code),
                "feeds": args.feeds,
                "runs": len(runs),
                "median_tracebacks": statistics.median(r["tracebacks"] for r in runs),
                "median_stop_s": statistics.median(r["stop_s"] for r in runs),
                "exits": [r["exit"] for r in runs],
                "load_1m": [r["load"] for r in runs],
            }
        )
    )


if __name__ == "__main__":
    main()
