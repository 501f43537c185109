"""Telegram delivery: throughput at Telegram's flood limits, and latency from item to message.

    .venv/bin/python bench/bench_telegram.py            # ~60 s
    .venv/bin/python bench/bench_telegram.py --quick    # ~15 s

Everything runs against the Bot API emulator of the test suite (``tests/helpers/botapi.py``) on
127.0.0.1, with its flood limits enforced as real 429s (1/s per chat, 30/s overall, 20/min per
group; ``--algorithm window`` reads them literally as sliding windows, ``bucket`` as the leaky
bucket that PTB's AIORateLimiter uses). The bot side is the shipped code: a real PTB
``Application`` from ``bot.telegram.bot.build_application`` (AIORateLimiter, max_retries=0)
and a ``bot.telegram.delivery.TelegramNotifier`` with its default pacing, on a fresh SQLite
file, with every database call on one worker thread as in the running process (``Poller.in_db``).

1. throughput: K private chats and a few supergroups, N alerts each routed to every chat, then
   ``deliver_due()`` in a loop until nothing is pending. Messages/s against the binding limit.
2. groups: one burst of more than 20 alerts to two supergroups (more than Telegram's 20 a minute),
   stopped at the first 429 or after a time bound (skipped by --quick).
3. latency: items stored one at a time (Poisson arrivals) into an official feed, each evaluated
   right after it is stored (as ``Pipeline.poll`` does) into a break alert routed to every chat,
   with ``deliver_due()`` on an interval (``bot.app.DELIVER_S``, then 0.2 s). Time from the
   item's store call to the emulator accepting each message.

Progress goes to stderr, the table to stdout. Ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "true")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, delete, func, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.app import DELIVER_S  # noqa: E402
from bot.pipeline.evaluate import Evaluator, chat_router  # noqa: E402
from bot.pipeline.rulebook import Rulebook  # noqa: E402
from bot.telegram.bot import BotDeps, build_application  # noqa: E402
from bot.telegram.delivery import TelegramNotifier  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.models import board_t, delivery_t  # noqa: E402
from tests.helpers.botapi import BotApiEmulator, run_emulator  # noqa: E402
from tests.helpers.db import entry, feeds, queue_alert, store  # noqa: E402
from tests.helpers.inline_rules import make_rules_dir  # noqa: E402

__all__ = ["main"]

PRIVATE0, GROUP0 = 10_000, -100_2000_000


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]


class DbThread:
    """One worker thread for every database call, like ``Poller.in_db``."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")

    async def __call__(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)


def fresh_db(folder: Path, name: str) -> Engine:
    return open_database(f"sqlite:///{folder / name}")


def pending(db: Engine) -> int:
    with Session(db) as s:
        q = select(func.count()).select_from(delivery_t).where(delivery_t.c.status == "pending")
        return int(s.scalar(q) or 0)


def statuses(db: Engine) -> Counter[str]:
    with Session(db) as s:
        rows = s.execute(select(delivery_t.c.status, func.count()).group_by(delivery_t.c.status))
        return Counter({str(k): int(v) for k, v in rows})


def add_alerts(db: Engine, n: int, chats: Sequence[int]) -> None:
    now = datetime.now(UTC)
    for i in range(n):
        queue_alert(
            db,
            f"China lifts H20 ban [b{i:03d}]",
            chats,
            created_at=now,
            tickers={"NVDA": "bullish", "AMD": "bullish"},
        )


@dataclass
class Harness:
    emu: BotApiEmulator
    db: Engine
    run_db: DbThread
    notifier: TelegramNotifier
    passes: list[tuple[float, float, int]] = field(default_factory=list)

    async def deliver(self) -> int:
        t0 = time.monotonic()
        n = await self.notifier.deliver_due()
        self.passes.append((t0, time.monotonic(), n))
        return n


