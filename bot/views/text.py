"""Alerts and the board as plain text for the console. Pure: values in, text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.views.report import ago
from rules import Thesis
from rules.board import Board
from storage.outbox import StoredAlert

__all__ = ["ARROWS", "alert_text", "board_text", "tickers_text"]

ARROWS = {"bullish": "▲", "bearish": "▼"}


def tickers_text(tickers: Mapping[str, str]) -> str:
    return " ".join(f"${sym} {ARROWS.get(move, '?')}" for sym, move in sorted(tickers.items()))


def alert_text(alert: StoredAlert) -> str:
    p: dict[str, Any] = alert.payload
    if alert.kind == "early":
        head = f"[{alert.severity.upper()}] {alert.leg}: early warning ({p['reason']})"
    else:
        head = f"[{alert.severity.upper()}] {alert.leg}: {alert.old_state} -> {alert.new_state}"
    if alert.new_state == "intact":
        status = p["reason"]
    elif alert.confirmed:
        status = f"confirmed by {p['sources']} source{'s' if p['sources'] != 1 else ''}"
    else:
        status = "unconfirmed"
    lines = [f"{head} ({status})"]
    for h in p.get("headlines", []):
        lines.append(f"  - {h['title']} ({h['source']}, {h['tier']}) {h['url'] or ''}".rstrip())
    if p.get("more_headlines"):
        lines.append(f"  ... and {p['more_headlines']} more")
    lines.append(f"  tickers: {tickers_text(p.get('tickers', {}))}")
    rules = f"rules: {', '.join(p['rules'])}    " if p.get("rules") else ""
    lines.append(f"  {rules}alert #{alert.id}")
    return "\n".join(lines)


def board_text(
    board: Board, thesis: Thesis, now: datetime, titles: Mapping[str, str] | None = None
) -> str:
    """Each leg: state, since when, the latest evidence, the tickers a break moves."""
    titles = titles or {}
    lines = [f"thesis: {thesis.name}"]
    for status in board.legs:
        leg = thesis.leg(status.leg)
        latest: Sequence[Any] = sorted(status.evidence, key=lambda e: e.at)[-1:]
        lines.append(
            f"  {status.leg:<22} {status.state.upper():<11} since {ago(status.since, now)}"
        )
        lines.append(f"    {leg.claim}")
        for e in latest:
            title = titles.get(e.item_key, f"item {e.item_key}")
            lines.append(f"    latest: {e.effect} via {e.rule_id}: {title} ({e.source})")
        lines.append(f"    a break moves: {tickers_text({t.symbol: t.move for t in leg.tickers})}")
    return "\n".join(lines)
