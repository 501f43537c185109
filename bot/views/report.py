"""Plain-text renderings for the terminal. Pure: values in, text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rules.exposure import Exposure
from storage.records import FeedHealth

__all__ = ["ago", "exposure_json", "exposure_text", "feeds_table"]


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


def exposure_text(rows: Sequence[Exposure], states: Mapping[str, str]) -> str:
    """Each ticker and the legs that move it: ``thesis/leg (STATE) bullish|bearish on a break``.

    ``states``: each leg's state by ``thesis/leg``; shared tickers (several theses) first.
    """
    if not rows:
        return "no leg names a ticker"
    lines = ["ticker    theses  legs whose break moves it (state now): which way"]
    for row in rows:
        mark = "*" if row.shared else " "
        legs = ", ".join(
            f"{e.ref} ({states.get(e.ref, 'intact').upper()}): {e.move}" for e in row.legs
        )
        lines.append(f"{row.ticker:<9}{mark}{len(row.theses):>5}   {legs}")
    if any(r.shared for r in rows):
        lines.append("* moved by legs of several theses: one event can break both positions")
    return "\n".join(lines)


def exposure_json(rows: Sequence[Exposure], states: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "ticker": r.ticker,
            "theses": list(r.theses),
            "shared": r.shared,
            "legs": [
                {
                    "thesis": e.thesis,
                    "leg": e.leg,
                    "on_break": e.move,
                    "state": states.get(e.ref, "intact"),
                }
                for e in r.legs
            ],
        }
        for r in rows
    ]