async def with_bot(
    emu: BotApiEmulator, db: Engine, folder: Path, body: Callable[[Harness], Any]
) -> Any:
    run_db = DbThread()
    rulebook = Rulebook(make_rules_dir(folder), datetime.now(UTC))
    deps = BotDeps(db, run_db, rulebook, frozenset(), frozenset())
    app = build_application(emu.token, deps, base_url=emu.base_url)
    try:
        async with app:
            notifier = TelegramNotifier(app.bot, db, run_db)
            return await body(Harness(emu, db, run_db, notifier))
    finally:
        run_db.pool.shutdown(wait=True)


async def drain(h: Harness, bound_s: float, *, stop_on_429: bool = False) -> bool:
    """deliver_due() until nothing is pending; False if the time bound ran out first."""
    end = time.monotonic() + bound_s
    while time.monotonic() < end:
        n = await h.deliver()
        if stop_on_429 and any(v.enforced for v in h.emu.rate_violations):
            return False
        if not await h.run_db(lambda: pending(h.db)):
            return True
        if n == 0:
            await asyncio.sleep(0.05)  # everything left waits out a retry_after
    return False


# --------------------------------------------------------------------------------------------
# 1. throughput


@dataclass
class Throughput:
    privates: int
    groups: int
    alerts: int
    messages: int
    sent: int
    wall: float
    span: float
    limit: float
    limit_name: str
    violations: Counter[str]
    enforced: int
    passes: list[tuple[float, float, int]]
    per_chat_min_gap: float
    done: bool
    rejected_gaps: list[float] = field(default_factory=list)


async def throughput(
    folder: Path, privates: int, groups: int, alerts: int, algorithm: str, bound_s: float
) -> Throughput:
    db = fresh_db(folder, "throughput.db")
    private_ids = [PRIVATE0 + i for i in range(privates)]
    group_ids = [GROUP0 - i for i in range(groups)]
    add_alerts(db, alerts, private_ids + group_ids)
    messages = alerts * (privates + groups)
    async with run_emulator() as emu:
        for c in private_ids:
            emu.add_chat(c, "private")
        for g in group_ids:
            emu.add_chat(g, "supergroup", f"desk {g}")
        emu.enforce_limits(1, 30, 20, algorithm=algorithm)

        async def body(h: Harness) -> Throughput:
            t0 = time.monotonic()
            done = await drain(h, bound_s)
            wall = time.monotonic() - t0
            sent = list(emu.sent)
            times = [m.time for m in sent]
            span = max(times) - min(times) if len(times) > 1 else float("nan")
            by_chat: dict[int, list[float]] = {}
            for m in sent:
                by_chat.setdefault(m.chat_id, []).append(m.time)
            gaps = [b - a for ts in by_chat.values() for a, b in itertools.pairwise(ts)]
            if privates >= 30 or groups * 20 >= 30:
                limit, name = 30.0, "global 30/s"
            elif privates:
                limit, name = float(privates + groups), f"per-chat 1/s x {privates + groups}"
            else:
                limit, name = groups / 3.0, "20/min per group"
            rv = emu.rate_violations
            # For each per-chat 429: how long after that chat's last accepted send it came.
            last_ok: dict[int, float] = {}
            rejected_gaps: list[float] = []
            for c in emu.calls_to("sendMessage"):
                chat = int(c.params.get("chat_id", 0))
                if c.status == 200:
                    last_ok[chat] = c.time
                elif c.status == 429 and chat in last_ok:
                    rejected_gaps.append(c.time - last_ok[chat])
            return Throughput(
                privates,
                groups,
                alerts,
                messages,
                len(sent),
                wall,
                span,
                limit,
                name,
                Counter(v.rule for v in rv),
                sum(v.enforced for v in rv),
                list(h.passes),
                min(gaps) if gaps else float("nan"),
                done,
                rejected_gaps,
            )

        result: Throughput = await with_bot(emu, db, folder, body)
    db.dispose()
    return result


