"""Ingest benchmarks: ratios against bare feedparser measured in the same run.

    .venv/bin/python bench/bench_ingest.py                # 200 feeds, 3 rounds (about a minute)
    .venv/bin/python bench/bench_ingest.py --quick        # smoke run, a few seconds
    .venv/bin/python bench/bench_ingest.py --only cold,repoll --feeds 400 --rounds 5
    .venv/bin/python bench/bench_ingest.py --profile      # where one cold ingest spends its time
    THESISWATCH_BENCH_PG=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_ingest.py --only upsert

The machine is shared and noisy: every measurement is repeated ``--rounds`` times, baselines
are interleaved with what they are compared to, and the table shows the best round (the least
disturbed one) next to the median. Ratios are times: ingest time / bare-parse time, so 1.00x
means "costs what feedparser alone costs" and the targets are upper bounds. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
from feeds_gen import GenEntry, GenFeed, generate_feeds, render, repoll, total_entries, write_feeds
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

import bot.feeds.poller
from bot.feeds.fastparse import fast_parse
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.ingest import ingest_paths, poll_feeds
from bot.feeds.normalise import (
    SUMMARY_CHARS,
    TITLE_CHARS,
    canonical_url,
    content_hash,
    plain_text,
    short_hash,
    title_signature,
)
from bot.feeds.parse import parse_feed
from bot.feeds.poller import Poller
from storage.db import open_database
from storage.feeds import sync_feeds
from storage.items import StoryCache, store_entries
from storage.records import FeedDef, NewEntry

PG_ENV = "THESISWATCH_BENCH_PG"
BARE_OFF = {"sanitize_html": False, "resolve_relative_uris": False}

# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass(slots=True)
class Samples:
    """Seconds of repeated runs of one measurement."""

    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@contextmanager
def timed(into: Samples) -> Iterator[None]:
    gc.collect()
    start = time.perf_counter()
    try:
        yield
    finally:
        into.seconds.append(time.perf_counter() - start)


class Budget:
    """Rounds of one section: at least one, at most ``rounds``, within ``seconds`` if possible."""

    def __init__(self, rounds: int, seconds: float, label: str, notes: list[str]) -> None:
        self.rounds, self.seconds, self.label, self.notes = rounds, seconds, label, notes
        self.start = time.perf_counter()

    def __iter__(self) -> Iterator[int]:
        last = self.start
        for r in range(self.rounds):
            now = time.perf_counter()
            if r and (now - self.start) + (now - last) > self.seconds:
                self.notes.append(
                    f"{self.label}: {r} of {self.rounds} rounds fitted in its {self.seconds:.0f}s "
                    "share of --budget"
                )
                return
            last = now
            yield r


@dataclass(slots=True)
class Row:
    name: str
    value: str  # absolute figure, best round
    baseline: str
    ratio: str  # best (median)
    target: str = ""
    ok: bool | None = None


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def ratio_cell(subject: Samples, base: Samples) -> tuple[str, float]:
    best = subject.best / base.best
    return f"{best:.2f}x ({subject.median / base.median:.2f}x)", best


def bare_parse(bodies: Sequence[bytes], **kwargs: Any) -> int:
    return sum(len(feedparser.parse(body, **kwargs).entries) for body in bodies)


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'bench.db'}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# a, b: cold ingest and re-poll of feed files against bare feedparser


@dataclass(slots=True)
class IngestResult:
    entries: int
    repoll_entries: int
    bare_default: Samples = field(default_factory=Samples)
    bare_off: Samples = field(default_factory=Samples)
    cold: Samples = field(default_factory=Samples)
    repoll_bare_default: Samples = field(default_factory=Samples)
    repoll_bare_off: Samples = field(default_factory=Samples)
    repoll: Samples = field(default_factory=Samples)
    notes: list[str] = field(default_factory=list)


def bench_ingest(feeds: list[GenFeed], rounds: int, budget: float, tmp: Path) -> IngestResult:
    mutated = [repoll(f, new_entries=2) for f in feeds]
    bodies = [render(f) for f in feeds]
    mutated_bodies = [render(f) for f in mutated]
    result = IngestResult(entries=total_entries(feeds), repoll_entries=total_entries(mutated))
    for r in Budget(rounds, budget, "a/b ingest", result.notes):
        folder = tmp / f"ingest-{r}"
        engine = open_database(sqlite_url(folder))  # migrations are not part of the ingest
        paths = write_feeds(feeds, folder / "feeds")
        with timed(result.bare_default):
            n_default = bare_parse(bodies)
        with timed(result.bare_off):
            n_off = bare_parse(bodies, **BARE_OFF)
        with timed(result.cold):
            cold = asyncio.run(ingest_paths(engine, paths, tier="press"))
        write_feeds(mutated, folder / "feeds")  # same names: a re-poll of the same feeds
        with timed(result.repoll_bare_default):
            bare_parse(mutated_bodies)
        with timed(result.repoll_bare_off):
            bare_parse(mutated_bodies, **BARE_OFF)
        with timed(result.repoll):
            again = asyncio.run(ingest_paths(engine, paths, tier="press"))
        engine.dispose()
        log(
            f"  round {r + 1}: bare {result.bare_default.seconds[-1]:.2f}s / off "
            f"{result.bare_off.seconds[-1]:.2f}s, ingest {result.cold.seconds[-1]:.2f}s; "
            "re-poll "
            f"bare {result.repoll_bare_off.seconds[-1]:.2f}s, "
            f"ingest {result.repoll.seconds[-1]:.2f}s"
        )
        if r == 0:
            if cold.errors or again.errors or n_default != n_off != result.entries:
                result.notes.append(f"cold errors {cold.errors[:3]}, re-poll {again.errors[:3]}")
            result.notes.append(
                f"cold: {cold.files} files, {cold.entries} entries -> {cold.new_items} items, "
                f"{cold.new_stories} stories; re-poll: {again.entries} entries -> "
                f"{again.new_items} new items"
            )
    return result


def ingest_rows(res: IngestResult) -> list[Row]:
    rows = []
    for label, subject, default, off, count, target in (
        ("cold ingest", res.cold, res.bare_default, res.bare_off, res.entries, 1.3),
        ("re-poll ingest", res.repoll, res.repoll_bare_default, res.repoll_bare_off,
         res.repoll_entries, 1.2),
    ):  # fmt: skip
        for base_label, base in (("feedparser defaults", default), ("feedparser no-sanitise", off)):
            cell, best = ratio_cell(subject, base)
            rows.append(
                Row(
                    name=f"{label} vs {base_label}",
                    value=f"{rate(count, subject.best)} entries",
                    baseline=f"{rate(count, base.best)} entries",
                    ratio=cell,
                    target=f"<= {target}x",
                    ok=best <= target,
                )
            )
    return rows


# ---------------------------------------------------------------------------------------------
# p: parsing alone, bytes to normalised entries, against bare feedparser


@dataclass(slots=True)
class ParseResult:
    entries: int
    bare_default: Samples = field(default_factory=Samples)
    bare_off: Samples = field(default_factory=Samples)
    ours: Samples = field(default_factory=Samples)
    ours_fallback: Samples = field(default_factory=Samples)
    lxml_read: Samples = field(default_factory=Samples)
    notes: list[str] = field(default_factory=list)


def _parse_all(bodies: Sequence[bytes], *, fast: bool) -> int:
    now = datetime.now(UTC)
    return sum(
        len(parse_feed(body, publisher="bench", now=now, fast=fast).entries) for body in bodies
    )


def _agreement(bodies: Sequence[bytes]) -> str:
    """How many feeds took the fast path, and whether it read what feedparser reads."""
    now = datetime.now(UTC)
    fast = same = 0
    differ: list[int] = []
    for i, body in enumerate(bodies):
        quick = parse_feed(body, publisher="bench", now=now)
        slow = parse_feed(body, publisher="bench", now=now, fast=False)
        fast += quick.fast
        if quick.entries == slow.entries and quick.title == slow.title:
            same += 1
        else:
            differ.append(i)
    shown = f"; feeds that differ: {differ[:10]}" if differ else ""
    return (
        f"fast path taken for {fast}/{len(bodies)} feeds; fast path and feedparser give "
        f"identical entries for {same}/{len(bodies)}{shown}"
    )


def bench_parse(feeds: list[GenFeed], rounds: int, budget: float) -> ParseResult:
    bodies = [render(f) for f in feeds]
    res = ParseResult(entries=total_entries(feeds))
    res.notes.append("p parse: " + _agreement(bodies))
    for r in Budget(rounds, budget, "p parse", res.notes):
        with timed(res.bare_default):
            bare_parse(bodies)
        with timed(res.ours):
            n_ours = _parse_all(bodies, fast=True)
        with timed(res.bare_off):
            bare_parse(bodies, **BARE_OFF)
        with timed(res.lxml_read):
            for body in bodies:
                fast_parse(body, base=None, content_type=None)
        with timed(res.ours_fallback):
            _parse_all(bodies, fast=False)
        log(
            f"  round {r + 1}: feedparser {res.bare_default.seconds[-1]:.2f}s / no-sanitise "
            f"{res.bare_off.seconds[-1]:.2f}s, parse_feed {res.ours.seconds[-1]:.2f}s "
            f"(feedparser path {res.ours_fallback.seconds[-1]:.2f}s, lxml read alone "
            f"{res.lxml_read.seconds[-1]:.2f}s)"
        )
        if r == 0 and n_ours != res.entries:
            res.notes.append(f"p parse: {n_ours} entries parsed of {res.entries}")
    return res


def parse_rows(res: ParseResult) -> list[Row]:
    rows = []
    for label, subject in (
        ("parse_feed (lxml path + normalise)", res.ours),
        ("parse_feed, feedparser path (fast=False)", res.ours_fallback),
        ("lxml read alone (fast_parse, no normalise)", res.lxml_read),
    ):
        for base_label, base in (
            ("feedparser defaults", res.bare_default),
            ("feedparser no-sanitise", res.bare_off),
        ):
            cell, _ = ratio_cell(subject, base)
            rows.append(
                Row(
                    name=f"parse: {label} vs {base_label}",
                    value=f"{rate(res.entries, subject.best)} entries",
                    baseline=f"{rate(res.entries, base.best)} entries",
                    ratio=cell,
                )
            )
    return rows


# ---------------------------------------------------------------------------------------------
# c: unchanged feeds over HTTP (304 and identical 200)


def _make_handler(bodies: dict[str, tuple[bytes, str, bool]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers

        def do_GET(self) -> None:
            found = bodies.get(self.path)
            if found is None:
                self.send_error(404)
                return
            body, ctype, conditional = found
            etag = f'"{short_hash(self.path, str(len(body)))[:20]}"'
            if conditional and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)  # the other half ignores If-None-Match
            self.send_header("Last-Modified", "Mon, 10 Nov 2025 12:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _serve(bodies: dict[str, tuple[bytes, str, bool]], port_out: Any, stop: Any) -> None:
    """Child-process entry: serve ``bodies`` on 127.0.0.1 until ``stop`` is set."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(bodies))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port_out.put(server.server_address[1])
    stop.wait()
    server.shutdown()


