"""Alert latency: item stored -> message accepted by Telegram, woken delivery against the tick.

    .venv/bin/python bench/bench_latency.py            # 3 runs x 20 items per mode, ~2 min
    .venv/bin/python bench/bench_latency.py --quick    # 3 runs x 6 items per mode, ~45 s

Issue 10 goal 5: p50 <= 50 ms and p95 <= 250 ms for a private chat at up to one alert per
second, with Telegram's limits held (no 429). The path is the running process's: a real PTB
``Application`` (``bot.telegram.bot.build_application``: AIORateLimiter, max_retries=0)
against the Bot API emulator (``tests/helpers/botapi.py``) with its flood limits enforced as
429s; a fresh SQLite (WAL) file per run; every database call on one thread
(``bot.feeds.poller.Poller.in_db``); each item stored as a poll stores it, then
``bot.app.Pipeline.evaluate`` (the rules, one break alert per item into the outbox), exactly
as ``Pipeline.poll`` does after a poll that found something new.

Two modes, interleaved run by run so that both see the same machine:

- ``tick`` (the baseline: delivery as before goal 5): ``TelegramNotifier.deliver_due`` on the
  fixed 2 s grid of ``bot.app.DELIVER_S`` (APScheduler IntervalTrigger, coalescing).
- ``wake``: ``TelegramNotifier.serve`` woken by ``Pipeline.evaluate`` when it committed an
  alert, its tick (2 s) only a fallback.

Arrivals: one item every 1.0-1.5 s (uniform), never faster than one a second; the same seeded
sequence in both modes. Latency is from just before the store call to the emulator accepting
the message, both on this process's monotonic clock. Figures: p50/p95/max per run, and the
median over runs; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import delete  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.app import DELIVER_S, Pipeline  # noqa: E402
from bot.feeds.fetch import Fetcher, FetchLimits, make_client  # noqa: E402
from bot.feeds.poller import Poller  # noqa: E402
from bot.pipeline.evaluate import Evaluator, chat_router  # noqa: E402
from bot.pipeline.rulebook import Rulebook  # noqa: E402
from bot.telegram.bot import BotDeps, build_application  # noqa: E402
from bot.telegram.delivery import TelegramNotifier  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.models import board_t  # noqa: E402
from tests.helpers.botapi import run_emulator  # noqa: E402
from tests.helpers.db import entry, feeds, store  # noqa: E402
from tests.helpers.inline_rules import make_rules_dir  # noqa: E402

__all__ = ["main"]

DESK = 9001
MODES = ("tick", "wake")


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] if s else float("nan")


@dataclass
class Run:
    mode: str
    latencies: list[float]
    missing: int
    enforced_429: int
    store_s: list[float]  # the store call
    evaluate_s: list[float]  # Pipeline.evaluate
    deliver_s: list[float]  # evaluate done -> accepted
    committed: list[float]  # the store call returned (the item committed) -> accepted


async def one_run(folder: Path, mode: str, items: int, seed: int) -> Run:
    db = open_database(f"sqlite:///{folder / 'latency.db'}")
    [gov] = feeds(db, "gov", tier="official")
    rng = random.Random(seed)  # the same arrivals in both modes
    gaps = [rng.uniform(1.0, 1.5) for _ in range(items)]
    rulebook = Rulebook(make_rules_dir(folder), datetime.now(UTC))
    limits = FetchLimits()
    stored_at: dict[str, float] = {}
    evaluated_at: dict[str, float] = {}
    committed_at: dict[str, float] = {}
    store_s: list[float] = []
    evaluate_s: list[float] = []
    async with run_emulator() as emu, make_client(limits) as client:
        emu.add_chat(DESK, "private")
        emu.enforce_limits()  # 1/s per chat, 30/s overall, answered with real 429s
        poller = Poller(db, Fetcher(client, limits))
        deps = BotDeps(db, poller.in_db, rulebook, frozenset({DESK}), frozenset())
        app = build_application(emu.token, deps, base_url=emu.base_url)
        async with app:
            notifier = TelegramNotifier(app.bot, db, poller.in_db)
            pipeline = Pipeline(
                db,
                poller,
                rulebook,
                Evaluator(rulebook, chat_router([DESK])),
                # The baseline: nothing wakes delivery, the tick alone finds the alerts.
                telegram=notifier if mode == "wake" else None,
            )
            stop = asyncio.Event()
            if mode == "wake":
                delivery = asyncio.create_task(notifier.serve(stop, tick=DELIVER_S))
            else:
                delivery = asyncio.create_task(tick(notifier, stop))

            def reset_board() -> None:
                # Bench only: every item finds the leg intact, so each breaks it and alerts.
                with Session(db) as s, s.begin():
                    s.execute(delete(board_t))

            for i, gap in enumerate(gaps):
                await asyncio.sleep(gap)
                await poller.in_db(reset_board)
                tag = f"[b{i:03d}]"
                now = datetime.now(UTC)
                e = entry(f"China lifts H20 ban {tag}", f"https://gov.example/{i}", at=now)
                stored_at[tag] = time.monotonic()
                await poller.in_db(functools.partial(store, db, gov, e, tier="official", now=now))
                stored = committed_at[tag] = time.monotonic()
                await pipeline.evaluate()  # as Pipeline.poll does after a poll with news
                evaluated_at[tag] = time.monotonic()
                store_s.append(stored - stored_at[tag])
                evaluate_s.append(evaluated_at[tag] - stored)
            with contextlib.suppress(AssertionError):  # what is missing by then is counted
                await emu.wait_sent(items, chat_id=DESK, timeout=10)
            stop.set()
            await delivery
        poller.close()
    db.dispose()
    latencies, deliver_s, committed = [], [], []
    for tag, t in stored_at.items():
        accepted = [m.time for m in emu.sent_to(DESK) if tag in m.plain_text][:1]
        latencies += [a - t for a in accepted]
        deliver_s += [a - evaluated_at[tag] for a in accepted]
        committed += [a - committed_at[tag] for a in accepted]
    enforced = sum(v.enforced for v in emu.rate_violations)
    missing = items - len(latencies)
    return Run(mode, latencies, missing, enforced, store_s, evaluate_s, deliver_s, committed)


async def tick(notifier: TelegramNotifier, stop: asyncio.Event) -> None:
    """APScheduler's IntervalTrigger(DELIVER_S), max_instances=1, coalesce=True."""
    start = time.monotonic()
    k = 0
    while not stop.is_set():
        k += 1
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, start + k * DELIVER_S - time.monotonic()))
        except TimeoutError:
            await notifier.deliver_due()
            k = max(k, int((time.monotonic() - start) / DELIVER_S))