# --------------------------------------------------------------------------------------------
# 2. groups past 20 a minute


@dataclass
class GroupBurst:
    groups: int
    alerts: int
    sent: int
    first_429_at: float | None  # seconds after the first send
    sent_before_429: int
    window_violations: int
    elapsed: float
    rules: str = ""


async def group_burst(folder: Path, alerts: int, algorithm: str, bound_s: float) -> GroupBurst:
    db = fresh_db(folder, "groups.db")
    group_ids = [GROUP0 - 100 - i for i in range(2)]
    add_alerts(db, alerts, group_ids)
    async with run_emulator() as emu:
        for g in group_ids:
            emu.add_chat(g, "supergroup", f"desk {g}")
        emu.enforce_limits(1, 30, 20, algorithm=algorithm)

        async def body(h: Harness) -> GroupBurst:
            t0 = time.monotonic()
            await drain(h, bound_s, stop_on_429=True)
            elapsed = time.monotonic() - t0
            sent = list(emu.sent)
            first = min((m.time for m in sent), default=t0)
            hits = [v for v in emu.rate_violations if v.enforced]
            at = hits[0].time - first if hits else None
            before = sum(1 for m in sent if not hits or m.time < hits[0].time)
            return GroupBurst(
                len(group_ids),
                alerts,
                len(sent),
                at,
                before,
                len(emu.rate_violations),
                elapsed,
                ", ".join(f"{v.rule} (retry_after {v.retry_after})" for v in hits[:2]),
            )

        result: GroupBurst = await with_bot(emu, db, folder, body)
    db.dispose()
    return result


# --------------------------------------------------------------------------------------------
# 3. latency


@dataclass
class Latency:
    period: float
    interval: float
    items: int
    chats: int
    latencies: list[float]
    eval_s: list[float]
    missing: int
    violations: int
    enforced: int


async def latency(
    folder: Path,
    name: str,
    *,
    period: float,
    interval: float,
    items: int,
    privates: int,
    groups: int,
    algorithm: str,
    seed: int,
) -> Latency:
    sub = folder / name
    sub.mkdir()
    db = fresh_db(sub, "latency.db")
    [gov] = feeds(db, "gov", tier="official")
    private_ids = [PRIVATE0 + 500 + i for i in range(privates)]
    group_ids = [GROUP0 - 500 - i for i in range(groups)]
    chats = private_ids + group_ids
    rng = random.Random(seed)
    async with run_emulator() as emu:
        for c in private_ids:
            emu.add_chat(c, "private")
        for g in group_ids:
            emu.add_chat(g, "supergroup", f"desk {g}")
        emu.enforce_limits(1, 30, 20, algorithm=algorithm)

        async def body(h: Harness) -> Latency:
            rulebook = Rulebook(sub / "rules", datetime.now(UTC))
            evaluator = Evaluator(rulebook, chat_router(chats))
            stored_at: dict[str, float] = {}
            eval_s: list[float] = []
            produced = asyncio.Event()

            def reset_board() -> None:
                # Bench only: every item finds the leg intact, so each one breaks it again and
                # raises its own alert (a broken leg stays broken; the rule files are the tests').
                with Session(db) as s, s.begin():
                    s.execute(delete(board_t))

            async def producer() -> None:
                for i in range(items):
                    await asyncio.sleep(rng.expovariate(1 / interval))
                    await h.run_db(reset_board)
                    tag = f"[b{i:03d}]"
                    now = datetime.now(UTC)
                    e = entry(f"China lifts H20 ban {tag}", f"https://gov.example/{i}", at=now)
                    stored_at[tag] = time.monotonic()
                    await h.run_db(functools.partial(store, db, gov, e, tier="official", now=now))
                    t = time.monotonic()
                    # Pipeline.poll: new items are evaluated right away, on the db thread.
                    await h.run_db(lambda: evaluator.run(db, datetime.now(UTC)))
                    eval_s.append(time.monotonic() - t)
                produced.set()

            async def deliverer() -> None:
                # APScheduler IntervalTrigger(period), max_instances=1, coalesce=True: runs on
                # the fixed grid; a tick that falls while the job still runs is skipped.
                start = time.monotonic()
                k = 0
                while True:
                    k += 1
                    await asyncio.sleep(max(0.0, start + k * period - time.monotonic()))
                    await h.deliver()
                    if produced.is_set() and not await h.run_db(lambda: pending(db)):
                        return
                    k = max(k, int((time.monotonic() - start) / period))

            bound = items * interval * 4 + items * 2 + 30
            await asyncio.wait_for(asyncio.gather(producer(), deliverer()), bound)
            lat: list[float] = []
            missing = 0
            for tag, t in stored_at.items():
                got = [m.time - t for m in emu.sent if tag in m.plain_text]
                missing += len(chats) - len(got)
                lat.extend(got)
            rv = emu.rate_violations
            return Latency(
                period,
                interval,
                items,
                len(chats),
                lat,
                eval_s,
                missing,
                len(rv),
                sum(v.enforced for v in rv),
            )

        result: Latency = await with_bot(emu, db, sub, body)
    db.dispose()
    return result


