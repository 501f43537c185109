"""Alerts and the board as plain text for the console. Pure: values in, text out.

Every time is absolute (see :mod:`bot.views.times`): when the news was published, how much
later we read it, when the alert was raised and how late that was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.views.board import BoardView, LegLine
from bot.views.context import LEAD_CAP, cap_text
from bot.views.push import TickerMove, leg_label, push_view
from bot.views.reload import RELOAD_KIND, reload_text
from bot.views.report import ago
from bot.views.times import duration, late_by, stamp
from storage.outbox import StoredAlert

__all__ = [
    "ARROWS",
    "alert_json",
    "alert_text",
    "alert_time",
    "board_text",
    "headline_time",
    "leg_since",
    "push_text",
    "raised_time",
    "recent_text",
    "tickers_text",
]

ARROWS = {"bullish": "▲", "bearish": "▼"}
# First seen later than the alert itself: a replay (demo, backtest) read it long after.
_SEEN_SLACK = timedelta(minutes=1)


def tickers_text(tickers: Mapping[str, str]) -> str:
    return " ".join(f"${sym} {ARROWS.get(move, '?')}" for sym, move in sorted(tickers.items()))


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def headline_time(headline: Mapping[str, Any], alert_at: datetime) -> str | None:
    """``published 2025-08-12 08:00 UTC, read 2m later``; None when the payload has no time."""
    published = _when(headline.get("published"))
    if published is None:
        return None
    text = f"published {stamp(published)}"
    seen = _when(headline.get("seen"))
    if seen is not None and seen <= alert_at + _SEEN_SLACK:
        text += f", read {late_by(seen, published)}"
    return text


def alert_time(alert: StoredAlert) -> str:
    """When the alert was raised, and how long after the newest news behind it."""
    return raised_time(alert.created_at, alert.payload.get("headlines", []))


def raised_time(created_at: datetime, headlines: Iterable[Mapping[str, Any]]) -> str:
    """``alert 2025-08-12 08:02 UTC, 2m after the news`` for an alert (or a push) raised at
    ``created_at`` on these headlines."""
    times = [_when(h.get("published")) for h in headlines]
    newest = max((t for t in times if t is not None), default=None)
    text = f"alert {stamp(created_at)}"
    if newest is None:
        return text
    lag = created_at - newest
    if lag < timedelta(seconds=30):
        return f"{text}, as the news came out"
    return f"{text}, {duration(lag)} after the news"


def alert_text(alert: StoredAlert) -> str:
    p: dict[str, Any] = alert.payload
    if alert.kind == "early":
        head = f"[{alert.severity.upper()}] {leg_label(alert)}: early warning ({p['reason']})"
    else:
        head = (
            f"[{alert.severity.upper()}] {leg_label(alert)}: {alert.old_state} -> {alert.new_state}"
        )
    if alert.new_state == "intact":
        status = p["reason"]
    elif alert.confirmed:
        status = f"confirmed by {p['sources']} source{'s' if p['sources'] != 1 else ''}"
    else:
        status = "unconfirmed"
    lines = [f"{head} ({status})"]
    for h in p.get("headlines", []):
        lines.append(f"  - {h['title']} ({h['source']}, {h['tier']}) {h['url'] or ''}".rstrip())
        lead = cap_text(str(h.get("lead") or ""), LEAD_CAP)
        if lead:
            lines.append(f"    {lead}")
        when = headline_time(h, alert.created_at)
        if when:
            lines.append(f"    {when}")
    if p.get("more_headlines"):
        lines.append(f"  ... and {p['more_headlines']} more")
    lines.append(f"  tickers: {tickers_text(p.get('tickers', {}))}")
    if p.get("rules"):
        lines.append(f"  rules: {', '.join(p['rules'])}")
    lines.append(f"  alert #{alert.id}, {alert_time(alert).removeprefix('alert ')}")
    return "\n".join(lines)


def _headline_lines(h: Mapping[str, Any], created_at: datetime) -> list[str]:
    lines = [f"  - {h['title']} ({h['source']}, {h['tier']}) {h.get('url') or ''}".rstrip()]
    lead = cap_text(str(h.get("lead") or ""), LEAD_CAP)
    if lead:
        lines.append(f"    {lead}")
    when = headline_time(h, created_at)
    if when:
        lines.append(f"    {when}")
    return lines


def _ticker_text(t: TickerMove) -> str:
    if not t.split:
        return f"${t.symbol} {ARROWS.get(t.moves[0][0], '?')}"
    return f"${t.symbol} " + " / ".join(
        f"{ARROWS.get(move, '?')} {'+'.join(legs)}" for move, legs in t.moves
    )


def push_text(alerts: Sequence[StoredAlert]) -> str:
    """A push of one alert reads as that alert; of several, every leg the story moves once."""
    if alerts and alerts[0].kind == RELOAD_KIND:
        return reload_text(alerts[0].payload)
    if len(alerts) == 1:
        return alert_text(alerts[0])
    view = push_view(alerts)
    lines = [f"[{view.severity.upper()}] one story moves {view.moves}:"]
    for m in view.legs:
        change = "early warning" if m.kind == "early" else f"{m.old} -> {m.new}"
        lines.append(
            f"  [{m.severity.upper()}] {m.label}: {change} ({m.status}), alert #{m.alert_id}"
        )
    for h in view.headlines:
        lines += _headline_lines(h, view.created_at)
    if view.more_headlines:
        lines.append(f"  ... and {view.more_headlines} more")
    lines.append(f"  tickers: {' '.join(_ticker_text(t) for t in view.tickers)}")
    rules = sorted({r for a in alerts for r in a.payload.get("rules", [])})
    if rules:
        lines.append(f"  rules: {', '.join(rules)}")
    when = raised_time(view.created_at, view.headlines).removeprefix("alert ")
    lines.append(f"  alerts {', '.join(f'#{i}' for i in view.ids)}, {when}")
    return "\n".join(lines)


def _change(alert: StoredAlert) -> str:
    return "early warning" if alert.kind == "early" else f"{alert.old_state} -> {alert.new_state}"


def recent_text(alerts: Sequence[StoredAlert], now: datetime) -> str:
    """One line per alert, newest first: number, time, leg, move, severity, lead headline."""
    if not alerts:
        return "no alerts yet"
    lines = []
    for a in alerts:
        heads = a.payload.get("headlines") or [{}]
        title = heads[0].get("title") or a.payload.get("reason", "")
        lines.append(
            f"#{a.id:<5} {stamp(a.created_at)} ({ago(a.created_at, now)})  {a.severity.upper():<8} "
            f"{a.leg}: {_change(a)}"
        )
        lines.append(f"       {title}")
    return "\n".join(lines)


def alert_json(alert: StoredAlert) -> dict[str, Any]:
    """An alert for scripts: its fields with ISO 8601 times, and what it said (the payload)."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "leg": alert.leg,
        "severity": alert.severity,
        "old_state": alert.old_state,
        "new_state": alert.new_state,
        "confirmed": alert.confirmed,
        "created_at": alert.created_at.isoformat(),
        "payload": alert.payload,
    }