@contextmanager
def feed_server(bodies: dict[str, tuple[bytes, str, bool]], where: str) -> Iterator[int]:
    """A ThreadingHTTPServer in a thread: of a child process (default) or of this one.

    In this process the server's own CPU competes with the poller for the GIL and is counted
    in the poller's time; a real feed server is on another machine.
    """
    if where == "thread":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(bodies))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(server.server_address[1])
        finally:
            server.shutdown()
            server.server_close()
        return
    ctx = multiprocessing.get_context("spawn")
    port_q = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(bodies, port_q, stop), daemon=True)
    proc.start()
    try:
        yield int(port_q.get(timeout=60))
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


@dataclass(slots=True)
class HttpResult:
    feeds: int
    cold: Samples = field(default_factory=Samples)
    not_modified: Samples = field(default_factory=Samples)
    identical: Samples = field(default_factory=Samples)
    bare_off: Samples = field(default_factory=Samples)
    counts: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)


async def _http_round(
    engine: Engine, urls: list[str], limits: FetchLimits, res: HttpResult
) -> dict[str, int]:
    defs = [
        FeedDef(name=f"http-{i:05d}", url=u, tier="press", interval_s=300)
        for i, u in enumerate(urls)
    ]
    with Session(engine) as session, session.begin():
        ids = sync_feeds(session, defs, deactivate_others=False)
    even, odd = ids[0::2], ids[1::2]
    statuses: dict[str, int] = defaultdict(int)
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits))
        try:
            gc.collect()
            with timed(res.cold):
                outcomes = await poll_feeds(poller, ids)
            with timed(res.not_modified):
                outcomes += await poll_feeds(poller, even)
            with timed(res.identical):
                outcomes += await poll_feeds(poller, odd)
        finally:
            poller.close()
    for o in outcomes:
        statuses[o.status] += 1
    res.counts = (len(even), len(odd))
    return dict(statuses)


