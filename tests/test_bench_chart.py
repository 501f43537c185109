"""`make bench` runs bench/bench_chart.py: a tiny run keeps it in step with storage's API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_chart_benchmark_runs_on_a_small_history() -> None:
    done = subprocess.run(
        [sys.executable, "bench/bench_chart.py", "--moves", "8", "--alerts", "8", "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "/chart, 30 days over 8 moves and 8 alerts, 1 runs" in done.stdout
    assert "new/old" in done.stdout
