"""Worker benchmarks: real ``thesiswatch run`` processes against local feeds and PostgreSQL.

    .venv/bin/python bench/bench_workers.py            # 1,000 feeds, 100,000 items (~3-4 min)
    .venv/bin/python bench/bench_workers.py --quick    # 200 feeds, 20,000 items (< 90 s)
    .venv/bin/python bench/bench_workers.py --only cycle --ports 1   # every feed on one host
    THESISWATCH_BENCH_PG=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python ...

1. Poll cycle: the feeds served over HTTP on 127.0.0.1 by a child process (stdlib
   ThreadingHTTPServer; even feeds answer 304 to If-None-Match after the first fetch, odd feeds
   send the same 200 body every time; ~20 RSS entries each), a feeds YAML with ``interval``
   (30 s, 6 s with --quick), then ``thesiswatch run --role poller`` with 1 worker and with 3
   workers, each on a fresh schema. Times come from ``feed.polls_total`` sampled every 0.2 s:
   launch -> first poll (start-up), launch -> every feed polled once (cold cycle), and the
   second cycle from the first feed's second poll to every feed's second poll.
2. Resident memory: one ``thesiswatch run --role all`` worker with the feeds served locally,
   VmRSS (and VmHWM, the peak) from /proc after its first full poll cycle, on a database filled
   with N feeds and M items (bulk inserts into the storage tables, stories and sightings
   included, items marked evaluated, published over the last 14 days) against the same worker
   on an empty database; and a bare ``python -c "import bot.app"``.

Scratch: one database ``bench_<pid>`` on the server (a schema per run inside it) and SQLite
files in a temp folder, dropped at the end; only processes started here are stopped.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.feeds.normalise import content_hash, short_hash, title_signature  # noqa: E402
from bot.feeds.scheduler import FIRST_POLL_SPREAD  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402
from storage.feeds import sync_feeds  # noqa: E402
from storage.models import feed_t, item_t, sighting_t, story_t  # noqa: E402
from storage.records import FeedDef  # noqa: E402

PG_ENV = "THESISWATCH_BENCH_PG"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
ENTRY_POINT = Path(sys.executable).parent / "thesiswatch"
ENTRIES_PER_FEED = 20
SAMPLE_S = 0.2

SUBJECTS = (
    "Nvidia",
    "ASML",
    "MOFCOM",
    "BIS",
    "TSMC",
    "Huawei",
    "SMIC",
    "The Dutch government",
    "Beijing",
    "Washington",
    "AMD",
    "Applied Materials",
)
VERBS = ("weighs", "tightens", "eases", "extends", "delays", "confirms", "probes", "lifts")
OBJECTS = (
    "H20 export licences",
    "DUV servicing rules",
    "rare earth quotas",
    "RTX Pro 6000D shipments",
    "gallium export controls",
    "the entity list",
    "chip tariffs",
    "lithography spare parts",
    "HBM sales",
    "antitrust probe",
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def headline(rng: random.Random, tag: str) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} ({tag})"


# ---------------------------------------------------------------------------------------------
# The feed server (its own process: its CPU is not the workers')


def feed_bodies(n: int, anchor: datetime, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    out = {}
    for i in range(n):
        items = []
        for j in range(ENTRIES_PER_FEED):
            at = anchor - timedelta(minutes=rng.randrange(36 * 60))
            link = f"https://news{i % 37}.example/{i}/{j}?utm_source=rss"
            items.append(
                f"<item><title>{headline(rng, f'f{i}e{j}')}</title><link>{link}</link>"
                f"<guid>{link}</guid><pubDate>{format_datetime(at, usegmt=True)}</pubDate>"
                f"<description>&lt;p&gt;Desk note {i}-{j} on export controls, licences and "
                f"supply chains.&lt;/p&gt;</description></item>"
            )
        out[f"/f{i}.xml"] = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {i}</title><link>https://news{i % 37}.example/</link>"
            f"{''.join(items)}</channel></rss>"
        ).encode()
    return out


def serve(n: int, ports: int, anchor: float, seed: int) -> None:
    """Child-process entry (``--serve``): print the ports, serve until stdin closes."""
    bodies = feed_bodies(n, datetime.fromtimestamp(anchor, UTC), seed)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            etag = f'"{short_hash(self.path)[:16]}"'
            conditional = int(self.path[2:-4]) % 2 == 0
            if conditional and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            if conditional:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a worker stopped mid-read
                super().handle_error(request, client_address)  # type: ignore[arg-type]

    servers = []
    for _ in range(ports):
        httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    print(" ".join(str(s.server_address[1]) for s in servers), flush=True)
    sys.stdin.read()  # the parent closes our stdin (or dies): stop


@dataclass(slots=True)
class Feeds:
    n: int
    ports: list[int]
    anchor: datetime
    bodies_kib: float

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i % len(self.ports)]}/f{i}.xml"

    def defs(self, interval: int) -> list[FeedDef]:
        return [FeedDef(f"f{i:04d}", self.url(i), "press", interval) for i in range(self.n)]

    def write_yaml(self, path: Path, interval: int) -> Path:
        lines = ["feeds:"]
        lines += [
            f"  - {{name: {d.name}, url: '{d.url}', tier: {d.tier}, interval: {interval}}}"
            for d in self.defs(interval)
        ]
        path.write_text("\n".join(lines) + "\n")
        return path


@contextmanager
def feed_server(n: int, ports: int, seed: int) -> Iterator[Feeds]:
    anchor = datetime.now(UTC).replace(microsecond=0)
    cmd = [sys.executable, __file__, "--serve", str(n), str(ports), str(anchor.timestamp())]
    proc = subprocess.Popen(  # noqa: S603 (our own script)
        [*cmd, str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the feed server did not start")
        kib = sum(map(len, feed_bodies(n, anchor, seed).values())) / n / 1024
        yield Feeds(n, [int(p) for p in line.split()], anchor, kib)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Close stdin, SIGTERM, then SIGKILL what we started."""
    if proc.poll() is not None:
        return
    with suppress(Exception):
        if proc.stdin:
            proc.stdin.close()
    with suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------