def bench_http(
    feeds: list[GenFeed],
    rounds: int,
    budget: float,
    tmp: Path,
    where: str,
    bare_off: Samples | None,
) -> HttpResult:
    bodies = [render(f) for f in feeds]
    served = {
        f"/f/{i}.xml": (
            body,
            "application/atom+xml" if f.kind == "atom" else "application/rss+xml; charset=utf-8",
            i % 2 == 0,
        )
        for i, (f, body) in enumerate(zip(feeds, bodies, strict=True))
    }
    res = HttpResult(feeds=len(feeds))
    if bare_off is None:  # a/b did not run: one bare parse for scale
        bare_off = Samples()
        with timed(bare_off):
            bare_parse(bodies, **BARE_OFF)
    res.bare_off = bare_off
    # Every feed is on 127.0.0.1 here; real feeds are spread over many hosts.
    limits = FetchLimits(per_host=FetchLimits().concurrency)
    with feed_server(served, where) as port:
        urls = [f"http://127.0.0.1:{port}/f/{i}.xml" for i in range(len(feeds))]
        for r in Budget(rounds, budget, "c http", res.notes):
            engine = open_database(sqlite_url(tmp / f"http-{r}"))
            statuses = asyncio.run(_http_round(engine, urls, limits, res))
            engine.dispose()
            log(
                f"  round {r + 1}: cold {res.cold.seconds[-1]:.2f}s, 304 "
                f"{res.not_modified.seconds[-1] * 1000:.0f}ms, identical 200 "
                f"{res.identical.seconds[-1] * 1000:.0f}ms  {statuses}"
            )
            if r == 0:
                res.notes.append(f"poll outcomes over 3 polls: {statuses}")
    return res


