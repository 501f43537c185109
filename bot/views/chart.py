"""Each leg's state over time with the alert points: one PNG for `backtest --chart` and /chart."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta

import matplotlib

matplotlib.use("Agg")  # no display: files and bytes only

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

__all__ = ["STATE_COLOURS", "draw_states"]


def _num(at: datetime) -> float:
    return float(mdates.date2num(at))  # type: ignore[no-untyped-call]


STATE_COLOURS = {
    "intact": "#4caf50",
    "challenged": "#ffb300",
    "broken": "#e53935",
    "reversed": "#6a1b9a",
}


def draw_states(
    legs: Sequence[str],
    timeline: Sequence[tuple[datetime, str, str]],
    alerts: Sequence[tuple[datetime, str]],
    *,
    start: datetime,
    end: datetime,
    title: str = "thesis legs",
) -> bytes:
    """PNG bytes: a band per leg coloured by state, a marker per alert (time, leg)."""
    fig, ax = plt.subplots(figsize=(11, 1.0 + 0.7 * len(legs)), dpi=110)
    try:
        end = max(end, start + timedelta(hours=1))
        for row, leg in enumerate(legs):
            points = sorted((at, state) for at, name, state in timeline if name == leg)
            if not points or points[0][0] > start:
                points.insert(0, (start, "intact"))
            for (at, state), nxt in zip(points, [*points[1:], (end, "")], strict=True):
                left, right = max(at, start), min(nxt[0], end)
                if right <= left:
                    continue
                ax.barh(
                    row,
                    _num(right) - _num(left),
                    left=_num(left),
                    height=0.6,
                    color=STATE_COLOURS.get(state, "#9e9e9e"),
                )
            marks = [_num(at) for at, name in alerts if name == leg and at >= start]
            ax.plot(marks, [row] * len(marks), "kv", markersize=7, label=None)
        ax.set_yticks(range(len(legs)), labels=list(legs))
        ax.invert_yaxis()
        ax.xaxis_date()
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
        ax.set_xlim(_num(start), _num(end))
        ax.set_title(title)
        handles = [Rectangle((0, 0), 1, 1, color=c) for c in STATE_COLOURS.values()]
        ax.legend(handles, list(STATE_COLOURS), loc="upper left", bbox_to_anchor=(1, 1))
        fig.autofmt_xdate()
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)