# Scratch databases


class Scratch:
    """``bench_<pid>`` on the PostgreSQL server (schemas inside) and SQLite files in a temp dir."""

    def __init__(self, pg_url: str, tmp: Path) -> None:
        base = make_url(pg_url)
        if base.get_driver_name() in ("", "psycopg2"):
            base = base.set(drivername="postgresql+psycopg")
        self.base = base
        self.tmp = tmp
        self.name = f"bench_{os.getpid()}"
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
        self.created = False

    def pg(self, schema: str) -> str:
        """A URL whose connections live in a fresh schema of the scratch database."""
        db = self.base.set(database=self.name)
        if not self.created:
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.created = True
        eng = create_engine(db, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        eng.dispose()
        url = db.render_as_string(hide_password=False)
        return f"{url}?options=-csearch_path%3D{schema}"

    def sqlite(self, name: str) -> str:
        return f"sqlite:///{self.tmp / name}.db"

    def drop(self) -> None:
        if self.created:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


# ---------------------------------------------------------------------------------------------
# Workers


def start_worker(
    url: str, feeds_yaml: Path, role: str, out: Path, *, fetch_concurrency: int = 50
) -> subprocess.Popen[str]:
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": url,
        "THESISWATCH_FEEDS": str(feeds_yaml),
        "THESISWATCH_OPS_PORT": "-1",
        "THESISWATCH_MIN_FEED_INTERVAL": "1",
        "THESISWATCH_FETCH_CONCURRENCY": str(fetch_concurrency),
        "THESISWATCH_LOG_LEVEL": "WARNING",
        "THESISWATCH_RETENTION_DAYS": "0",
    }
    env.pop("THESISWATCH_TELEGRAM_TOKEN", None)
    with out.open("w") as fh:
        return subprocess.Popen(  # noqa: S603 (the installed entry point)
            [str(ENTRY_POINT), "run", "--role", role],
            cwd=out.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
        )


