"""Many feeds: one ``thesiswatch run`` polling N local feeds, the dispatcher against a baseline.

    .venv/bin/python bench/bench_feeds.py                 # 1,000 and 5,000 feeds, 3 rounds
    .venv/bin/python bench/bench_feeds.py --quick         # 1,000 feeds, short windows
    .venv/bin/python bench/bench_feeds.py --only workers  # 1 vs 2 workers, parse-bound, PostgreSQL
    .venv/bin/python bench/bench_feeds.py --baseline 87ca9a4   # the code to compare against

1. Schedule: N feeds served on 127.0.0.1 by one child process (stdlib ThreadingHTTPServer):
   every feed has an ETag; 95 % answer 304 to it, 5 % publish a new entry every 2 minutes.
   ``thesiswatch run --role poller`` on a fresh SQLite file, every feed at a 60 s interval
   (30 s with --quick), from this checkout and from the baseline commit (``git archive`` into
   a temp folder, run with the same interpreter), back to back in each round. Measured from
   the ``feed`` table, read every 0.5 s: start-up (launch to the first poll recorded), the cold
   cycle (launch to every feed polled once), then over a window after it: polls/s, lateness
   of each poll (``last_polled_at`` minus the ``next_poll_at`` it was due at), feeds overdue
   by more than 10 s at the end, and the CPU of the bot process and its children (the parse
   pool) from /proc.
2. Workers: M feeds on PostgreSQL whose body changes at every request (a counter in
   lastBuildDate) but whose 50 entries do not: every poll is parsed and stores nothing new,
   so the load is parsing. Each feed is due every second; polls/s over a window with one
   worker and with two, and the CPU each kind of process used (workers, parser processes,
   PostgreSQL backends, the feed server).

Scratch: SQLite files in a temp folder and one database ``bench_<pid>`` on the server, dropped
at the end; only processes started here are stopped.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_workers import Scratch, stop  # noqa: E402
from benchlib import load_average, log  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

BASELINE = "87ca9a4"  # main before the dispatcher: one APScheduler job per feed
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
ENTRIES = 10
CHANGING = 20  # one feed in CHANGING publishes every CHANGE_S
CHANGE_S = 120
TICK_S = 0.5


# ---------------------------------------------------------------------------------------------
# The feed server (a child process: its CPU is not the bot's)


def _item(i: int, j: int, at: datetime) -> str:
    link = f"https://news{i % 37}.example/{i}/{j}"
    return (
        f"<item><title>Nvidia weighs H20 export licences ({i}-{j})</title><link>{link}</link>"
        f"<guid>{link}</guid><pubDate>{format_datetime(at, usegmt=True)}</pubDate>"
        f"<description>Desk note {i}-{j} on export controls.</description></item>"
    )


def _body(i: int, version: int, anchor: datetime, entries: int, stamp: int = 0) -> bytes:
    items = [_item(i, version + j, anchor - timedelta(minutes=j)) for j in range(entries)]
    built = f"<lastBuildDate>{stamp}</lastBuildDate>" if stamp else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {i}</title><link>https://news{i % 37}.example/</link>{built}"
        f"{''.join(items)}</channel></rss>"
    ).encode()


def serve(mode: str, n: int, anchor_ts: float) -> None:
    """Child-process entry (``--serve``): print the port, serve until stdin closes."""
    anchor = datetime.fromtimestamp(anchor_ts, UTC)
    counter = iter(range(1, 1 << 62))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            try:
                i = int(self.path[2:-4])
            except ValueError:
                self.send_error(404)
                return
            if mode == "parse":  # a new body every time, the same entries
                with lock:
                    stamp = next(counter)
                self._send(_body(i, 0, anchor, 50, stamp), None)
                return
            version = int((time.time() - anchor_ts) // CHANGE_S) if i % CHANGING == 0 else 0
            etag = f'"{i}-{version}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(_body(i, version, anchor, ENTRIES), etag)

        def _send(self, body: bytes, etag: str | None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512

        def handle_error(self, request: object, client_address: object) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)  # type: ignore[arg-type]

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(httpd.server_address[1], flush=True)
    sys.stdin.read()


@contextmanager
def feed_server(mode: str, n: int) -> Iterator[tuple[int, int]]:
    """(port, pid) of a server child for ``n`` feeds."""
    anchor = time.time()
    proc = subprocess.Popen(  # noqa: S603 (our own script)
        [sys.executable, __file__, "--serve", mode, str(n), str(anchor)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline()), proc.pid
    finally:
        stop(proc)


def write_yaml(path: Path, port: int, n: int, interval: int, bounds: bool) -> Path:
    extra = f", min_interval: {interval}, max_interval: {interval}" if bounds else ""
    lines = ["feeds:"] + [
        f"  - {{name: f{i:05d}, url: 'http://127.0.0.1:{port}/f{i}.xml', tier: press, "
        f"interval: {interval}{extra}}}"
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# The code under test: this checkout, or a commit exported


@dataclass(frozen=True, slots=True)
class Code:
    name: str
    root: Path
    bounds: bool  # its feeds file knows min_interval/max_interval


def export(ref: str, into: Path, *, bounds: bool = False, label: str = "baseline") -> Code:
    rev = ["git", "-C", str(ROOT), "rev-parse", "--short", ref]
    done = subprocess.run(rev, check=True, capture_output=True, text=True)  # noqa: S603
    sha = done.stdout.strip()
    into.mkdir(parents=True)
    git = ["git", "-C", str(ROOT), "archive", sha]
    archive = subprocess.Popen(git, stdout=subprocess.PIPE)  # noqa: S603
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)  # noqa: S603, S607
    archive.wait()
    return Code(f"{label} {sha}", into, bounds=bounds)


def start(code: Code, url: str, feeds: Path, out: Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    full = (
        os.environ
        | {
            "THESISWATCH_DATABASE_URL": url,
            "THESISWATCH_FEEDS": str(feeds),
            "THESISWATCH_OPS_PORT": "-1",
            "THESISWATCH_MIN_FEED_INTERVAL": "1",
            "THESISWATCH_LOG_LEVEL": "WARNING",
            "THESISWATCH_RETENTION_DAYS": "0",
            "PYTHONPATH": str(code.root),
        }
        | (env or {})
    )
    full.pop("THESISWATCH_TELEGRAM_TOKEN", None)
    with out.open("w") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--role", "poller"],
            cwd=code.root,
            env=full,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
        )


# ---------------------------------------------------------------------------------------------
# Measuring


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime of the process itself


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the parse pool)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


class CpuMeter:
    """CPU seconds of process trees, summed per pid so a child that exits still counts."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self, roots: dict[str, list[int]]) -> None:
        self.roots = roots
        self.start: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.kind: dict[int, str] = {}

    def sample(self) -> None:
        for label, pids in self.roots.items():
            for root in pids:
                for pid in _tree(root):
                    ticks = _ticks(pid)
                    self.start.setdefault(pid, ticks)
                    self.last[pid] = max(self.last.get(pid, 0), ticks)
                    self.kind.setdefault(pid, label if pid == root else f"{label} children")

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, last in self.last.items():
            kind = self.kind[pid]
            out[kind] = out.get(kind, 0.0) + (last - self.start[pid]) / self.HZ
        return out


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


