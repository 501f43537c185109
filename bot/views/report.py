"""Plain-text renderings for the terminal. Pure: values in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from storage.records import FeedHealth

__all__ = ["ago", "feeds_table"]


def ago(when: datetime | None, now: datetime) -> str:
    """'3m ago', 'in 2h', or '-'."""
    if when is None:
        return "-"
    delta = now - when
    future = delta < timedelta(0)
    secs = int(abs(delta).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            text = f"{secs // size}{unit}"
            break
    else:
        text = f"{secs}s"
    return f"in {text}" if future else f"{text} ago"


def feeds_table(rows: Sequence[FeedHealth], now: datetime) -> str:
    header = ("feed", "tier", "last ok", "failures", "last error", "next poll", "items")
    body = [
        (
            h.name,
            h.tier,
            ago(h.last_success_at, now),
            f"{h.consecutive_failures} ({h.failures_total} total)" if h.failures_total else "0",
            f"{h.last_error} ({ago(h.last_error_at, now)})" if h.last_error else "-",
            ago(h.next_poll_at, now),
            str(h.items),
        )
        for h in rows
    ]
    widths = [min(60, max(len(r[i]) for r in [header, *body])) for i in range(len(header))]
    lines = [
        "  ".join(c[:w].ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *body]
    ]
    return "\n".join(line.rstrip() for line in lines)
