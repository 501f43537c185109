"""Each leg's state over time with labelled alerts: one PNG for `backtest --chart`, /chart and
the digest.

Time before there was any data (the bot was not watching yet) is hatched grey, not drawn as
"intact": a young database once showed 30 days of solid green. Each alert is a marker on top
of its leg's band with a short label ("#12 broken"); the key names every colour and mark.

:func:`plan_chart` decides what goes where (pure, testable); :func:`draw_states` draws it with
matplotlib's object API on a figure of its own (no pyplot: its global state is not
thread-safe, and the chat draws off the event loop), one collection per leg and state rather
than a bar per segment, which is what made /chart slow.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")  # no display: files and bytes only

import matplotlib.dates as mdates
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "MAX_LABELS",
    "NO_DATA",
    "STATE_COLOURS",
    "ChartPlan",
    "Marker",
    "draw_states",
    "plan_chart",
    "warm_up",
]

STATE_COLOURS = {
    "intact": "#4caf50",
    "challenged": "#ffb300",
    "broken": "#e53935",
    "reversed": "#6a1b9a",
}
NO_DATA = "#bdbdbd"
# Labels past this many would crowd the chart: the newest are labelled, the rest only marked.
MAX_LABELS = 16
_SHORT = {"challenged": "chall.", "reversed": "revers."}
_BAND = 0.5  # a leg's band height; rows are 1 apart, the rest is room for labels
_CHAR_WIDTH = 0.0072  # of the time axis: one character of a 7-point label
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # matplotlib's default date epoch
WIDTH_IN, DPI = 11.0, 100


@dataclass(frozen=True, slots=True)
class Marker:
    """An alert on the chart: when, on which leg, and its label ("#12 broken")."""

    at: datetime
    leg: str
    label: str


@dataclass(slots=True)
class ChartPlan:
    """Everything the chart shows, in matplotlib date numbers (days since 1970) and rows."""

    legs: list[str]
    start: float
    end: float
    # {row: {state: [(left, width), ...]}}
    bands: dict[int, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    no_data: tuple[float, float] | None = None  # hatched: before the first item was read
    markers: list[tuple[float, int]] = field(default_factory=list)
    labels: list[tuple[float, int, str]] = field(default_factory=list)
    key: list[str] = field(default_factory=list)

    @property
    def height_in(self) -> float:
        return 1.4 + 0.6 * len(self.legs)

    @property
    def axes(self) -> tuple[float, float, float, float]:
        """The plot area as figure fractions (left, bottom, width, height): room on the left
        for the longest leg name, on the right for the key."""
        left = min(0.3, 0.03 + 0.0085 * max((len(leg) for leg in self.legs), default=4))
        return (left, 0.22 if len(self.legs) < 3 else 0.16, 0.85 - left, 0.68)


def _num(at: datetime) -> float:
    """matplotlib's date number (days since its epoch): date2num, without its 100 µs a call."""
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return (aware - _EPOCH).total_seconds() / 86_400


def _segments(
    points: Sequence[tuple[datetime, str]], start: datetime, end: datetime
) -> dict[str, list[tuple[float, float]]]:
    """``{state: [(left, width), ...]}`` for one leg between ``start`` and ``end``."""
    out: dict[str, list[tuple[float, float]]] = {}
    for (at, state), nxt in zip(points, [*points[1:], (end, "")], strict=True):
        left, right = max(at, start), min(nxt[0], end)
        if right > left:
            out.setdefault(state, []).append((_num(left), _num(right) - _num(left)))
    return out


def plan_chart(
    legs: Sequence[str],
    timeline: Sequence[tuple[datetime, str, str]],
    markers: Sequence[Marker],
    *,
    start: datetime,
    end: datetime,
    data_from: datetime | None = None,
) -> ChartPlan:
    """What to draw. ``timeline``: (time, leg, new state) moves in any order, a leg intact
    until its first; ``data_from``: when the data starts, before which no state is drawn."""
    end = max(end, start + timedelta(hours=1))
    plan = ChartPlan(list(legs), _num(start), _num(end))
    watched = min(max(data_from or start, start), end)
    by_leg: dict[str, list[tuple[datetime, str]]] = {leg: [] for leg in legs}
    for at, leg, state in sorted(timeline):
        if leg in by_leg:
            by_leg[leg].append((at, state))
    for row, leg in enumerate(legs):
        points = by_leg[leg]
        before = [p for p in points if p[0] <= watched]
        points = [(watched, before[-1][1] if before else "intact")] + [
            p for p in points if p[0] > watched
        ]
        plan.bands[row] = _segments(points, watched, end)
    if watched > start:
        plan.no_data = (plan.start, _num(watched))
    _place_markers(plan, markers, start, end)
    plan.key = [*STATE_COLOURS, *(["no data yet"] if plan.no_data else []), "alert"]
    return plan