def polls(engine: Engine) -> list[tuple[int, int]]:
    """(polls_total, failures_total) of every feed, or [] while the schema is not there."""
    try:
        with Session(engine) as s:
            return [
                (int(p), int(f))
                for p, f in s.execute(select(feed_t.c.polls_total, feed_t.c.failures_total))
            ]
    except Exception:  # tables not created yet by the first worker
        return []


@dataclass(slots=True)
class Cycle:
    first_poll: float = float("nan")  # launch -> first feed polled
    cold: float = float("nan")  # launch -> every feed polled once
    second_start: float = float("nan")  # launch -> first second poll
    second: float = float("nan")  # launch -> every feed polled twice
    polls_at_second: int = 0  # sum of polls_total when every feed had two
    failures: int = 0
    elapsed: float = 0.0  # launch -> end of sampling
    once: int = 0  # feeds polled at least once at the end
    twice: int = 0
    polls: int = 0  # sum of polls_total at the end
    notes: list[str] = field(default_factory=list)


def wait_cycles(
    engine: Engine,
    n: int,
    launched: float,
    procs: Sequence[subprocess.Popen[str]],
    *,
    want: int,
    deadline: float,
) -> Cycle:
    c = Cycle()
    while time.monotonic() < deadline:
        rows = polls(engine)
        now = time.monotonic() - launched
        counts = [p for p, _ in rows]
        if len(counts) == n:
            if c.first_poll != c.first_poll and max(counts) >= 1:
                c.first_poll = now
            if c.cold != c.cold and min(counts) >= 1:
                c.cold = now
            if c.second_start != c.second_start and max(counts) >= 2:
                c.second_start = now
            if want >= 2 and c.second != c.second and min(counts) >= 2:
                c.second = now
                c.polls_at_second = sum(counts)
            c.failures = sum(f for _, f in rows)
            c.elapsed, c.polls = now, sum(counts)
            c.once, c.twice = sum(p >= 1 for p in counts), sum(p >= 2 for p in counts)
            if min(counts) >= want:
                return c
        dead = [p.pid for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"worker(s) {dead} exited early")
        time.sleep(SAMPLE_S)
    c.notes.append(
        f"stopped at the {c.elapsed:.0f}s deadline: {c.once}/{n} feeds polled once, "
        f"{c.twice}/{n} twice"
    )
    return c


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def tail(path: Path, lines: int = 15) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text().splitlines()[-lines:])
    return ""


# ---------------------------------------------------------------------------------------------
# 1. Poll cycle, one worker against three


def bench_cycle(
    scratch: Scratch,
    feeds: Feeds,
    workers: int,
    interval: int,
    tmp: Path,
    tag: str,
    limit: float,
) -> Cycle:
    url = scratch.pg(f"cycle_{tag}")
    yaml = feeds.write_yaml(tmp / f"feeds_{tag}.yaml", interval)
    engine = make_engine(url)
    procs: list[subprocess.Popen[str]] = []
    outs = [tmp / f"{tag}_w{k}.out" for k in range(workers)]
    try:
        launched = time.monotonic()
        procs = [start_worker(url, yaml, "poller", out) for out in outs]
        deadline = launched + limit
        cycle = wait_cycles(engine, feeds.n, launched, procs, want=2, deadline=deadline)
    except RuntimeError:
        for out in outs:
            log(f"--- {out.name}\n{tail(out)}")
        raise
    finally:
        for p in procs:
            with suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in procs:
            stop(p)
        engine.dispose()
    log(
        f"  {workers} worker(s): first poll {cycle.first_poll:.1f}s, cold {cycle.cold:.1f}s, "
        f"second cycle {cycle.second_start:.1f}-{cycle.second:.1f}s, "
        f"polls {cycle.polls_at_second}, failures {cycle.failures}"
    )
    return cycle


# ---------------------------------------------------------------------------------------------
# 2. Resident memory