def http_rows(res: HttpResult) -> list[Row]:
    per_cold = Samples([s / res.feeds for s in res.cold.seconds])
    per_304 = Samples([s / res.counts[0] for s in res.not_modified.seconds])
    per_200 = Samples([s / res.counts[1] for s in res.identical.seconds])
    per_bare = Samples([s / res.feeds for s in res.bare_off.seconds])
    cold_cell, cold_best = ratio_cell(per_cold, per_bare)
    rows = [
        Row(
            "cold poll per feed (HTTP, parse, store)",
            f"{per_cold.best * 1000:.2f} ms",
            f"{per_bare.best * 1000:.2f} ms bare parse (no-sanitise)",
            cold_cell,
        )
    ]
    for label, per in (("unchanged: 304", per_304), ("unchanged: identical 200", per_200)):
        cell, _ = ratio_cell(per, per_cold)
        rows.append(
            Row(
                f"{label} per feed",
                f"{per.best * 1000:.2f} ms",
                f"{per_cold.best * 1000:.2f} ms cold poll",
                cell,
            )
        )
    del cold_best
    return rows


# ---------------------------------------------------------------------------------------------
# d: the batched upsert alone


def new_entry(e: GenEntry, publisher: str) -> NewEntry:
    """What bot.feeds.parse makes of an entry, built straight from the generator's values."""
    title = plain_text(e.title, TITLE_CHARS)
    summary = plain_text(e.summary_html, SUMMARY_CHARS)
    return NewEntry(
        entry_key=short_hash("id", e.guid),
        url=canonical_url(e.link),
        content_hash=content_hash(title, summary, e.published),
        title=title,
        summary=summary,
        title_sig=title_signature(title),
        publisher=e.source[0] if e.source else publisher,
        published_at=e.published,
    )