def leg_since(line: LegLine, now: datetime) -> str:
    """``since 2025-08-12 08:00 UTC (3d ago)``, ``never moved`` or ``no evidence yet``."""
    if line.since is not None:
        return f"since {stamp(line.since)} ({ago(line.since, now)})"
    if not line.evidence and line.last_signal is None:
        return "no evidence yet"
    return "never moved"


def board_text(view: BoardView) -> str:
    """Each leg: state, since when, the latest evidence with its time, what a break moves."""
    asof = f"board as of {stamp(view.evaluated_at)}" if view.evaluated_at else "not evaluated yet"
    lines = [f"thesis: {view.thesis} ({asof})"]
    for line in view.legs:
        lines.append(f"  {line.leg:<22} {line.state.upper():<11} {leg_since(line, view.now)}")
        lines.append(f"    {line.claim}")
        for e in line.evidence[:1]:
            hedged = " (hedged)" if e.hedged else ""
            lines.append(
                f"    latest: {e.effect}{hedged} via {e.rule_id}: {e.title} ({e.source}), "
                f"published {stamp(e.published)}"
            )
        if not line.evidence and line.last_signal is not None:
            lines.append(f"    no live evidence; last matched news {stamp(line.last_signal)}")
        lines.append(f"    a break moves: {tickers_text(line.tickers)}")
    return "\n".join(lines)