def fill(url: str, feeds: Feeds, interval: int, n_items: int, seed: int) -> float:
    """Feeds as configured, then ``n_items`` items (about 2 per story) with one sighting each."""
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        migrate(engine)
        with Session(engine) as s, s.begin():
            ids = sync_feeds(s, feeds.defs(interval), deactivate_others=False)
        if not n_items:
            return 0.0
        rng = random.Random(seed)
        now = datetime.now(UTC)
        chunk = 5_000
        story_id = 0
        for lo in range(0, n_items, chunk):
            stories, items, sightings = [], [], []
            for k in range(lo, min(lo + chunk, n_items)):
                at = now - timedelta(minutes=rng.randrange(14 * 24 * 60))
                title = headline(rng, f"fill{k}")
                chash = content_hash(title, "", at, None)
                if k % 2 == 0:
                    story_id += 1
                    stories.append(
                        {
                            "id": story_id,
                            "key": chash,
                            "title": title,
                            "title_sig": title_signature(title),
                            "first_published_at": at,
                            "last_published_at": at + timedelta(hours=1),
                            "created_at": at,
                        }
                    )
                feed_id = ids[k % len(ids)]
                link = f"https://fill{k % 53}.example/a/{k}"
                items.append(
                    {
                        "id": k + 1,
                        "story_id": story_id,
                        "feed_id": feed_id,
                        "tier": "press",
                        "publisher": f"f{k % len(ids):04d}",
                        "title": title,
                        "summary": f"Desk note {k} on export controls, licences and supply.",
                        "url": link,
                        "content_hash": chash,
                        "published_at": at,
                        "first_seen_at": at,
                        "evaluated_at": at,
                    }
                )
                sightings.append(
                    {
                        "id": k + 1,
                        "item_id": k + 1,
                        "feed_id": feed_id,
                        "entry_key": short_hash("fill", str(k)),
                        "publisher": f"f{k % len(ids):04d}",
                        "url": link,
                        "seen_at": at,
                    }
                )
            with Session(engine) as s, s.begin():
                if stories:
                    s.execute(insert(story_t), stories)
                s.execute(insert(item_t), items)
                s.execute(insert(sighting_t), sightings)
        if engine.dialect.name == "postgresql":
            with Session(engine) as s, s.begin():
                for table in ("story", "item", "sighting"):
                    setval = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # noqa: E501, S608
                    s.execute(text(setval))
                s.execute(text("ANALYZE"))
        return time.perf_counter() - started
    finally:
        engine.dispose()


@dataclass(slots=True)
class Memory:
    label: str
    rss: int = 0  # KiB
    hwm: int = 0  # KiB
    cold: float = float("nan")  # launch -> every feed polled once
    fill_s: float = 0.0


def bench_memory(
    runs: list[tuple[str, str, int]],
    feeds: Feeds,
    interval: int,
    tmp: Path,
    seed: int,
    limit: float,
) -> dict[str, Memory]:
    """One worker per (tag, url, items), all at once: RSS does not depend on the CPU share."""
    mems = {tag: Memory(tag, fill_s=fill(url, feeds, interval, k, seed)) for tag, url, k in runs}
    yaml = feeds.write_yaml(tmp / "feeds_mem.yaml", interval)
    engines = {tag: make_engine(url) for tag, url, _ in runs}
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        launched = time.monotonic()
        for tag, url, _ in runs:
            procs[tag] = start_worker(url, yaml, "all", tmp / f"{tag}.out")
        pending = set(procs)
        deadline = launched + limit
        while pending and time.monotonic() < deadline:
            for tag in sorted(pending):
                if procs[tag].poll() is not None:
                    log(f"--- {tag}.out\n{tail(tmp / f'{tag}.out')}")
                    raise RuntimeError(f"worker {tag} exited early")
                counts = [p for p, _ in polls(engines[tag])]
                if len(counts) == feeds.n and min(counts) >= 1:
                    mems[tag].cold = time.monotonic() - launched
                    time.sleep(1)  # the evaluation that follows the last poll
                    mems[tag].rss, mems[tag].hwm = rss_kib(procs[tag].pid)
                    pending.discard(tag)
            time.sleep(SAMPLE_S)
        for tag in pending:  # not done in time: RSS as it stands
            mems[tag].rss, mems[tag].hwm = rss_kib(procs[tag].pid)
    finally:
        for p in procs.values():
            with suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            stop(p)
        for e in engines.values():
            e.dispose()
    for m in mems.values():
        log(
            f"  {m.label}: filled in {m.fill_s:.1f}s, cold cycle {m.cold:.1f}s, "
            f"RSS {m.rss / 1024:.0f} MiB (peak {m.hwm / 1024:.0f} MiB)"
        )
    return mems


