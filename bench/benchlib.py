"""Measuring on a shared machine: repeated rounds, per-round ratios, medians, the load average.

A ratio is computed within each round (subject and baseline measured back to back), then the
median of those ratios is reported with their range: load that comes and goes shifts both sides
of a round alike, far less than it shifts absolute times from one minute to the next.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = [
    "Row",
    "Samples",
    "load_average",
    "log",
    "print_table",
    "rate",
    "ratio",
    "rounds",
    "timed",
]


@dataclass(slots=True)
class Samples:
    """Wall seconds (and CPU seconds of this process) of repeated runs of one measurement."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


@contextmanager
def timed(into: Samples) -> Iterator[None]:
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        into.seconds.append(time.perf_counter() - start)
        into.cpu.append(time.process_time() - cpu)


def rounds(count: int, label: str) -> Iterator[int]:
    """Round numbers, logging each one's start."""
    for r in range(count):
        log(f"  {label}: round {r + 1}/{count} ({load_average()})")
        yield r


def ratio(subject: Samples, base: Samples, *, cpu: bool = False) -> tuple[float, str]:
    """Median of the per-round ratios of wall (or CPU) times, and a cell showing their range."""
    pairs = (
        zip(subject.cpu, base.cpu, strict=True)
        if cpu
        else zip(subject.seconds, base.seconds, strict=True)
    )
    each = [s / b for s, b in pairs]
    mid = statistics.median(each)
    if len(each) == 1:
        return mid, f"{mid:.2f}x (1 round)"
    return mid, f"{mid:.2f}x ({min(each):.2f}-{max(each):.2f})"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(slots=True)
class Row:
    name: str
    value: str  # absolute figure, median round
    baseline: str
    ratio: str  # median of per-round ratios of wall times (range)
    cpu_ratio: str = ""  # the same of this process's CPU times, where both sides are CPU-bound
    target: str = ""
    ok: bool | None = None


def print_table(rows: list[Row]) -> None:
    cols = (
        "measure",
        "value (median)",
        "baseline (median)",
        "wall ratio median (range)",
        "CPU ratio median (range)",
        "target",
    )
    cells = [
        (
            r.name,
            r.value,
            r.baseline,
            r.ratio,
            r.cpu_ratio,
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