# --------------------------------------------------------------------------------------------


def show_throughput(t: Throughput) -> list[str]:
    rate = (t.sent - 1) / t.span if t.sent > 1 else 0.0
    overall = t.sent / t.wall
    viol = ", ".join(f"{k} {v}" for k, v in sorted(t.violations.items())) or "none"
    passes = ", ".join(f"{n} in {b - a:.1f}s" for a, b, n in t.passes if n)
    idle = t.wall - sum(b - a for a, b, n in t.passes if n)
    return [
        f"1. throughput: {t.privates} private + {t.groups} supergroup chats x {t.alerts} alerts"
        f" = {t.messages} messages; limits enforced ({t.limit_name} binding)",
        f"   {'measure':<42}{'value':>12}{'limit':>10}{'ratio':>9}",
        f"   {'messages/s, first to last send':<42}{rate:>12.1f}{t.limit:>10.1f}"
        f"{rate / t.limit:>8.2f}x",
        f"   {'messages/s, whole drain loop':<42}{overall:>12.1f}{t.limit:>10.1f}"
        f"{overall / t.limit:>8.2f}x",
        f"   {'drain time (s); ideal at the limit':<42}{t.wall:>12.1f}"
        f"{t.messages / t.limit:>10.1f}{t.wall / (t.messages / t.limit):>8.2f}x",
        f"   sent {t.sent}/{t.messages}{'' if t.done else ' (time bound hit)'}; 429s issued:"
        f" {t.enforced}; rate_violations: {viol}; smallest gap between two sends to one chat:"
        f" {t.per_chat_min_gap * 1000:.0f} ms",
        f"   deliver_due passes: {passes}; {idle:.1f}s outside passes",
    ] + (
        [
            f"   429s that came after an accepted send to the same chat ({len(t.rejected_gaps)}):"
            f" {min(t.rejected_gaps) * 1000:.0f}-{max(t.rejected_gaps) * 1000:.0f} ms after it"
        ]
        if t.rejected_gaps
        else []
    )


def show_groups(g: GroupBurst) -> list[str]:
    when = f"{g.first_429_at:.1f}s after the first send" if g.first_429_at is not None else "none"
    return [
        f"2. groups: {g.groups} supergroups x {g.alerts} alerts (Telegram: 20/min per group)",
        f"   sent {g.sent} in {g.elapsed:.1f}s; first 429: {when}; sends before it:"
        f" {g.sent_before_429} ({g.sent_before_429 / g.groups:.0f} per group);"
        f" rate_violations {g.window_violations}" + (f": {g.rules}" if g.rules else ""),
    ]


