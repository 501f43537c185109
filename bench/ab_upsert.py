"""store_entries of this tree against another checkout's, in alternating child processes.

    git archive main | tar -x -C /tmp/base-main
    .venv/bin/python bench/ab_upsert.py /tmp/base-main --pairs 7

One process imports only one ``storage`` package, so each measure runs in a child: the other
tree's first on ``PYTHONPATH``, then this one's, pair after pair, so both see the same load.
A child stores the upsert section's batches (50 feeds x 200 pre-normalised entries, seed
2026, one transaction per feed, one StoryCache) into a fresh SQLite WAL file and prints its
wall and CPU seconds. With ``--icount`` each child runs once under ``valgrind --tool=callgrind``,
counting instructions only while the batches are stored (SQLite's own work included, start-up
and the corpus generation not), which the machine's load does not move. The table gives the
median rows per second (items + sightings + stories) of each side, wall and per CPU second,
and the median and range of the per-pair ratio of CPU rates (this tree / the other), and
whether both sides put every item in the same story with the same span (a digest of item ->
story founder and span, from every child).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import load_average

HERE = Path(__file__).resolve().parent


def child(corpus: str, n_feeds: int, n_entries: int, seed: int) -> None:
    from feeds_gen import generate_feeds, generate_topical_feeds
    from ingest_store import new_entry
    from sqlmodel import Session

    from storage.db import open_database
    from storage.feeds import sync_feeds
    from storage.items import StoryCache, store_entries
    from storage.records import FeedDef, NewEntry

    if corpus == "topical":
        gen = generate_topical_feeds(n_feeds, seed=seed, entries=n_entries)
    else:
        gen = generate_feeds(n_feeds, seed=seed, min_entries=n_entries, max_entries=n_entries)
    batches = [[new_entry(e, f"upsert-{f.index}") for e in f.entries] for f in gen]
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(f"sqlite:///{tmp}/bench.db")
        defs = [
            FeedDef(f"upsert-{i}", f"https://x.invalid/{i}", "press", 300)
            for i in range(len(batches))
        ]
        with Session(engine) as session, session.begin():
            ids = sync_feeds(session, defs, deactivate_others=False)
        now, cache = datetime.now(UTC), StoryCache()

        def store(written: int, batch: tuple[int, list[NewEntry]]) -> int:
            with Session(engine) as session, session.begin():
                res = store_entries(
                    session,
                    feed_id=batch[0],
                    tier="press",
                    entries=batch[1],
                    now=now,
                    stories=cache,
                )
            return written + res.new_items + res.new_sightings + res.new_stories

        start, cpu = time.perf_counter(), time.process_time()
        # functools.reduce is the C function callgrind counts in (--toggle-collect).
        written = functools.reduce(store, zip(ids, batches, strict=True), 0)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        grouping = _grouping(engine)
        engine.dispose()
    print(json.dumps({"rows": written, "wall": wall, "cpu": cpu, "grouping": grouping}))


def _grouping(engine: Any) -> str:
    """A digest of every item's story (by the founder's content hash) and every story's span:
    equal on both sides when the two trees group alike."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.content_hash, s.key, s.first_published_at, s.last_published_at"
            " FROM item i JOIN story s ON s.id = i.story_id ORDER BY i.content_hash"
        )
        for row in rows:
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("other", type=Path, help="the other checkout (its storage/ is imported)")
    p.add_argument("--pairs", type=int, default=7)
    p.add_argument("--corpus", default="topical,varied")
    p.add_argument("--upsert", default="50x200", help="feeds x entries")
    p.add_argument("--seed", type=int, default=2026, help="the upsert section's seed")
    p.add_argument("--icount", action="store_true", help="count instructions (callgrind), once")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    n_feeds, n_entries = (int(x) for x in args.upsert.split("x"))
    if args.child:
        child(args.child, n_feeds, n_entries, args.seed)
        return
    if args.icount:
        icount(args)
        return
    print(f"ab_upsert: {args.pairs} pairs; before: {load_average()}")
    sides = _sides(args.other)
    for corpus in args.corpus.split(","):
        got: dict[str, list[dict[str, float]]] = {"other": [], "this": []}
        for _ in range(args.pairs):
            for side, tree in sides.items():
                out = _run_child(args, corpus, tree, [])
                got[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
        groupings = {r["grouping"] for runs in got.values() for r in runs}
        same = "identical" if len(groupings) == 1 else f"DIFFERENT ({len(groupings)} digests)"
        print(f"{corpus:8s} groupings of the two sides: {same}")
        for side, runs in got.items():
            rows = {r["rows"] for r in runs}
            wall = statistics.median(r["rows"] / r["wall"] for r in runs)
            cpu = statistics.median(r["rows"] / r["cpu"] for r in runs)
            print(
                f"{corpus:8s} {side:5s} {sorted(rows)} rows: {wall:>8,.0f} rows/s wall, "
                f"{cpu:>8,.0f} rows per CPU-s (medians of {len(runs)})"
            )
        ratios = [
            (t["rows"] / t["cpu"]) / (o["rows"] / o["cpu"])
            for t, o in zip(got["this"], got["other"], strict=True)
        ]
        print(
            f"{corpus:8s} this / other, rows per CPU-s: median {statistics.median(ratios):.2f}x "
            f"(range {min(ratios):.2f}-{max(ratios):.2f})"
        )
    print(f"after: {load_average()}")


def _sides(other: Path) -> dict[str, Path]:
    # Each side imports its own tree first, whatever the venv's editable install points at.
    return {"other": other.resolve(), "this": HERE.parent}


def _run_child(
    args: argparse.Namespace, corpus: str, tree: Path, prefix: list[str]
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(tree)}
    command = [*prefix, sys.executable, __file__, str(args.other), "--child", corpus]
    command += ["--upsert", args.upsert, "--seed", str(args.seed)]
    return subprocess.run(  # noqa: S603 (this script, with its own arguments)
        command, env=env, capture_output=True, text=True, check=True, cwd=tree
    )


_COLLECTED = re.compile(r"Collected : (\d+)")


def icount(args: argparse.Namespace) -> None:
    """Instructions per stored row of each side, counted once (they do not move with load)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--icount needs valgrind on PATH")
    prefix = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    prefix += ["--collect-atstart=no", "--toggle-collect=functools_reduce"]
    print(f"ab_upsert --icount; before: {load_average()}")
    for corpus in args.corpus.split(","):
        per_row = {}
        for side, tree in _sides(args.other).items():
            out = _run_child(args, corpus, tree, prefix)
            found = _COLLECTED.search(out.stderr)
            if found is None or not int(found.group(1)):
                raise SystemExit(
                    f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}"
                )
            rows = json.loads(out.stdout.strip().splitlines()[-1])["rows"]
            per_row[side] = int(found.group(1)) / rows
            print(
                f"{corpus:8s} {side:5s} {rows} rows: {per_row[side]:>10,.0f} instructions per row"
            )
        gain = per_row["other"] / per_row["this"]
        print(f"{corpus:8s} other / this, instructions per row: {gain:.2f}x")
    print(f"after: {load_average()}")


if __name__ == "__main__":
    main()