Row = tuple[int, int, str | None, str | None]  # id, polls_total, next_poll_at, last_polled_at


def read_feeds(db: Path) -> dict[int, Row]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute("select id, polls_total, next_poll_at, last_polled_at from feed")
            return {r[0]: r for r in rows}
    except sqlite3.Error:
        return {}


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


@dataclass(slots=True)
class Run:
    startup: float = float("nan")
    cold: float = float("nan")
    polls_per_s: float = 0.0
    lateness: list[float] = field(default_factory=list)
    overdue: int = 0
    cpu_pct: float = 0.0
    expected: float = 0.0
    restart: float = float("nan")  # launch -> first poll, on the database of the run


def measure(
    code: Code, port: int, n: int, interval: int, window: float, tmp: Path, cold_cap: float
) -> Run:
    db = tmp / f"{code.name.split()[0]}-{n}-{time.monotonic_ns()}.db"
    feeds = write_yaml(tmp / "feeds.yaml", port, n, interval, code.bounds)
    proc = start(code, f"sqlite:///{db}", feeds, tmp / "run.log")
    run = Run(expected=n / interval)
    launched = time.monotonic()
    try:
        while time.monotonic() - launched < cold_cap:  # start-up and the cold cycle
            rows = read_feeds(db)
            polled = sum(1 for r in rows.values() if r[1] > 0)
            if polled and run.startup != run.startup:
                run.startup = time.monotonic() - launched
            if rows and polled == n:
                run.cold = time.monotonic() - launched
                break
            if proc.poll() is not None:
                raise RuntimeError(f"{code.name} exited: {(tmp / 'run.log').read_text()[-2000:]}")
            time.sleep(0.2)
        meter = CpuMeter({"bot": [proc.pid]})
        meter.sample()
        before = read_feeds(db)
        prev, t0, polls = before, time.monotonic(), 0
        while time.monotonic() - t0 < window:
            time.sleep(TICK_S)
            now_rows = read_feeds(db)
            meter.sample()
            for fid, row in now_rows.items():
                old = prev.get(fid)
                if old is None or row[1] <= old[1]:
                    continue
                polls += row[1] - old[1]
                due, done = _ts(old[2]), _ts(row[3])
                if due is not None and done is not None and row[1] - old[1] == 1:
                    run.lateness.append(done - due)
            prev = now_rows
        elapsed = time.monotonic() - t0
        run.polls_per_s = polls / elapsed
        run.cpu_pct = 100 * sum(meter.seconds().values()) / elapsed
        now = time.time()
        run.overdue = sum(1 for r in prev.values() if (_ts(r[2]) or now) < now - 10)
    finally:
        stop(proc)
    run.restart = restart(code, db, feeds, tmp)
    return run


