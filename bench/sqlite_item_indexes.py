"""What the item table's indexes and a few pragmas cost SQLite itself, per inserted item.

    .venv/bin/python bench/sqlite_item_indexes.py [--rounds 5]

A migrated SQLite WAL file (synchronous=NORMAL, as storage.db sets), 8,000 item rows of
topical size inserted with executemany on the driver in 40 transactions of 200 (the poller's
batches), foreign keys off so only the table and its indexes count; then the same with one
secondary index dropped, with all three dropped, and with a larger page cache or temp store in
memory. Median CPU microseconds per item over the rounds, with the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import load_average

from storage.db import open_database

COLUMNS = (
    "story_id, feed_id, tier, publisher, title, summary, url, content_hash, published_at, "
    "first_seen_at"
)
VARIANTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("all indexes (as shipped)", (), ()),
    ("without ix_item_evaluated_at", ("ix_item_evaluated_at",), ()),
    ("without ix_item_published_at", ("ix_item_published_at",), ()),
    ("without ix_item_story_id", ("ix_item_story_id",), ()),
    (
        "without all three",
        ("ix_item_evaluated_at", "ix_item_published_at", "ix_item_story_id"),
        (),
    ),
    ("all, cache_size=-65536", (), ("PRAGMA cache_size=-65536",)),
    ("all, temp_store=MEMORY", (), ("PRAGMA temp_store=MEMORY",)),
)


def _rows(n: int, base: int) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for i in range(base, base + n):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        out.append(
            (1 + i // 10, 1, "press", "Reuters", f"Nvidia H20 orders halted by China {i}",
             "Export controls tighten. " * 12, f"https://news{i % 50}.example/a/{digest[:20]}",
             digest, "2025-11-10 12:00:00.000000", "2025-11-10 12:30:00.000000")
        )  # fmt: skip
    return out


def _run(template: Path, folder: Path, drop: tuple[str, ...], pragmas: tuple[str, ...]) -> float:
    path = folder / "run.db"
    for leftover in folder.glob("run.db*"):
        leftover.unlink()
    shutil.copy(template, path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", *pragmas):
            conn.execute(pragma)
        for index in drop:
            conn.execute(f"DROP INDEX {index}")
        conn.execute(
            "INSERT INTO feed (id, name, url, tier, interval_s, topics, active, "
            "consecutive_failures, failures_total, polls_total) "
            "VALUES (1, 'f', 'u', 'press', 300, '[]', 1, 0, 0, 0)"
        )
        cpu = 0.0
        batches = [_rows(200, b * 200) for b in range(40)]
        for batch in batches:
            start = time.process_time()
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO item ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                batch,
            )
            conn.execute("COMMIT")
            cpu += time.process_time() - start
    finally:
        conn.close()
    return cpu / sum(map(len, batches)) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    print(f"sqlite_item_indexes: {args.rounds} rounds, SQLite {sqlite3.sqlite_version}; "
          f"before: {load_average()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        open_database(f"sqlite:///{folder / 'template.db'}").dispose()
        times: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
        for _ in range(args.rounds):
            for name, drop, pragmas in VARIANTS:  # interleaved: each round sees one load
                times[name].append(_run(folder / "template.db", folder, drop, pragmas))
    for name, samples in times.items():
        print(
            f"  {name:30s} {statistics.median(samples):5.1f} us CPU/item "
            f"({min(samples):.1f}-{max(samples):.1f})"
        )
    print(f"after: {load_average()}")


if __name__ == "__main__":
    main()