@dataclass(slots=True)
class UpsertResult:
    backend: str
    rows: int
    new: Samples = field(default_factory=Samples)
    known: Samples = field(default_factory=Samples)
    notes: list[str] = field(default_factory=list)


def _store_all(engine: Engine, ids: list[int], batches: list[list[NewEntry]]) -> tuple[int, int]:
    now = datetime.now(UTC)
    items = stories = 0
    cache = StoryCache()  # as the poller keeps one across feeds
    for feed_id, entries in zip(ids, batches, strict=True):
        with Session(engine) as session, session.begin():
            result = store_entries(
                session, feed_id=feed_id, tier="press", entries=entries, now=now, stories=cache
            )
        items += result.new_items
        stories += result.new_stories
    return items, stories


def bench_upsert(
    backend: str,
    make_db: Callable[[int], Engine],
    batches: list[list[NewEntry]],
    rounds: int,
    budget: float,
) -> UpsertResult:
    res = UpsertResult(backend=backend, rows=sum(map(len, batches)))
    for r in Budget(rounds, budget, f"d upsert {backend}", res.notes):
        engine = make_db(r)
        defs = [
            FeedDef(f"upsert-{i}", f"https://x.invalid/{i}", "press", 300)
            for i in range(len(batches))
        ]
        with Session(engine) as session, session.begin():
            ids = sync_feeds(session, defs, deactivate_others=False)
        with timed(res.new):
            items, stories = _store_all(engine, ids, batches)
        with timed(res.known):
            again, _ = _store_all(engine, ids, batches)
        engine.dispose()
        log(
            f"  {backend} round {r + 1}: new {res.new.seconds[-1]:.2f}s, "
            f"known {res.known.seconds[-1]:.2f}s"
        )
        if r == 0:
            res.notes.append(
                f"{backend}: {res.rows} entries in {len(batches)} batches -> {items} items, "
                f"{stories} stories; second pass stored {again} new items"
            )
    return res


def upsert_rows(res: UpsertResult) -> list[Row]:
    return [
        Row(
            f"store_entries {res.backend}: new entries",
            f"{rate(res.rows, res.new.best)} rows",
            "reference ~40,000/s (SQLite WAL)" if res.backend.startswith("SQLite") else "",
            f"median {rate(res.rows, res.new.median)}",
        ),
        Row(
            f"store_entries {res.backend}: already stored",
            f"{rate(res.rows, res.known.best)} rows",
            "",
            f"median {rate(res.rows, res.known.median)}",
        ),
    ]


@contextmanager
def scratch_pg_database(url: str) -> Iterator[Callable[[int], Engine]]:
    """A ``bench_<pid>`` database on the server of ``url``, dropped afterwards (only it)."""
    base = make_url(url)
    if base.get_driver_name() in ("", "psycopg2"):
        base = base.set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make_db(r: int) -> Engine:
        name = f"bench_{os.getpid()}_{r}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return open_database(base.set(database=name).render_as_string(hide_password=False))

    try:
        yield make_db
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


# ---------------------------------------------------------------------------------------------
# Profile of one cold ingest, on the loop's thread and on the poller's database thread


class _ProfiledExecutor(ThreadPoolExecutor):
    """The poller's worker thread, profiled (cProfile only sees the thread that enables it)."""

    profiles: list[cProfile.Profile] = []  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        prof = cProfile.Profile()
        _ProfiledExecutor.profiles.append(prof)
        super().__init__(*args, initializer=prof.enable, **kwargs)
        self._prof = prof

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.submit(self._prof.disable).result()
        super().shutdown(wait, cancel_futures=cancel_futures)


