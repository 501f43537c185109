"""store_entries of this tree against another checkout's, in alternating child processes.

    git archive main | tar -x -C /tmp/base-main
    .venv/bin/python bench/ab_upsert.py /tmp/base-main --pairs 7

One process imports only one ``storage`` package, so each measure runs in a child: the other
tree's first on ``PYTHONPATH``, then this one's, pair after pair, so both see the same load.
A child stores the upsert section's batches (50 feeds x 200 pre-normalised entries, seed
2026, one transaction per feed, one StoryCache) into a fresh SQLite WAL file and prints its
wall and CPU seconds. The table gives the median rows per second (items + sightings +
stories) of each side, wall and per CPU second, and the median and range of the per-pair
ratio of CPU rates (this tree / the other).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import load_average

HERE = Path(__file__).resolve().parent


def child(corpus: str, n_feeds: int, n_entries: int, seed: int) -> None:
    from feeds_gen import generate_feeds, generate_topical_feeds
    from ingest_store import new_entry
    from sqlmodel import Session

    from storage.db import open_database
    from storage.feeds import sync_feeds
    from storage.items import StoryCache, store_entries
    from storage.records import FeedDef

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
        written = 0
        start, cpu = time.perf_counter(), time.process_time()
        for feed_id, entries in zip(ids, batches, strict=True):
            with Session(engine) as session, session.begin():
                res = store_entries(
                    session, feed_id=feed_id, tier="press", entries=entries, now=now, stories=cache
                )
            written += res.new_items + res.new_sightings + res.new_stories
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        engine.dispose()
    print(json.dumps({"rows": written, "wall": wall, "cpu": cpu}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("other", type=Path, help="the other checkout (its storage/ is imported)")
    p.add_argument("--pairs", type=int, default=7)
    p.add_argument("--corpus", default="topical,varied")
    p.add_argument("--upsert", default="50x200", help="feeds x entries")
    p.add_argument("--seed", type=int, default=2026, help="the upsert section's seed")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    n_feeds, n_entries = (int(x) for x in args.upsert.split("x"))
    if args.child:
        child(args.child, n_feeds, n_entries, args.seed)
        return
    print(f"ab_upsert: {args.pairs} pairs; before: {load_average()}")
    sides = {"other": {"PYTHONPATH": str(args.other.resolve())}, "this": {}}
    for corpus in args.corpus.split(","):
        got: dict[str, list[dict[str, float]]] = {"other": [], "this": []}
        for _ in range(args.pairs):
            for side, extra in sides.items():
                env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | extra
                cwd = args.other if side == "other" else HERE.parent
                command = [sys.executable, __file__, str(args.other), "--child", corpus]
                command += ["--upsert", args.upsert, "--seed", str(args.seed)]
                out = subprocess.run(  # noqa: S603 (this script, with its own arguments)
                    command, env=env, capture_output=True, text=True, check=True, cwd=cwd
                )
                got[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
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


if __name__ == "__main__":
    main()