def ms(x: float) -> str:
    return f"{x * 1000:.0f}"


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


async def bench(args: argparse.Namespace) -> list[str]:
    runs: dict[str, list[Run]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="bench_latency_") as tmp:
        for r in range(args.runs):
            for mode in MODES:
                note(f"run {r + 1}/{args.runs}: {mode}, {args.items} items")
                folder = Path(tempfile.mkdtemp(prefix=f"{mode}{r}_", dir=tmp))
                runs[mode].append(await one_run(folder, mode, args.items, args.seed + r))
    label = {
        "tick": f"tick every {DELIVER_S:g}s (baseline)",
        "wake": "woken on commit (goal 5)",
    }
    lines = [
        "latency from the store call / from the item committed to Telegram accepting, ms:",
        f"{'mode':<28}{'run':>4}{'items':>6}{'p50':>7}{'p95':>7}{'max':>7}  |{'p50':>6}{'p95':>7}"
        f"{'max':>7}{'429s':>6}{'missing':>8}",
    ]
    for mode in MODES:
        for i, run in enumerate(runs[mode], 1):
            lat, com = run.latencies, run.committed
            lines.append(
                f"{label[mode]:<28}{i:>4}{len(lat):>6}{ms(pct(lat, 0.5)):>7}{ms(pct(lat, 0.95)):>7}"
                f"{ms(max(lat, default=float('nan'))):>7}  |{ms(pct(com, 0.5)):>6}"
                f"{ms(pct(com, 0.95)):>7}{ms(max(com, default=float('nan'))):>7}"
                f"{run.enforced_429:>6}{run.missing:>8}"
            )
    med = {
        m: tuple(
            statistics.median(pct(getattr(r, attr), q) for r in runs[m])
            for attr in ("latencies", "committed")
            for q in (0.5, 0.95)
        )
        for m in MODES
    }
    for mode in MODES:
        a50, a95, c50, c95 = med[mode]
        lines.append(
            f"{label[mode]:<28}{'med':>4}{'':>6}{ms(a50):>7}{ms(a95):>7}{'':>7}  |{ms(c50):>6}"
            f"{ms(c95):>7}"
        )
    for mode in MODES:
        parts = [
            statistics.median(x for r in runs[mode] for x in getattr(r, attr)) * 1000
            for attr in ("store_s", "evaluate_s", "deliver_s")
        ]
        lines.append(
            f"{label[mode]:<28} where, median ms: store {parts[0]:.0f}, evaluate"
            f" {parts[1]:.0f}, evaluated -> accepted {parts[2]:.0f}"
        )
    t50, t95, _, _ = med["tick"]
    w50, w95, c50, c95 = med["wake"]
    hits = sum(r.enforced_429 for m in MODES for r in runs[m])
    lines += [
        f"wake / tick (from the store call): p50 {w50 / t50:.3f}x, p95 {w95 / t95:.3f}x",
        f"goal 5 (p50 <= 50 ms, p95 <= 250 ms, no 429), medians of {args.runs} runs:"
        f" from the store call p50 {w50 * 1000:.0f} ms {verdict(w50, 0.05)}, p95"
        f" {w95 * 1000:.0f} ms {verdict(w95, 0.25)}; from the item committed p50"
        f" {c50 * 1000:.0f} ms {verdict(c50, 0.05)}, p95 {c95 * 1000:.0f} ms"
        f" {verdict(c95, 0.25)}; 429s in all runs: {hits}",
    ]
    return lines


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="6 items per run (20)")
    p.add_argument("--items", type=int, help="items per run")
    p.add_argument("--runs", type=int, default=3, help="runs per mode (3)")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)
    args.items = args.items or (6 if args.quick else 20)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    started, before = time.monotonic(), load()
    lines = asyncio.run(bench(args))
    import telegram

    print(
        f"thesiswatch alert latency, item stored -> Telegram accepted, one private chat;"
        f" PTB {telegram.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs;"
        f" {args.runs} runs x {args.items} items per mode, one item every 1.0-1.5 s;"
        f" emulator limits enforced; load average before {before}"
    )
    print("\n".join(lines))
    print(f"(load average after {load()}; {time.monotonic() - started:.0f}s in all)")


if __name__ == "__main__":
    main()