def _package(filename: str, name: str = "") -> str:
    if filename == "~" and ("epoll" in name or "select" in name):
        return "idle: event loop waiting for the worker thread"
    for marker, label in (
        ("/feedparser/", "feedparser"),
        ("sgmllib", "feedparser (sgmllib)"),
        ("/sqlalchemy/", "sqlalchemy"),
        ("/sqlmodel/", "sqlmodel"),
        ("/httpx/", "httpx"),
        ("/httpcore/", "httpcore"),
        ("/alembic/", "alembic"),
        ("/asyncio/", "asyncio"),
    ):
        if marker in filename:
            return label
    repo = str(Path(__file__).resolve().parent.parent)
    if filename.startswith(repo):
        return Path(filename).relative_to(repo).parts[0] + "/ (ours)"
    if filename.startswith("~") or filename == "<built-in>":
        return "builtins (C)"
    if "/lib/python3" in filename and "site-packages" not in filename:
        return f"stdlib {Path(filename).stem}"
    return "other"


def profile_cold(feeds: list[GenFeed], tmp: Path, top: int) -> str:
    folder = tmp / "profile"
    engine = open_database(sqlite_url(folder))
    paths = write_feeds(feeds, folder / "feeds")
    original = getattr(bot.feeds.poller, "ThreadPoolExecutor")  # noqa: B009
    setattr(bot.feeds.poller, "ThreadPoolExecutor", _ProfiledExecutor)  # noqa: B010
    main = cProfile.Profile()
    try:
        gc.collect()
        start = time.perf_counter()
        main.enable()
        summary = asyncio.run(ingest_paths(engine, paths, tier="press"))
        main.disable()
        wall = time.perf_counter() - start
    finally:
        setattr(bot.feeds.poller, "ThreadPoolExecutor", original)  # noqa: B010
        engine.dispose()
    out = io.StringIO()
    stats = pstats.Stats(main, stream=out)
    for prof in _ProfiledExecutor.profiles:
        stats.add(prof)
    out.write(
        f"cold ingest of {summary.files} feeds, {summary.entries} entries: {wall:.2f}s wall "
        f"under the profiler (both threads profiled)\n\nself time by package:\n"
    )
    by_pkg: dict[str, float] = defaultdict(float)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_pkg[_package(filename, _name)] += tottime
    total = sum(by_pkg.values())
    for pkg, secs in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:14]:
        out.write(f"  {secs:7.3f}s {100 * secs / total:5.1f}%  {pkg}\n")
    out.write("\ntop self time outside feedparser:\n")
    rows = sorted(
        (
            (tottime, cumtime, ncalls, f"{_short(filename)}:{line}({name})")
            for (filename, line, name), (_cc, ncalls, tottime, cumtime, _c) in raw.items()
            if not _package(filename, name).startswith(("feedparser", "idle"))
        ),
        reverse=True,
    )
    for tottime, cumtime, ncalls, where in rows[:top]:
        out.write(f"  {tottime:7.3f}s self {cumtime:7.3f}s cum {ncalls:>8} calls  {where}\n")
    out.write("\ncumulative time of our own functions (bot/, storage/):\n")
    ours = sorted(
        (
            (cumtime, ncalls, f"{_short(filename)}:{line}({name})")
            for (filename, line, name), (_cc, ncalls, _tt, cumtime, _c) in raw.items()
            if _package(filename).endswith("(ours)") and "/bench/" not in filename
        ),
        reverse=True,
    )
    for cumtime, ncalls, where in ours[:top]:
        out.write(f"  {cumtime:7.3f}s cum {ncalls:>8} calls  {where}\n")
    return out.getvalue()


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# ---------------------------------------------------------------------------------------------
# Main


def print_table(rows: list[Row]) -> None:
    cols = (
        "measure",
        "value (best round)",
        "baseline (best round)",
        "ratio best (median)",
        "target",
    )
    cells = [
        (
            r.name,
            r.value,
            r.baseline,
            r.ratio,
            f"{r.target} {'ok' if r.ok else 'MISSED'}" if r.target else "",
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [cols, *cells]) for i in range(len(cols))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    print(line)
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())
    print(line)