def bare_import_rss() -> int:
    code = (
        "import bot.app, pathlib; "
        "print([l for l in pathlib.Path('/proc/self/status').read_text().splitlines() "
        "if l.startswith('VmRSS')][0].split()[1])"
    )
    done = subprocess.run(  # noqa: S603 (this interpreter)
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return int(done.stdout.strip())


# ---------------------------------------------------------------------------------------------
# Main


def table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="200 feeds, 20,000 items, interval 6")
    p.add_argument("--feeds", type=int, help="feeds served (default 1000, quick 200)")
    p.add_argument("--items", type=int, help="items in the filled database (100000 / 20000)")
    p.add_argument("--interval", type=int, help="feed interval in seconds (30, quick 10)")
    p.add_argument(
        "--ports",
        type=int,
        default=25,
        help="server ports the feeds are spread over (one 'host' each: the fetcher allows 2 "
        "fetches per host at a time); 1 puts every feed on one host",
    )
    p.add_argument("--only", default="cycle,memory", help="cycle,memory")
    p.add_argument("--backends", help="memory section: pg (default), pg,sqlite (quick)")
    p.add_argument("--cycle-limit", type=float, help="seconds per cycle run (60, quick 30)")
    p.add_argument("--memory-limit", type=float, default=150, help="seconds for the workers")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        n, ports, anchor, seed = args.serve
        serve(int(n), int(ports), float(anchor), int(seed))
        return 0
    n = args.feeds or (200 if args.quick else 1000)
    n_items = args.items if args.items is not None else (20_000 if args.quick else 100_000)
    interval = args.interval or (6 if args.quick else 30)
    cycle_limit = args.cycle_limit or (30 if args.quick else 60)
    only = set(args.only.split(","))
    backends = (args.backends or ("pg,sqlite" if args.quick else "pg")).split(",")
    pg_url = os.environ.get(PG_ENV, PG_DEFAULT)
    started = time.monotonic()
    print(
        f"thesiswatch worker bench: {n} feeds x {ENTRIES_PER_FEED} entries on 127.0.0.1 "
        f"({args.ports} port(s)), half 304 / half identical 200, interval {interval}s, "
        f"FETCH_CONCURRENCY=50; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="bench_workers_") as tmpdir:
        tmp = Path(tmpdir)
        scratch = Scratch(pg_url, tmp)
        try:
            with feed_server(n, args.ports, args.seed) as feeds:
                print(f"feeds of {feeds.bodies_kib:.1f} KiB each; PostgreSQL {scratch.base.host}")
                if "cycle" in only:
                    log("1. poll cycle")
                    one = bench_cycle(scratch, feeds, 1, interval, tmp, "w1", cycle_limit)
                    three = bench_cycle(scratch, feeds, 3, interval, tmp, "w3", cycle_limit)
                    print_cycles(n, interval, one, three)
                if "memory" in only:
                    log("2. memory")
                    runs = []
                    for b in backends:
                        url = scratch.pg if b == "pg" else scratch.sqlite
                        runs += [
                            (f"{b}_empty", url("mem_empty"), 0),
                            (f"{b}_full", url("mem_full"), n_items),
                        ]
                    mems = bench_memory(runs, feeds, interval, tmp, args.seed, args.memory_limit)
                    print_memory(n, n_items, backends, mems, bare_import_rss())
        finally:
            scratch.drop()
    print(f"({time.monotonic() - started:.0f}s in all)")
    return 0


def _rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def print_cycles(n: int, interval: int, one: Cycle, three: Cycle) -> None:
    spread = FIRST_POLL_SPREAD.total_seconds()
    jitter = max(1, interval // 10)
    print(
        f"\n1. poll cycle, {n} feeds, `run --role poller` on PostgreSQL "
        f"(schedule: first polls spread over {spread:.0f}s, then every {interval}s +/- {jitter}s)"
    )
    rows = [("measure", "1 worker", "3 workers", "3w / 1w")]

    def add(name: str, a: float, b: float, fmt: str = "{:.1f}") -> None:
        ratio = f"{b / a:.2f}x" if a == a and b == b and a else ""
        rows.append(
            (name, fmt.format(a) if a == a else "-", fmt.format(b) if b == b else "-", ratio)
        )

    def cold_rate(c: Cycle) -> float:
        if c.cold == c.cold:
            return _rate(n, c.cold - c.first_poll)
        return _rate(c.once, c.elapsed - c.first_poll)

    def second_rate(c: Cycle) -> float:
        if c.second == c.second:
            return _rate(n, c.second - c.second_start)
        return _rate(c.twice, c.elapsed - c.second_start)

    add("launch -> first poll (s)", one.first_poll, three.first_poll)
    add("launch -> every feed polled once (s)", one.cold, three.cold)
    add("  cold feeds/s (first poll -> all)", cold_rate(one), cold_rate(three), "{:.1f}")
    add("launch -> first 2nd poll (s)", one.second_start, three.second_start)
    add("launch -> every feed polled twice (s)", one.second, three.second)
    add(
        "  2nd-cycle feeds/s (first -> last 2nd poll)",
        second_rate(one),
        second_rate(three),
        "{:.1f}",
    )
    add(
        "polls/s over the run (first poll -> end)",
        _rate(one.polls, one.elapsed - one.first_poll),
        _rate(three.polls, three.elapsed - three.first_poll),
        "{:.1f}",
    )
    rows.append(
        (
            "feeds polled once / twice at the end",
            f"{one.once} / {one.twice}",
            f"{three.once} / {three.twice}",
            "",
        )
    )
    rows.append(
        (
            "polls when all had 2 (2N = no repeats)",
            str(one.polls_at_second or "-"),
            str(three.polls_at_second or "-"),
            "",
        )
    )
    rows.append(("failures", str(one.failures), str(three.failures), ""))
    table(rows)
    print(
        f"  schedule floor: cold {spread:.0f}s ({n / spread:.0f} feeds/s), second cycle "
        f"{spread + 2 * jitter:.0f}s ({n / (spread + 2 * jitter):.0f} feeds/s); '-' = not reached"
    )
    for label, c in (("1 worker", one), ("3 workers", three)):
        for note in c.notes:
            print(f"  - {label}: {note}")


def print_memory(
    n: int, n_items: int, backends: list[str], mems: dict[str, Memory], bare: int
) -> None:
    print(
        "\n2. resident memory of one `run --role all` worker after its first full poll cycle "
        "(all workers run at once)"
    )
    rows = [("database", "VmRSS", "VmHWM (peak)", "x empty db", "x bare import", "cold cycle s")]
    for b in backends:
        label = "PostgreSQL" if b == "pg" else "SQLite"
        empty = mems[f"{b}_empty"]
        for what, m in (
            (f"{label}, {n} feeds, no items", empty),
            (f"{label}, {n} feeds + {n_items:,} items", mems[f"{b}_full"]),
        ):
            rows.append(
                (
                    what,
                    mib(m.rss),
                    mib(m.hwm),
                    f"{m.rss / empty.rss:.2f}x",
                    f"{m.rss / bare:.2f}x",
                    f"{m.cold:.1f}" if m.cold == m.cold else "-",
                )
            )
    rows.append(('python -c "import bot.app"', mib(bare), "", "", "1.00x", ""))
    table(rows)
    for b in backends:
        m = mems[f"{b}_full"]
        print(
            f"  - {m.label}: {n_items:,} items bulk-inserted in {m.fill_s:.1f}s (not in the table)"
        )


if __name__ == "__main__":
    sys.exit(main())
