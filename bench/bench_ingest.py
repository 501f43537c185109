"""Ingest benchmarks: ratios against bare feedparser measured in the same run.

    .venv/bin/python bench/bench_ingest.py                # everything, 3 rounds (several minutes)
    .venv/bin/python bench/bench_ingest.py --quick        # smaller corpora, 3 rounds (make bench)
    .venv/bin/python bench/bench_ingest.py --only ingest --corpus topical --rounds 5
    .venv/bin/python bench/bench_ingest.py --only parse --corpus varied --varied 100 --entries 50
    .venv/bin/python bench/bench_ingest.py --only stored  # 10k against 100k stored items
    .venv/bin/python bench/bench_ingest.py --profile topical   # where a cold ingest spends its time
    THESISWATCH_BENCH_PG=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_ingest.py --only upsert

The machine is shared and noisy: every measure runs ``--rounds`` times (3 at least for a
figure), each ratio is taken within a round (subject and baseline back to back) and the table
shows the median of those ratios with their range, of wall times and of this process's CPU
times, and the load average is printed before and after. Other processes on the machine
stretch wall times by up to 2x from one second to the next, CPU times far less, so the targets
are checked on the CPU ratios (ingest and bare parsing are both CPU-bound here: files are local
and SQLite's WAL commits do not wait for the disk). Ratios are times: ingest / bare parse, so
1.00x means "costs what feedparser alone costs" and the targets are upper bounds. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
from benchlib import Row, Samples, load_average, log, print_table, rate, ratio, rounds, timed
from feeds_gen import (
    GenFeed,
    generate_feeds,
    generate_topical_feeds,
    render,
    repoll,
    total_entries,
    write_feeds,
)
from ingest_grouping import bench_grouping
from ingest_http import bench_http, http_rows
from ingest_parse import bench_parse, parse_rows
from ingest_profile import profile_cold
from ingest_store import (
    bench_stored,
    bench_upsert,
    new_entry,
    scratch_pg_database,
    stored_rows,
    upsert_rows,
)
from sqlalchemy import Engine

from bot.feeds.ingest import ingest_paths
from bot.feeds.parse import parse_feed
from storage.db import open_database

PG_ENV = "THESISWATCH_BENCH_PG"
BARE_OFF = {"sanitize_html": False, "resolve_relative_uris": False}
SECTIONS = ("parse", "ingest", "grouping", "http", "upsert", "stored")
CORPORA = ("topical", "varied")


def bare_parse(bodies: Sequence[bytes], **kwargs: Any) -> int:
    return sum(len(feedparser.parse(body, **kwargs).entries) for body in bodies)


def our_parse(bodies: Sequence[bytes]) -> int:
    """bot.feeds.parse alone: feedparser plus our normalising, no database."""
    now = datetime.now(UTC)
    return sum(len(parse_feed(body, publisher="bench", now=now).entries) for body in bodies)


def corpus(name: str, n: int, seed: int, entries: int | None = None) -> list[GenFeed]:
    if name == "topical":
        return generate_topical_feeds(n, seed=seed, entries=entries or 50)
    sizes = {"min_entries": entries, "max_entries": entries} if entries else {}
    return generate_feeds(n, seed=seed, **sizes)


# ---------------------------------------------------------------------------------------------
# Cold ingest and re-poll of feed files against bare feedparser


@dataclass(slots=True)
class IngestResult:
    corpus: str
    feeds: int
    entries: int
    repoll_entries: int
    kib_per_feed: float
    bare_default: Samples = field(default_factory=Samples)
    bare_off: Samples = field(default_factory=Samples)
    parse: Samples = field(default_factory=Samples)
    cold: Samples = field(default_factory=Samples)
    repoll_bare_default: Samples = field(default_factory=Samples)
    repoll_bare_off: Samples = field(default_factory=Samples)
    repoll: Samples = field(default_factory=Samples)
    notes: list[str] = field(default_factory=list)


def bench_ingest(name: str, feeds: list[GenFeed], n_rounds: int, tmp: Path) -> IngestResult:
    mutated = [repoll(f, new_entries=2) for f in feeds]
    bodies = [render(f) for f in feeds]
    mutated_bodies = [render(f) for f in mutated]
    res = IngestResult(
        corpus=name,
        feeds=len(feeds),
        entries=total_entries(feeds),
        repoll_entries=total_entries(mutated),
        kib_per_feed=sum(map(len, bodies)) / len(bodies) / 1024,
    )
    for r in rounds(n_rounds, f"ingest {name}"):
        folder = tmp / f"ingest-{name}-{r}"
        engine = open_database(f"sqlite:///{folder / 'bench.db'}")  # migrations not timed
        paths = write_feeds(feeds, folder / "feeds")
        with timed(res.bare_default):
            bare_parse(bodies)
        with timed(res.bare_off):
            bare_parse(bodies, **BARE_OFF)
        with timed(res.parse):
            our_parse(bodies)
        with timed(res.cold):
            cold = asyncio.run(ingest_paths(engine, paths, tier="press"))
        write_feeds(mutated, folder / "feeds")  # same names: a re-poll of the same feeds
        with timed(res.repoll_bare_default):
            bare_parse(mutated_bodies)
        with timed(res.repoll_bare_off):
            bare_parse(mutated_bodies, **BARE_OFF)
        with timed(res.repoll):
            again = asyncio.run(ingest_paths(engine, paths, tier="press"))
        engine.dispose()
        if r == 0:
            if cold.errors or again.errors:
                res.notes.append(f"errors: cold {cold.errors[:3]}, re-poll {again.errors[:3]}")
            res.notes.append(
                f"{name}: cold {cold.entries} entries -> {cold.new_items} items, "
                f"{cold.new_stories} stories; re-poll {again.entries} entries -> "
                f"{again.new_items} new items"
            )
    return res


def ingest_rows(res: IngestResult) -> list[Row]:
    """Ratios to bare feedparser; targets are checked on the CPU ratio (see the module doc)."""
    targets = {"default": (1.3, 1.2), "off": (1.5, None)}
    rows = []
    for label, subject, default, off, count, step in (
        ("cold ingest", res.cold, res.bare_default, res.bare_off, res.entries, 0),
        ("re-poll", res.repoll, res.repoll_bare_default, res.repoll_bare_off,
         res.repoll_entries, 1),
    ):  # fmt: skip
        for key, base_label, base in (
            ("default", "feedparser defaults", default),
            ("off", "feedparser no-sanitise", off),
        ):
            target = targets[key][step]
            cpu_mid, cpu_cell = ratio(subject, base, cpu=True)
            rows.append(
                Row(
                    name=f"{res.corpus}: {label} / {base_label}",
                    value=f"{rate(count, subject.median)} entries",
                    baseline=f"{rate(count, base.median)} entries",
                    ratio=ratio(subject, base)[1],
                    cpu_ratio=cpu_cell,
                    target=f"<= {target}x" if target else "",
                    ok=cpu_mid <= target if target else None,
                )
            )
    # Where the time goes: bot.feeds.parse without a database, and what storing adds to it.
    store = Samples(
        [c - p for c, p in zip(res.cold.seconds, res.parse.seconds, strict=True)],
        [c - p for c, p in zip(res.cold.cpu, res.parse.cpu, strict=True)],
    )
    rows.append(
        Row(
            name=f"{res.corpus}: parse_feed alone / feedparser no-sanitise",
            value=f"{rate(res.entries, res.parse.median)} entries",
            baseline=f"{rate(res.entries, res.bare_off.median)} entries",
            ratio=ratio(res.parse, res.bare_off)[1],
            cpu_ratio=ratio(res.parse, res.bare_off, cpu=True)[1],
        )
    )
    rows.append(
        Row(
            name=f"{res.corpus}: storing (cold ingest - parse_feed) / feedparser defaults",
            value=f"{store.median_cpu / res.entries * 1e6:,.0f} us CPU/entry",
            baseline=f"{res.bare_default.median_cpu / res.entries * 1e6:,.0f} us CPU/entry",
            ratio=ratio(store, res.bare_default)[1],
            cpu_ratio=ratio(store, res.bare_default, cpu=True)[1],
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--topical", type=int, default=100, help="topical feeds, 50 entries (100)")
    p.add_argument("--varied", type=int, default=200, help="varied feeds (default 200)")
    p.add_argument(
        "--entries", type=int, help="entries per feed (topical 50, varied 20 to 50 by default)"
    )
    p.add_argument("--corpus", default=",".join(CORPORA), help="topical,varied (both)")
    p.add_argument("--rounds", type=int, default=3, help="repetitions of each measure (3)")
    p.add_argument("--quick", action="store_true", help="smaller corpora (make bench)")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--only", default=",".join(SECTIONS), help=f"subset of {','.join(SECTIONS)}")
    p.add_argument("--upsert", default="50x200", help="feeds x entries for store_entries (50x200)")
    p.add_argument("--stored", default="10000,100000", help="stored items: N,10N (10000,100000)")
    p.add_argument(
        "--server",
        choices=("process", "thread"),
        default="process",
        help="run the HTTP server's thread in a child process (default) or in this process",
    )
    p.add_argument(
        "--profile",
        nargs="?",
        const="topical",
        choices=CORPORA,
        help="profile one cold ingest of this corpus (topical) and exit",
    )
    p.add_argument("--top", type=int, default=25, help="lines of profile output per list")
    args = p.parse_args(argv)
    if args.quick:
        args.topical, args.varied = min(args.topical, 30), min(args.varied, 30)
        args.upsert, args.stored = "10x100", "2000,20000"
    args.sections = {s.strip() for s in args.only.split(",") if s.strip()}
    args.sizes = {"topical": args.topical, "varied": args.varied}
    args.corpora = [c.strip() for c in args.corpus.split(",") if c.strip()]
    if unknown := args.sections - set(SECTIONS):
        p.error(f"--only: unknown {', '.join(sorted(unknown))}")
    if unknown := set(args.corpora) - set(CORPORA):
        p.error(f"--corpus: unknown {', '.join(sorted(unknown))}")
    return args


Section = tuple[list[Row], list[str]]


def run_parse(args: argparse.Namespace, tmp: Path) -> Section:
    rows: list[Row] = []
    notes: list[str] = []
    for name in args.corpora:
        log(f"parse: {name}, bytes to normalised entries in memory")
        parsed = bench_parse(
            name, corpus(name, args.sizes[name], args.seed, args.entries), args.rounds
        )
        rows += parse_rows(parsed)
        notes += parsed.notes
    return rows, notes


def run_ingest(args: argparse.Namespace, tmp: Path) -> Section:
    rows: list[Row] = []
    notes: list[str] = []
    for name in args.corpora:
        feeds = corpus(name, args.sizes[name], args.seed, args.entries)
        log(f"ingest: {name}, cold and re-poll (feed files, fresh SQLite WAL)")
        res = bench_ingest(name, feeds, args.rounds, tmp)
        print(
            f"{name}: {res.feeds} feeds, {res.entries} entries, {res.kib_per_feed:.0f} KiB per feed"
        )
        rows += ingest_rows(res)
        notes += res.notes
    return rows, notes


def run_grouping(args: argparse.Namespace, tmp: Path) -> Section:
    notes: list[str] = []
    for name in args.corpora:
        log(f"grouping: {name}, store_entries against the brute force of the rule")
        feeds = corpus(name, args.sizes[name], args.seed, args.entries)
        notes += bench_grouping(name, feeds, tmp).notes
    return [], notes


def run_http(args: argparse.Namespace, tmp: Path) -> Section:
    log(f"http: unchanged feeds over HTTP on 127.0.0.1 (server in a {args.server})")
    varied = corpus("varied", args.sizes["varied"], args.seed, args.entries)
    http = bench_http(varied, args.rounds, tmp, args.server)
    return http_rows(http), http.notes


def run_upsert(args: argparse.Namespace, tmp: Path) -> Section:
    rows: list[Row] = []
    notes: list[str] = []
    n_feeds, n_entries = (int(x) for x in args.upsert.split("x"))
    pg = os.environ.get(PG_ENV)
    for name in args.corpora:
        if name == "topical":
            gen = generate_topical_feeds(n_feeds, seed=args.seed + 1, entries=n_entries)
        else:
            gen = generate_feeds(
                n_feeds, seed=args.seed + 1, min_entries=n_entries, max_entries=n_entries
            )
        batches = [[new_entry(e, f"upsert-{f.index}") for e in f.entries] for f in gen]

        def sqlite_db(r: int, name: str = name) -> Engine:
            return open_database(f"sqlite:///{tmp / f'upsert-{name}-{r}' / 'bench.db'}")

        results = [bench_upsert("SQLite WAL", name, sqlite_db, batches, args.rounds)]
        if pg:
            with scratch_pg_database(pg) as make_db:
                results.append(bench_upsert("PostgreSQL", name, make_db, batches, args.rounds))
        for up in results:
            rows += upsert_rows(up)
            notes += up.notes
    if not pg:
        notes.append(f"PostgreSQL upsert skipped: set {PG_ENV} to a server URL")
    return rows, notes


def run_stored(args: argparse.Namespace, tmp: Path) -> Section:
    small, big = (int(x) for x in args.stored.split(","))
    log(f"stored: cold ingest of the topical feeds with {small:,} and {big:,} items stored")
    topical = corpus("topical", args.sizes["topical"], args.seed, args.entries)
    stored = bench_stored(topical, (small, big), args.rounds, tmp, args.seed + 2)
    return stored_rows(stored), stored.notes


RUNS: dict[str, Callable[[argparse.Namespace, Path], Section]] = {
    "parse": run_parse,
    "ingest": run_ingest,
    "grouping": run_grouping,
    "http": run_http,
    "upsert": run_upsert,
    "stored": run_stored,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="thesiswatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.profile:
            feeds = corpus(args.profile, args.sizes[args.profile], args.seed, args.entries)
            print(profile_cold(feeds, tmp, args.top))
            return 0
        print(
            f"bench_ingest: {args.rounds} round(s), feedparser {feedparser.__version__}, "
            f"Python {sys.version.split()[0]}; before: {load_average()}"
        )
        rows: list[Row] = []
        notes: list[str] = []
        for section in SECTIONS:
            if section in args.sections:
                more_rows, more_notes = RUNS[section](args, tmp)
                rows += more_rows
                notes += more_notes
    print()
    print_table(rows)
    for note in notes:
        print(f"  - {note}")
    if args.rounds < 3:
        print(f"  - {args.rounds} round(s): a smoke run, not a figure (medians need 3 or more)")
    print(f"  after: {load_average()}; {time.perf_counter() - started:.0f}s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
