"""The thesis board to JSON and back, reconciled with the legs of the current thesis."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from rules import Thesis
from rules.board import Board, Evidence, LegState, LegStatus, new_board

__all__ = ["board_from_json", "board_to_json", "evidence_to_json"]


def evidence_to_json(e: Evidence) -> dict[str, Any]:
    return {
        "item": e.item_key,
        "rule": e.rule_id,
        "source": e.source,
        "tier": e.tier,
        "effect": e.effect,
        "severity": e.severity,
        "hedged": e.hedged,
        "at": e.at.isoformat(),
    }


def _evidence(d: dict[str, Any]) -> Evidence:
    return Evidence(
        item_key=str(d["item"]),
        rule_id=d["rule"],
        source=d["source"],
        tier=d["tier"],
        effect=d["effect"],
        severity=d["severity"],
        hedged=bool(d["hedged"]),
        at=datetime.fromisoformat(d["at"]),
    )


def board_to_json(board: Board) -> dict[str, Any]:
    return {
        "legs": [
            {
                "leg": s.leg,
                "state": s.state,
                "since": s.since.isoformat(),
                "last_alert": s.last_alert.isoformat() if s.last_alert else None,
                "evidence": [evidence_to_json(e) for e in s.evidence],
            }
            for s in board.legs
        ],
        "rule_alerts": [[rule, at.isoformat()] for rule, at in board.rule_alerts],
    }


def board_from_json(data: dict[str, Any], thesis: Thesis, now: datetime) -> Board:
    """The stored board; legs the thesis dropped are gone, legs it added start intact."""
    stored = {d["leg"]: d for d in data.get("legs", [])}
    fresh = new_board(thesis, now)
    legs = []
    for status in fresh.legs:
        d = stored.get(status.leg)
        if d is None:
            legs.append(status)
            continue
        legs.append(
            LegStatus(
                leg=status.leg,
                state=cast(LegState, d["state"]),
                since=datetime.fromisoformat(d["since"]),
                evidence=tuple(_evidence(e) for e in d.get("evidence", [])),
                last_alert=datetime.fromisoformat(d["last_alert"]) if d.get("last_alert") else None,
            )
        )
    rule_alerts = tuple(
        (str(rule), datetime.fromisoformat(at)) for rule, at in data.get("rule_alerts", [])
    )
    return Board(tuple(legs), rule_alerts)