SECTIONS = ("parse", "cold", "repoll", "http", "upsert")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--feeds", type=int, default=200, help="generated feeds (default 200)")
    p.add_argument(
        "--entries", type=int, help="entries per feed (default: 20 to 50, as real feeds vary)"
    )
    p.add_argument("--rounds", type=int, default=3, help="repetitions of each measure (default 3)")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 feeds, 1 round")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (cold and repoll run together)",
    )
    p.add_argument("--upsert", default="50x200", help="feeds x entries for store_entries (50x200)")
    p.add_argument(
        "--server",
        choices=("process", "thread"),
        default="process",
        help="run the HTTP server's thread in a child process (default) or in this process",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=100.0,
        help="seconds the rounds may take in all (default 100); every measure runs at least once",
    )
    p.add_argument("--profile", action="store_true", help="profile one cold ingest and exit")
    p.add_argument("--top", type=int, default=25, help="lines of profile output per list")
    args = p.parse_args(argv)
    if args.quick:
        args.feeds, args.rounds, args.upsert = min(args.feeds, 20), 1, "10x100"
    args.sections = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := args.sections - set(SECTIONS):
        p.error(f"--only: unknown {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sizes = {"min_entries": args.entries, "max_entries": args.entries} if args.entries else {}
    feeds = generate_feeds(args.feeds, seed=args.seed, **sizes)
    with tempfile.TemporaryDirectory(prefix="thesiswatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.profile:
            print(profile_cold(feeds, tmp, args.top))
            return 0
        size = sum(len(render(f)) for f in feeds)
        print(
            f"{len(feeds)} generated feeds, {total_entries(feeds)} entries, "
            f"{size / len(feeds) / 1024:.0f} KiB per feed; {args.rounds} round(s); "
            f"feedparser {feedparser.__version__}, Python {sys.version.split()[0]}; "
            f"load average {_load()}"
        )
        rows: list[Row] = []
        notes: list[str] = []
        pg = os.environ.get(PG_ENV)
        weights = {"parse": 0.15, "ingest": 0.5, "http": 0.25, "upsert": 0.1 * (2 if pg else 1)}
        chosen = {"ingest" if s in ("cold", "repoll") else s for s in args.sections}
        share = {k: args.budget * w / sum(weights[c] for c in chosen) for k, w in weights.items()}
        bare_off: Samples | None = None
        if "parse" in chosen:
            log("p: parsing alone (bytes to normalised entries) vs bare feedparser")
            parsed = bench_parse(feeds, args.rounds, share["parse"])
            rows += parse_rows(parsed)
            notes += parsed.notes
        if "ingest" in chosen:
            log("a/b: cold ingest and re-poll (feed files, fresh SQLite WAL) vs bare feedparser")
            res = bench_ingest(feeds, args.rounds, share["ingest"], tmp)
            rows += ingest_rows(res)
            notes += res.notes
            bare_off = res.bare_off
        if "http" in chosen:
            log(f"c: unchanged feeds over HTTP on 127.0.0.1 (server in a {args.server})")
            http = bench_http(feeds, args.rounds, share["http"], tmp, args.server, bare_off)
            rows += http_rows(http)
            notes += http.notes
        if "upsert" in args.sections:
            n_feeds, n_entries = (int(x) for x in args.upsert.split("x"))
            log(f"d: store_entries alone, {n_feeds} feeds x {n_entries} entries")
            gen = generate_feeds(
                n_feeds, seed=args.seed + 1, min_entries=n_entries, max_entries=n_entries
            )
            batches = [[new_entry(e, f"upsert-{f.index}") for e in f.entries] for f in gen]
            up = bench_upsert(
                "SQLite WAL",
                lambda r: open_database(sqlite_url(tmp / f"upsert-{r}")),
                batches,
                args.rounds,
                share["upsert"] / (2 if pg else 1),
            )
            rows += upsert_rows(up)
            notes += up.notes
            if pg:
                with scratch_pg_database(pg) as make_db:
                    up = bench_upsert(
                        "PostgreSQL", make_db, batches, args.rounds, share["upsert"] / 2
                    )
                rows += upsert_rows(up)
                notes += up.notes
            else:
                notes.append(f"PostgreSQL upsert skipped: set {PG_ENV} to a server URL")
    print()
    print_table(rows)
    for note in notes:
        print(f"  - {note}")
    print(f"  ({time.perf_counter() - started:.0f}s in all; load average at the end {_load()})")
    return 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
