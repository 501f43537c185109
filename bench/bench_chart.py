"""/chart: reading the ledger and drawing the PNG, before (main at 7b15641) and now.

    .venv/bin/python bench/bench_chart.py                 # 400 moves, 500 alerts, 3 runs
    .venv/bin/python bench/bench_chart.py --moves 2000 --runs 5

A SQLite file gets a busy history: 4 legs, ``--moves`` transitions and ``--alerts`` alerts
spread over 60 days, and 2,000 items. Then, in this same process, each path is warmed once and
timed ``--runs`` times, interleaved (old, new, old, new...), from the database read to the PNG
bytes, for a 30-day chart:

- old: every transition and the last 500 alerts, drawn by the old ``draw_states`` (pyplot, one
  ``barh`` per segment, ``tight_layout``); its source is read from git (``git show``).
- new: what ``chart_png`` reads (the moves in the window and the state at its start, the
  alerts in the window, the first item's time), drawn by ``bot.views.chart.draw_states``.

Then the cold case, each in a fresh interpreter: import and first draw. The running bot pays
that at start (``warm_up`` in the background), not at the first /chart.

Prints medians, the ratio new/old and the load average. Ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.views.chart import Marker, draw_states  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.history import alerts_between, chart_moves, first_seen_at  # noqa: E402
from storage.models import feed_t, item_t, story_t, transition_t  # noqa: E402
from storage.outbox import add_alert, recent_alerts  # noqa: E402
from storage.signals import add_transition  # noqa: E402

BASELINE = "7b15641"  # main before issue 11
# Every row belongs to a thesis (several theses share one database).
THESIS = "chip-for-rare-earth"
LEGS = ["h20-ban", "wfe-controls", "rare-earth-leverage", "no-trade-deal"]
STATES = ["intact", "challenged", "broken", "reversed"]
NOW = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)


def _old_source() -> str:
    return subprocess.run(  # noqa: S603 (fixed arguments)
        ["git", "show", f"{BASELINE}:bot/views/chart.py"],  # noqa: S607 (git on the PATH)
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _old_module(source: str) -> types.ModuleType:
    module = types.ModuleType("old_chart")
    exec(compile(source, "old_chart.py", "exec"), module.__dict__)  # noqa: S102 (our own past)
    return module


def _fill(engine: Engine, moves: int, alerts: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = NOW - timedelta(days=60)
    with Session(engine) as s, s.begin():
        feed = s.execute(
            insert(feed_t)
            .values(name="f", url="https://f.example/", tier="wire", interval_s=300, topics=[])
            .returning(feed_t.c.id)
        ).scalar_one()
        story = s.execute(
            insert(story_t)
            .values(
                key="k",
                title="t",
                title_sig="t",
                first_published_at=start,
                last_published_at=start,
                created_at=start,
            )
            .returning(story_t.c.id)
        ).scalar_one()
        s.execute(
            insert(item_t),
            [
                {
                    "story_id": story,
                    "feed_id": feed,
                    "tier": "wire",
                    "publisher": "p",
                    "title": f"item {n}",
                    "summary": "",
                    "url": f"https://f.example/{n}",
                    "content_hash": f"h{n}",
                    "published_at": start + timedelta(minutes=40 * n),
                    "first_seen_at": start + timedelta(minutes=40 * n),
                    "revision": 1,
                }
                for n in range(2000)
            ],
        )
        times = sorted(start + timedelta(seconds=rng.randrange(60 * 86_400)) for _ in range(moves))
        state = dict.fromkeys(LEGS, "intact")
        for at in times:
            leg = rng.choice(LEGS)
            new = rng.choice([x for x in STATES if x != state[leg]])
            add_transition(
                s,
                thesis=THESIS,
                leg=leg,
                old=state[leg],
                new=new,
                at=at,
                reason="r",
                version="v",
                evidence=[],
            )
            state[leg] = new
        for n in range(alerts):
            at = start + timedelta(seconds=rng.randrange(60 * 86_400))
            add_alert(
                s,
                kind="transition",
                leg=rng.choice(LEGS),
                severity="high",
                old_state="intact",
                new_state=rng.choice(STATES),
                confirmed=True,
                created_at=at,
                payload={"n": n},
                targets=[],
                thesis=THESIS,
            )


def _old_path(engine: Engine, old: types.ModuleType) -> bytes:
    """What /chart did on main: every transition, the last 500 alerts, the old drawer."""
    with Session(engine) as session:
        rows = session.execute(
            select(transition_t.c.at, transition_t.c.leg, transition_t.c.new_state).order_by(
                transition_t.c.at
            )
        )
        timeline = [(at, leg, st) for at, leg, st in rows]
        alerts = [(a.created_at, a.leg) for a in recent_alerts(session, 500)]
    png: bytes = old.draw_states(
        LEGS, timeline, alerts, start=NOW - timedelta(days=30), end=NOW, title="old"
    )
    return png


def _new_path(engine: Engine) -> bytes:
    start = NOW - timedelta(days=30)
    with Session(engine) as session:
        moves = chart_moves(session, start, NOW, THESIS)
        marks = [
            Marker(a.at, a.leg, f"#{a.id} {a.new_state or 'early'}")
            for a in alerts_between(session, start, NOW, THESIS)
        ]
        data_from = first_seen_at(session)
    return draw_states(
        LEGS,
        [(m.at, m.leg, m.new) for m in moves],
        marks,
        start=start,
        end=NOW,
        title="new",
        data_from=data_from,
    )


def _time(fn: Callable[[], bytes]) -> float:
    started = time.perf_counter()
    png = fn()
    took = time.perf_counter() - started
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return took


_COLD_OLD = """
import sys, time, types
t = time.perf_counter()
src = sys.stdin.read()
m = types.ModuleType("old_chart"); exec(compile(src, "old_chart.py", "exec"), m.__dict__)
from datetime import datetime, timedelta, UTC
now = datetime(2025, 11, 10, tzinfo=UTC)
m.draw_states(["a", "b", "c", "d"], [], [(now, "a")], start=now - timedelta(days=30), end=now)
print(time.perf_counter() - t)
"""
_COLD_NEW = """
import time
t = time.perf_counter()
from bot.views.chart import warm_up
warm_up()
print(time.perf_counter() - t)
"""


def _cold(code: str, stdin: str = "") -> float:
    done = subprocess.run(  # noqa: S603 (this interpreter, our own code)
        [sys.executable, "-c", code],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=400)
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    source = _old_source()
    old = _old_module(source)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(f"sqlite:///{Path(tmp) / 'chart.db'}")
        _fill(engine, args.moves, args.alerts)
        _old_path(engine, old)  # warm: imports, fonts, caches
        _new_path(engine)
        olds, news = [], []
        for n in range(args.runs):
            olds.append(_time(lambda: _old_path(engine, old)))
            news.append(_time(lambda: _new_path(engine)))
            print(f"  run {n + 1}: old {olds[-1]:.3f}s  new {news[-1]:.3f}s", file=sys.stderr)
        engine.dispose()
    cold_old = [_cold(_COLD_OLD, source) for _ in range(args.runs)]
    cold_new = [_cold(_COLD_NEW) for _ in range(args.runs)]
    old_m, new_m = statistics.median(olds), statistics.median(news)
    print(f"/chart, 30 days over {args.moves} moves and {args.alerts} alerts, {args.runs} runs")
    print(f"  warm  old {old_m:.3f}s  new {new_m:.3f}s  new/old {new_m / old_m:.2f}  (median)")
    cold_o, cold_n = statistics.median(cold_old), statistics.median(cold_new)
    print(
        f"  cold  old {cold_o:.3f}s  new {cold_n:.3f}s  new/old {cold_n / cold_o:.2f}"
        "  (import + first draw, fresh interpreter)"
    )
    print(
        f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