def show_latency(rows: list[Latency]) -> list[str]:
    out = [
        "3. latency, item store call -> message accepted by the emulator (every chat):",
        f"   {'deliver every':<14}{'arrivals':>10}{'items':>6}{'chats':>6}{'msgs':>6}"
        f"{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'eval p50':>10}{'429s':>6}",
    ]
    for r in rows:
        out.append(
            f"   {r.period:<14.1f}{f'{r.interval:.1f}s':>10}{r.items:>6}{r.chats:>6}"
            f"{len(r.latencies):>6}{pct(r.latencies, 0.5):>8.2f}{pct(r.latencies, 0.95):>8.2f}"
            f"{max(r.latencies, default=float('nan')):>8.2f}"
            f"{statistics.median(r.eval_s) * 1000 if r.eval_s else float('nan'):>8.0f}ms"
            f"{r.enforced:>6}" + (f"  ({r.missing} messages missing)" if r.missing else "")
        )
    return out


async def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_tg_") as tmp:
        folder = Path(tmp)
        note(f"throughput: {args.privates} private + {args.groups} groups x {args.alerts}")
        (folder / "t").mkdir()
        t = await throughput(
            folder / "t",
            args.privates,
            args.groups,
            args.alerts,
            args.algorithm,
            bound_s=args.bound,
        )
        lines += show_throughput(t)
        if args.group_alerts:
            note(f"groups: 2 x {args.group_alerts}")
            (folder / "g").mkdir()
            g = await group_burst(folder / "g", args.group_alerts, args.algorithm, args.group_bound)
            lines += show_groups(g)
        rows = []
        for i, period in enumerate((float(DELIVER_S), 0.2)):
            note(f"latency: deliver every {period}s, {args.items} items every ~{args.interval}s")
            rows.append(
                await latency(
                    folder,
                    f"lat{i}",
                    period=period,
                    interval=args.interval,
                    items=args.items,
                    privates=args.lat_privates,
                    groups=1,
                    algorithm=args.algorithm,
                    seed=args.seed,
                )
            )
        lines += show_latency(rows)
        if len(rows) == 2 and rows[0].latencies and rows[1].latencies:
            a, b = pct(rows[0].latencies, 0.5), pct(rows[1].latencies, 0.5)
            lines.append(
                f"   p50 with {DELIVER_S}s polling / p50 with 0.2s polling: {a / b:.2f}x"
                f" ({a - b:+.2f}s is the polling period's share)"
            )
    import aiolimiter
    import telegram

    print(
        f"thesiswatch Telegram delivery bench; PTB {telegram.__version__}, aiolimiter"
        f" {aiolimiter.__version__}, Python {sys.version.split()[0]}; emulator limits"
        f" 1/s per chat, 30/s, 20/min per group ({args.algorithm}); {args.label}"
    )
    print("\n".join(lines))
    print(f"({time.monotonic() - started:.0f}s in all)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke run, < 15 s")
    p.add_argument("--privates", type=int, help="private chats in the throughput run (60)")
    p.add_argument("--groups", type=int, help="supergroups in the throughput run (3)")
    p.add_argument("--alerts", type=int, help="alerts to every chat in the throughput run (5)")
    p.add_argument("--group-alerts", type=int, help="alerts in the group burst (24; 0 skips)")
    p.add_argument("--items", type=int, help="items per latency run (12)")
    p.add_argument("--interval", type=float, default=0.5, help="mean s between items (0.5)")
    p.add_argument("--algorithm", choices=("window", "bucket"), default="window")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    defaults = (
        {"privates": 40, "groups": 2, "alerts": 2, "group_alerts": 0, "items": 4}
        if args.quick
        else {"privates": 60, "groups": 3, "alerts": 5, "group_alerts": 24, "items": 12}
    )
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.lat_privates = 3
    args.bound = 60.0
    args.group_bound = 30.0
    args.label = "--quick" if args.quick else "full run"
    return args


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