def _place_markers(
    plan: ChartPlan, markers: Sequence[Marker], start: datetime, end: datetime
) -> None:
    """A marker per alert, labelled above its band: in full where there is room, by number
    where only that fits, not at all where nothing does (newest first)."""
    rows = {leg: n for n, leg in enumerate(plan.legs)}
    inside = sorted(
        (m for m in markers if m.leg in rows and start <= m.at <= end),
        key=lambda m: m.at,
        reverse=True,
    )
    plan.markers = [(_num(m.at), rows[m.leg]) for m in inside]
    char = (plan.end - plan.start) * _CHAR_WIDTH
    taken: dict[int, list[tuple[float, float]]] = {}  # per row, the x ranges labels cover
    for m in inside:
        if len(plan.labels) >= MAX_LABELS:
            break
        x, row = _num(m.at), rows[m.leg]
        near = taken.setdefault(row, [])
        full = _short(m.label)
        for text in dict.fromkeys((full, full.split(" ")[0])):
            half = (len(text) + 1) * char / 2
            if all(x + half <= lo or x - half >= hi for lo, hi in near):
                near.append((x - half, x + half))
                plan.labels.append((x, row, text))
                break


def _short(label: str) -> str:
    for word, short in _SHORT.items():
        label = label.replace(word, short)
    return label


def draw_states(
    legs: Sequence[str],
    timeline: Sequence[tuple[datetime, str, str]],
    markers: Sequence[Marker],
    *,
    start: datetime,
    end: datetime,
    title: str = "thesis legs",
    data_from: datetime | None = None,
) -> bytes:
    """PNG bytes of :func:`plan_chart`'s plan: a band per leg coloured by state, hatched
    where there is no data yet, the alerts marked and labelled, and a key."""
    plan = plan_chart(legs, timeline, markers, start=start, end=end, data_from=data_from)
    fig = Figure(figsize=(WIDTH_IN, plan.height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes(plan.axes)
    for row, states in plan.bands.items():
        for state, spans in states.items():
            colour = STATE_COLOURS.get(state, "#9e9e9e")
            ax.broken_barh(spans, (row - _BAND / 2, _BAND), facecolors=colour)
    if plan.no_data:
        ax.axvspan(*plan.no_data, facecolor=NO_DATA, hatch="///", alpha=0.35, lw=0)
    if plan.markers:
        xs, ys = zip(*plan.markers, strict=True)
        ax.scatter(xs, [y - _BAND / 2 for y in ys], marker="v", s=30, c="black", zorder=3)
    for x, row, text in plan.labels:
        ax.annotate(
            text,
            (x, row - _BAND / 2),
            xytext=(0, 5),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7,
            zorder=4,
        )
    ax.set_yticks(range(len(plan.legs)), labels=plan.legs)
    ax.set_ylim(len(plan.legs) - 0.5, -0.75)
    ax.set_xlim(plan.start, plan.end)
    ax.xaxis_date()
    fmt = "%m-%d %H:%M" if plan.end - plan.start <= 3 else "%Y-%m-%d"
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set_title(title, fontsize=10)
    handles: list[Artist] = [Patch(facecolor=c, label=s) for s, c in STATE_COLOURS.items()]
    if plan.no_data:
        handles.append(Patch(facecolor=NO_DATA, hatch="///", alpha=0.35, label="no data yet"))
    handles.append(
        Line2D([], [], marker="v", color="black", linestyle="none", markersize=6, label="alert")
    )
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def warm_up() -> None:
    """Draw once, so the first /chart does not pay for loading matplotlib's fonts and backend."""
    now = datetime(2025, 1, 2, tzinfo=UTC)
    draw_states(["a"], [], [Marker(now, "a", "#1")], start=now - timedelta(days=1), end=now)
