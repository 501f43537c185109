"""The operator's fault trial of issue 8, rerunnable: kills, a Telegram outage, database restarts.

    .venv/bin/python bench/trial_faults.py            # the issue's figures, ~15 min
    .venv/bin/python bench/trial_faults.py --quick    # shorter outage, fewer kills, ~4 min
    .venv/bin/python bench/trial_faults.py --only kill,outage,restart --runs 3

Everything is real but Telegram: ``thesiswatch run`` processes (the installed entry point),
the Bot API emulator of the test suite in this process (``tests/helpers/botapi.py``, flood
limits enforced as 429s where noted), SQLite files, and a private throwaway PostgreSQL cluster
started here on a port of its own (``bench/pgcluster.py``; the shared server is never touched).
Alerts are queued straight into the outbox (``tests.helpers.db.queue_alert``), each to every
chat of its run, tagged ``trial <n>``; a message is counted from the emulator's records.

1. kill: N SIGKILLs of workers in the middle of delivery (a random 0.2-1.5 s after a send),
   each worker restarted at once; SQLite with one worker, then the private PostgreSQL with three
   (a random one killed). Then everything is delivered and counted: lost (never sent),
   duplicated (sent more than once), out of order (per chat).
2. outage: one worker, Telegram (the emulator) down for ``--outage`` seconds while alerts
   arrive spread over it (``--backlog`` over ``--chats`` private chats), then up: the drain
   time from Telegram being back to the last message accepted, against the ideal at Telegram's
   limits (1/s per chat, 30/s overall), and the 429s it took. Median of ``--runs``.
3. restart: three workers on the private PostgreSQL, alerts arriving steadily (4/s over 10
   chats), the server stopped for ``--pg-down`` seconds and started again, ``--runs`` times:
   the longest gap without a send around each restart, and how long after the server was back
   the first send came. Lost/duplicated counted at the end.

Progress goes to stderr, the figures to stdout, with the load average before and after.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from pgcluster import PrivateCluster, private_cluster  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402
from sqlmodel import Session  # noqa: E402

from storage.db import make_engine, migrate  # noqa: E402
from storage.models import delivery_t  # noqa: E402
from tests.helpers.botapi import BotApiEmulator, emulator  # noqa: E402
from tests.helpers.db import queue_alert  # noqa: E402
from tests.helpers.inline_rules import make_rules_dir  # noqa: E402

ENTRY_POINT = Path(sys.executable).parent / "thesiswatch"
CHAT0 = 7_000


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Poll ``predicate``; seconds it took. Raises when ``timeout`` passes first."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - t0


class Workers:
    """``thesiswatch run`` processes on one database, each logging to a file of its own."""

    def __init__(self, folder: Path, url: str, emu: BotApiEmulator, chats: Sequence[int]) -> None:
        self.folder = folder
        feeds = folder / "feeds.yaml"
        feeds.write_text("feeds: []\n")
        self.env = os.environ | {
            "THESISWATCH_DATABASE_URL": url,
            "THESISWATCH_FEEDS": str(feeds),
            "THESISWATCH_RULES_DIR": str(make_rules_dir(folder)),
            "THESISWATCH_OPS_PORT": "-1",
            "THESISWATCH_TELEGRAM_TOKEN": emu.token,
            "THESISWATCH_TELEGRAM_API_URL": emu.base_url,
            "THESISWATCH_ALLOWED_CHATS": ",".join(map(str, chats)),
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with (self.folder / f"worker{self.started}.log").open("w") as out:
            proc = subprocess.Popen(  # noqa: S603 (the installed entry point)
                [str(ENTRY_POINT), "run"], cwd=self.folder, env=self.env, stdout=out, stderr=out
            )
        self.procs.append(proc)
        return proc

    @property
    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for p in self.alive:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def tracebacks(self) -> int:
        return sum(f.read_text().count("Traceback") for f in self.folder.glob("worker*.log"))


def queue(db: Engine, n: int, chats: Sequence[int], start: int = 0) -> list[int]:
    tags = list(range(start, start + n))
    for i in tags:
        queue_alert(db, f"trial {i:05d}", chats, created_at=datetime.now(UTC))
    return tags


def pending(db: Engine) -> int:
    with Session(db) as s:
        q = select(func.count()).select_from(delivery_t).where(delivery_t.c.status == "pending")
        return int(s.scalar(q) or 0)


@dataclass
class Count:
    expected: int
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0


def count(emu: BotApiEmulator, tags: Sequence[int], chats: Sequence[int]) -> Count:
    c = Count(len(tags) * len(chats))
    for chat in chats:
        seen = [
            int(m.plain_text.split("trial ")[1][:5])
            for m in emu.sent_to(chat)
            if "trial " in m.plain_text
        ]
        per = Counter(seen)
        c.delivered += sum(1 for t in tags if per[t])
        c.lost += sum(1 for t in tags if not per[t])
        c.duplicated += sum(n - 1 for n in per.values() if n > 1)
        firsts = list(dict.fromkeys(seen))
        c.out_of_order += sum(1 for a, b in itertools.pairwise(firsts) if b < a)
    return c


# --------------------------------------------------------------------------------------------
# 1. kills


@dataclass
class KillRun:
    db: str
    workers: int
    kills: int
    mid_delivery: int  # kills with deliveries pending
    count: Count
    tracebacks: int
    wall: float


def kill_trial(
    folder: Path, url: str, workers: int, kills: int, alerts: int, rng: random.Random
) -> KillRun:
    chats = [CHAT0 + i for i in range(3)]
    db = make_engine(url)
    migrate(db)
    tags = queue(db, alerts, chats)
    t0 = time.monotonic()
    with emulator() as emu:
        for chat in chats:
            emu.add_chat(chat, "private")
        emu.slow("sendMessage", 0.15)  # a window in which a kill finds a send in flight
        pool = Workers(folder, url, emu, chats)
        mid = 0
        try:
            for k in range(kills):
                while len(pool.alive) < workers:
                    pool.start()
                before = len(emu.sent)
                until(lambda b=before: len(emu.sent) > b, 60, "a send")  # type: ignore[misc]
                time.sleep(rng.uniform(0.2, 1.5))
                victim = rng.choice(pool.alive)
                mid += bool(pending(db))
                victim.kill()  # SIGKILL: no clean shutdown, no last write
                victim.wait()
                note(f"  kill {k + 1}/{kills}: {len(emu.sent)} sent, {pending(db)} pending")
            while len(pool.alive) < workers:
                pool.start()
            until(lambda: not pending(db), 600, "the queue drained", step=0.2)
            time.sleep(2)  # anything sent twice arrives by now
        finally:
            pool.stop()
        result = KillRun(
            "PostgreSQL" if url.startswith("postgresql") else "SQLite",
            workers,
            kills,
            mid,
            count(emu, tags, chats),
            pool.tracebacks(),
            time.monotonic() - t0,
        )
    db.dispose()
    return result


# --------------------------------------------------------------------------------------------
# 2. Telegram outage


@dataclass
class OutageRun:
    outage: float
    messages: int
    drain: float
    first_send: float
    ideal: float
    enforced_429: int
    count: Count


def outage_trial(folder: Path, outage: float, backlog: int, n_chats: int) -> OutageRun:
    url = f"sqlite:///{folder / 'outage.db'}"
    chats = [CHAT0 + 100 + i for i in range(n_chats)]
    db = make_engine(url)
    migrate(db)
    with emulator() as emu:
        for chat in chats:
            emu.add_chat(chat, "private")
        emu.enforce_limits()  # 1/s per chat, 30/s overall, as 429s
        pool = Workers(folder, url, emu, chats)
        try:
            pool.start()
            until(lambda: bool(emu.calls_to("getUpdates")), 60, "the worker up")
            emu.set_down(True)
            down_at = time.monotonic()
            # Alerts arrive through the outage, each to one chat in turn.
            per_chat: dict[int, int] = Counter()
            tags: list[tuple[int, int]] = []
            for i in range(backlog):
                time.sleep(max(0.0, down_at + outage * i / backlog - time.monotonic()))
                chat = chats[i % len(chats)]
                queue_alert(db, f"trial {i:05d}", [chat], created_at=datetime.now(UTC))
                per_chat[chat] += 1
                tags.append((i, chat))
            time.sleep(max(0.0, down_at + outage - time.monotonic()))
            emu.clear_records()
            emu.set_down(False)
            up_at = time.monotonic()
            until(lambda: not pending(db), 900, "the backlog drained", step=0.1)
            time.sleep(1)
        finally:
            pool.stop()
        sent = [m.time for m in emu.sent if "trial " in m.plain_text]
        ideal = max(max(per_chat.values()) - 1, backlog / 30)
        c = Count(backlog)
        seen = Counter(
            (int(m.plain_text.split("trial ")[1][:5]), m.chat_id)
            for m in emu.sent
            if "trial " in m.plain_text
        )
        c.delivered = sum(1 for t in tags if seen[t])
        c.lost = backlog - c.delivered
        c.duplicated = sum(n - 1 for n in seen.values() if n > 1)
        result = OutageRun(
            outage,
            len(sent),
            max(sent) - up_at if sent else float("nan"),
            min(sent) - up_at if sent else float("nan"),
            ideal,
            sum(v.enforced for v in emu.rate_violations),
            c,
        )
    db.dispose()
    return result


# --------------------------------------------------------------------------------------------
# 3. PostgreSQL restarts under three workers


@dataclass
class Restart:
    down: float  # stop -> started again
    gap: float  # last send before the stop -> first send after it
    resume: float  # server back -> first send


@dataclass
class RestartTrial:
    restarts: list[Restart] = field(default_factory=list)
    longest_gap: float = 0.0
    count: Count | None = None
    tracebacks: int = 0
    produced: int = 0


def restart_trial(folder: Path, pg: PrivateCluster, runs: int, down: float) -> RestartTrial:
    chats = [CHAT0 + 200 + i for i in range(10)]
    db = make_engine(pg.url)
    migrate(db)
    out = RestartTrial()
    tags: list[int] = []
    stop = threading.Event()

    def produce() -> None:  # 4 alerts a second, each to one chat in turn
        i = 0
        while not stop.is_set():
            t = time.monotonic()
            try:
                queue_alert(db, f"trial {i:05d}", [chats[i % 10]], created_at=datetime.now(UTC))
                tags.append(i)
            except SQLAlchemyError:
                pass  # the server is down (a commit may have landed unacknowledged: not counted)
            i += 1
            stop.wait(max(0.0, 0.25 - (time.monotonic() - t)))

    with emulator() as emu:
        for chat in chats:
            emu.add_chat(chat, "private")
        emu.enforce_limits()
        pool = Workers(folder, pg.url, emu, chats)
        producer = threading.Thread(target=produce, daemon=True)
        try:
            for _ in range(3):
                pool.start()
            until(lambda: bool(emu.calls_to("getUpdates")), 60, "the workers up")
            producer.start()
            time.sleep(8)
            for r in range(runs):
                note(f"  restart {r + 1}/{runs}: server down for {down:g}s")
                t_stop = time.monotonic()
                pg.stop()
                time.sleep(down)
                pg.start()
                t_up = time.monotonic()
                until(lambda u=t_up: any(m.time > u for m in emu.sent), 600, "a send after it")  # type: ignore[misc]
                times = sorted(m.time for m in emu.sent)
                before = max((t for t in times if t < t_stop), default=t_stop)
                after = min(t for t in times if t > t_up)
                around = [t for t in times if before <= t <= after]
                gap = max(b - a for a, b in itertools.pairwise(around))
                out.restarts.append(Restart(t_up - t_stop, gap, after - t_up))
                time.sleep(12)
            stop.set()
            producer.join()
            until(lambda: not pending(db), 600, "the queue drained", step=0.2)
            time.sleep(2)
        finally:
            stop.set()
            pool.stop()
        times = sorted(m.time for m in emu.sent)
        out.longest_gap = max((b - a for a, b in itertools.pairwise(times)), default=0)
        out.produced = len(tags)
        c = Count(len(tags))
        seen = Counter(
            int(m.plain_text.split("trial ")[1][:5]) for m in emu.sent if "trial " in m.plain_text
        )
        c.delivered = sum(1 for t in tags if seen[t])
        c.lost = len(tags) - c.delivered
        c.duplicated = sum(n - 1 for n in seen.values() if n > 1)
        out.count = c
        out.tracebacks = pool.tracebacks()
    db.dispose()
    return out


# --------------------------------------------------------------------------------------------


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def show_kill(r: KillRun) -> str:
    c = r.count
    return (
        f"   {r.db:<11}{r.workers:>8}{r.kills:>7}{r.mid_delivery:>6}{c.expected:>7}"
        f"{c.delivered:>7}{c.lost:>6}{c.duplicated:>6}{c.out_of_order:>7}{r.tracebacks:>8}"
        f"{r.wall:>7.0f}s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="30 s outage, 6 kills, 1 run each")
    p.add_argument("--only", default="kill,outage,restart")
    p.add_argument("--runs", type=int, help="outage and restart repetitions (3)")
    p.add_argument("--kills", type=int, help="SIGKILLs per database (24)")
    p.add_argument("--outage", type=float, help="seconds Telegram is down (180)")
    p.add_argument("--backlog", type=int, default=300, help="alerts queued during it (300)")
    p.add_argument("--chats", type=int, default=20, help="private chats they go to (20)")
    p.add_argument("--pg-down", type=float, default=3.0, help="seconds the server stays down")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the workers' logs (path on stderr)")
    args = p.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: workers stopped, the private cluster stopped and removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    quick = args.quick
    runs = args.runs or 3
    kills = args.kills or (6 if quick else 24)
    outage = args.outage or (30.0 if quick else 180.0)
    only = set(args.only.split(","))
    rng = random.Random(args.seed)
    started, load_before = time.monotonic(), load()
    lines: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="trial_faults_"))
    try:
        with private_cluster() as pg:
            if "kill" in only:
                lines.append(
                    f"1. SIGKILL mid-delivery, 3 private chats, emulator answering in 0.15 s"
                    f"\n   {'database':<11}{'workers':>8}{'kills':>7}{'mid':>6}{'msgs':>7}"
                    f"{'got':>7}{'lost':>6}{'dup':>6}{'order':>7}{'tracebk':>8}{'wall':>8}"
                )
                for name, url, workers in (
                    ("sqlite", f"sqlite:///{folder / 'kill.db'}", 1),
                    ("pg", pg.url, 3),
                ):
                    note(f"kill: {kills} SIGKILLs, {name}, {workers} worker(s)")
                    (folder / f"kill_{name}").mkdir()
                    # About two alerts per chat for each kill: the queue outlasts the kills.
                    alerts = 2 * kills + 10
                    run = kill_trial(folder / f"kill_{name}", url, workers, kills, alerts, rng)
                    lines.append(show_kill(run))
            if "outage" in only:
                outs = []
                for r in range(runs):
                    note(f"outage {r + 1}/{runs}: Telegram down {outage:g}s, {args.backlog} alerts")
                    (folder / f"outage{r}").mkdir()
                    outs.append(
                        outage_trial(folder / f"outage{r}", outage, args.backlog, args.chats)
                    )
                lines.append(
                    f"2. Telegram down {outage:g}s, {args.backlog} alerts over {args.chats} private"
                    f" chats queued meanwhile; limits enforced; median of {len(outs)}"
                )
                for o in outs:
                    ratio = o.drain / o.ideal
                    lines.append(
                        f"   drain {o.drain:6.1f}s (ideal {o.ideal:.1f}s: {ratio:.2f}x),"
                        f" first send {o.first_send:4.1f}s after Telegram was back,"
                        f" {o.count.delivered}/{o.count.expected} delivered, lost {o.count.lost},"
                        f" dup {o.count.duplicated}, 429s {o.enforced_429}"
                    )
                med = statistics.median(o.drain for o in outs)
                lines.append(
                    f"   median drain {med:.1f}s = {med / outs[0].ideal:.2f}x the ideal at"
                    f" Telegram's limits; median first send"
                    f" {statistics.median(o.first_send for o in outs):.1f}s after it was back"
                )
            if "restart" in only:
                note(f"restart: 3 workers, {runs} restarts of the private PostgreSQL")
                (folder / "restart").mkdir()
                rt = restart_trial(folder / "restart", pg, runs, args.pg_down)
                assert rt.count is not None
                lines.append(
                    f"3. PostgreSQL (private cluster) stopped for {args.pg_down:g}s and started"
                    f" again under 3 workers, 4 alerts/s over 10 chats; {runs} restarts"
                )
                for i, rs in enumerate(rt.restarts, 1):
                    lines.append(
                        f"   restart {i}: server down {rs.down:.1f}s; no send for {rs.gap:.1f}s;"
                        f" first send {rs.resume:.2f}s after the server was back"
                    )
                gap = statistics.median(r.gap for r in rt.restarts)
                lines.append(
                    f"   median gap without sends {gap:.1f}s,"
                    f" median resume {statistics.median(r.resume for r in rt.restarts):.2f}s after"
                    f" the server was back; longest gap in the whole run {rt.longest_gap:.1f}s"
                )
                c = rt.count
                lines.append(
                    f"   {c.delivered}/{c.expected} alerts delivered, lost {c.lost},"
                    f" duplicated {c.duplicated}; tracebacks in the workers' logs {rt.tracebacks}"
                )
    finally:
        if args.keep:
            note(f"workers' logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"thesiswatch fault trial ({'--quick' if quick else 'full'}); Python"
        f" {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average before {load_before}"
    )
    print("\n".join(lines))
    print(f"(load average after {load()}; {time.monotonic() - started:.0f}s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