def restart(code: Code, db: Path, feeds: Path, tmp: Path) -> float:
    """A restart on the same database: launch -> the first poll it records."""
    before = sum(r[1] for r in read_feeds(db).values())
    proc = start(code, f"sqlite:///{db}", feeds, tmp / "restart.log")
    launched = time.monotonic()
    try:
        while time.monotonic() - launched < 120:
            if sum(r[1] for r in read_feeds(db).values()) > before:
                return time.monotonic() - launched
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        return float("nan")
    finally:
        stop(proc)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def schedule_section(
    codes: list[Code], sizes: list[int], rounds: int, interval: int, window: float, tmp: Path
) -> None:
    for n in sizes:
        results: dict[str, list[Run]] = {c.name: [] for c in codes}
        with feed_server("schedule", n) as (port, _):
            for r in range(rounds):
                for code in codes if r % 2 == 0 else list(reversed(codes)):
                    log(f"{n} feeds, round {r + 1}/{rounds}: {code.name}")
                    cap = max(90.0, 3 * interval)
                    results[code.name].append(
                        measure(code, port, n, interval, window, tmp, cold_cap=cap)
                    )
        print_schedule(n, interval, window, results)


def _med(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def print_schedule(n: int, interval: int, window: float, results: dict[str, list[Run]]) -> None:
    print(f"\n{n} feeds at {interval}s (95% answer 304), window {window:g}s; {load_average()}")
    count = len(next(iter(results.values())))
    print(f"  on time = {n / interval:.1f} polls/s; medians of {count} rounds")
    head = f"  {'':24} {'start-up s':>10} {'restart s':>9} {'cold cycle s':>12} {'polls/s':>8} "
    print(head + f"{'late p50 s':>10} {'late p95 s':>10} {'overdue':>8} {'CPU %':>6}")
    for name, runs in results.items():
        p50 = _med([pct(r.lateness, 0.5) for r in runs])
        p95 = _med([pct(r.lateness, 0.95) for r in runs])
        cold = _med([r.cold for r in runs])
        print(
            f"  {name:24} {_med([r.startup for r in runs]):10.2f} "
            f"{_med([r.restart for r in runs]):9.2f} {cold:12.1f} "
            f"{_med([r.polls_per_s for r in runs]):8.1f} {p50:10.2f} {p95:10.2f} "
            f"{_med([float(r.overdue) for r in runs]):8.0f} {_med([r.cpu_pct for r in runs]):6.0f}"
        )
        print(
            "  "
            + " " * 24
            + " rounds: polls/s "
            + ", ".join(f"{r.polls_per_s:.1f}" for r in runs)
            + "; CPU % "
            + ", ".join(f"{r.cpu_pct:.0f}" for r in runs)
            + "; start-up s "
            + ", ".join(f"{r.startup:.2f}" for r in runs)
            + "; restart s "
            + ", ".join(f"{r.restart:.2f}" for r in runs)
        )
    if len(results) == 2:
        (a, ra), (b, rb) = results.items()
        ratio = _med([x.polls_per_s for x in rb]) / max(_med([x.polls_per_s for x in ra]), 1e-9)
        su = _med([x.startup for x in ra]) / max(_med([x.startup for x in rb]), 1e-9)
        re = _med([x.restart for x in ra]) / max(_med([x.restart for x in rb]), 1e-9)
        print(f"  {b} vs {a}: polls/s x{ratio:.2f}; start-up {su:.1f}x, restart {re:.1f}x shorter")


# ---------------------------------------------------------------------------------------------
# Workers on PostgreSQL, parse-bound


def pg_polls(url: str) -> int:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with eng.connect() as conn:
            return int(
                conn.execute(text("select coalesce(sum(polls_total), 0) from feed")).scalar() or 0
            )
    except Exception:
        return 0
    finally:
        eng.dispose()


def workers_section(pg: str, m: int, rounds: int, window: float, tmp: Path) -> None:
    scratch = Scratch(pg, tmp)
    code = export("HEAD", tmp / "head-workers", bounds=True, label="HEAD")
    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    try:
        with feed_server("parse", m) as (port, server_pid):
            for r in range(rounds):
                for k in (1, 2) if r % 2 == 0 else (2, 1):
                    log(f"workers: round {r + 1}/{rounds}, {k} worker(s)")
                    url = scratch.pg(f"w{k}_{r}")
                    feeds = write_yaml(tmp / "feeds.yaml", port, m, 1, True)
                    procs = []
                    for w in range(k):
                        procs.append(start(code, url, feeds, tmp / f"w{w}.log"))
                        if w == 0:  # the first creates the schema; the second joins it
                            time.sleep(3)
                    try:
                        engine_url = url
                        deadline = time.monotonic() + 120
                        while pg_polls(engine_url) < m and time.monotonic() < deadline:
                            time.sleep(0.5)  # warm: every feed's first (storing) poll done
                        meter = CpuMeter(
                            {"worker": [p.pid for p in procs], "server": [server_pid],
                             "postgres": postgres_pids()}
                        )  # fmt: skip
                        meter.sample()
                        first, t0 = pg_polls(engine_url), time.monotonic()
                        while time.monotonic() - t0 < window:
                            time.sleep(1)
                            meter.sample()
                        rates[k].append((pg_polls(engine_url) - first) / (time.monotonic() - t0))
                        cpu[k].append({key: v / window for key, v in meter.seconds().items()})
                    finally:
                        for p in procs:
                            stop(p)
    finally:
        scratch.drop()
    one, two = _med(rates[1]), _med(rates[2])
    print(f"\nWorkers on PostgreSQL, {m} feeds, each poll parses 50 entries, window {window:g}s; "
          f"{load_average()}")  # fmt: skip
    for k in (1, 2):
        kinds = sorted({key for c in cpu[k] for key in c})
        split = ", ".join(f"{key} {_med([c.get(key, 0.0) for c in cpu[k]]):.2f}" for key in kinds)
        print(f"  {k} worker(s): {_med(rates[k]):.1f} polls/s (rounds "
              f"{', '.join(f'{x:.1f}' for x in rates[k])}); cores used: {split}")  # fmt: skip
    print(f"  2 workers vs 1: x{two / max(one, 1e-9):.2f} (goal >= 1.6)")


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1,000 feeds at 30 s, short windows")
    p.add_argument("--feeds", default=None, help="comma-separated feed counts (1000,5000)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=float, default=None, help="seconds measured per run")
    p.add_argument("--baseline", default=BASELINE, help="commit to compare with ('' for none)")
    p.add_argument("--only", choices=("schedule", "workers"), default=None)
    p.add_argument("--workers-feeds", type=int, default=300)
    p.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), float(args.serve[2]))
        return 0
    sizes = [int(x) for x in (args.feeds or ("1000" if args.quick else "1000,5000")).split(",")]
    interval = 30 if args.quick else 60
    # At least one interval: every feed comes due inside the window.
    window = max(args.window or (30.0 if args.quick else 60.0), float(interval))
    print(f"bench_feeds: {os.cpu_count()} cores, {load_average()}")
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp_s:
        tmp = Path(tmp_s)
        if args.only in (None, "schedule"):
            # The commit under test, exported: edits made while the bench runs change nothing.
            codes = [export("HEAD", tmp / "head", bounds=True, label="HEAD")]
            if args.baseline:
                base = export(args.baseline, tmp / "baseline")
                # A baseline that knows min_interval/max_interval gets them too: its feeds
                # held at the interval like HEAD's, not slowed down by adaptive polling.
                knows = (base.root / "bot" / "feeds" / "cadence.py").exists()
                codes.insert(0, replace(base, bounds=knows))
            schedule_section(codes, sizes, args.rounds, interval, window, tmp)
        if args.only in (None, "workers"):
            pg = os.environ.get("THESISWATCH_BENCH_PG", PG_DEFAULT)
            m = args.workers_feeds // (2 if args.quick else 1)
            workers_section(pg, m, args.rounds, 15.0 if args.quick else 30.0, tmp)
    return 0


if __name__ == "__main__":
    random.seed(0)
    sys.exit(main())
