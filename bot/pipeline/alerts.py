"""What an alert says: pure functions from transitions and signals to an outbox payload."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.views.context import lead_sentence
from rules import Leg, Signal, Thesis
from rules.board import Evidence, Outcome, Transition
from rules.model import SEVERITIES, TIERS
from storage.signals import StoredItem

__all__ = [
    "MAX_HEADLINES",
    "AlertDraft",
    "draft_alerts",
    "early_payload",
    "pushes",
    "transition_payload",
    "transition_severity",
]

MAX_HEADLINES = 5
_FLIP = {"bullish": "bearish", "bearish": "bullish"}


def _headline(item: StoredItem) -> dict[str, Any]:
    return {
        "item": item.id,
        "title": item.title,
        "source": item.publisher,
        "tier": item.tier,
        "url": item.url,
        "published": item.published_at.isoformat(),
        "seen": item.first_seen_at.isoformat(),  # how late we read it, shown beside the time
        "lead": lead_sentence(item.summary, item.title),  # context under the headline
    }


def _leg_tickers(leg: Leg, restoring: bool) -> dict[str, str]:
    """How the move hits each ticker: a leg's tickers say how a *break* moves them."""
    return {t.symbol: _FLIP[t.move] if restoring else t.move for t in leg.tickers}


def transition_severity(t: Transition) -> str:
    if t.new == "intact" and not _restored(t):
        return "info"  # a challenge that went stale: worth a line, not a page
    ranks = [SEVERITIES.index(e.severity) for e in t.evidence] or [SEVERITIES.index("medium")]
    worst = max(ranks)
    if t.new in ("broken", "reversed"):
        worst = max(worst, SEVERITIES.index("high"))
    return SEVERITIES[worst]


def _restored(t: Transition) -> bool:
    """Back to intact because confirming evidence outweighed the challenge (not by decay)."""
    return t.new == "intact" and any(e.effect == "confirms" for e in t.evidence)


def _ranked(evidence: Sequence[Evidence], items: Mapping[str, StoredItem]) -> list[StoredItem]:
    """One headline per item, the most authoritative and newest first."""
    seen: dict[str, StoredItem] = {}
    for e in evidence:
        item = items.get(e.item_key)
        if item is not None:
            seen.setdefault(e.item_key, item)
    return sorted(seen.values(), key=lambda i: (TIERS.index(i.tier), -i.published_at.timestamp()))


def transition_payload(
    t: Transition, leg: Leg, items: Mapping[str, StoredItem], version: str
) -> dict[str, Any]:
    ranked = _ranked(t.evidence, items)
    return {
        "leg": t.leg,
        "claim": leg.claim,
        "old": t.old,
        "new": t.new,
        "reason": t.reason,
        "confirmed": t.new in ("broken", "reversed") or _restored(t),
        "sources": len({e.source for e in t.evidence if not e.hedged}),
        "headlines": [_headline(i) for i in ranked[:MAX_HEADLINES]],
        "more_headlines": max(0, len(ranked) - MAX_HEADLINES),
        "rules": sorted({e.rule_id for e in t.evidence}),
        "tickers": _leg_tickers(leg, restoring=t.new == "intact"),
        "ruleset_version": version,
    }


def early_payload(signal: Signal, leg: Leg, item: StoredItem) -> dict[str, Any]:
    """A critical signal ahead of confirmation: one source, so marked unconfirmed."""
    tickers = _leg_tickers(leg, restoring=False) | signal.ticker_map()
    return {
        "leg": signal.leg,
        "claim": leg.claim,
        "old": None,
        "new": None,
        "reason": f"critical {signal.effect} signal, not yet confirmed",
        "confirmed": False,
        "sources": 1,
        "headlines": [_headline(item)],
        "more_headlines": 0,
        "rules": [signal.rule_id],
        "tickers": tickers,
        "ruleset_version": signal.ruleset_version,
        "spans": [s.text for s in signal.spans],
    }


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert decided but not yet written: the live run writes it, a backtest lists it."""

    kind: str  # transition | early
    leg: str
    severity: str
    old_state: str | None
    new_state: str | None
    confirmed: bool
    payload: dict[str, Any]
    story_id: int | None = None
    transition: Transition | None = None
    # The story that set it off (None: no news did, e.g. a challenge gone stale): the alerts
    # one step drafts for one story are one push.
    push_key: int | None = None


def pushes(drafts: Sequence[AlertDraft]) -> list[list[AlertDraft]]:
    """One step's drafts grouped by the story behind them, in the order they were drafted."""
    groups: dict[int | None, list[AlertDraft]] = {}
    for d in drafts:
        groups.setdefault(d.push_key, []).append(d)
    return list(groups.values())


def _trigger_story(t: Transition, items: Mapping[str, StoredItem]) -> int | None:
    """The story of the newest evidence behind a move: the news that tipped it."""
    known = [e for e in t.evidence if e.item_key in items]
    if not known:
        return None
    newest = max(e.at for e in known)
    return min(items[e.item_key].story_id for e in known if e.at == newest)


def draft_alerts(
    outcome: Outcome,
    thesis: Thesis,
    version: str,
    items: Mapping[str, StoredItem],
    story_warned: Callable[[int, str], bool],
) -> list[AlertDraft]:
    """One alert per transition that may alert, and per story for early warnings.

    ``story_warned(story_id, leg)`` says whether that story already warned on that leg before
    this step; copies of one story within the step are grouped here.
    """
    drafts: list[AlertDraft] = []
    for t in outcome.transitions:
        if not t.alert:
            continue  # the leg's cooldown holds it back; the ledger still has the transition
        payload = transition_payload(t, thesis.leg(t.leg), items, version)
        drafts.append(
            AlertDraft(
                "transition",
                t.leg,
                transition_severity(t),
                t.old,
                t.new,
                bool(payload["confirmed"]),
                payload,
                transition=t,
                push_key=_trigger_story(t, items),
            )
        )
    warned: set[tuple[int, str]] = set()
    # A leg that alerted in this step already carries the news; one already broken or
    # reversed has been announced, and a further move of it is a transition of its own.
    quiet = {d.leg for d in drafts} | {
        s.leg for s in outcome.board.legs if s.state in ("broken", "reversed")
    }
    for s in outcome.early_warnings:
        item = items.get(s.item_key)
        if item is None or s.leg in quiet:
            continue
        key = (item.story_id, s.leg)
        if key in warned or story_warned(*key):
            continue
        warned.add(key)
        drafts.append(
            AlertDraft(
                "early",
                s.leg,
                s.severity,
                None,
                None,
                False,
                early_payload(s, thesis.leg(s.leg), item),
                story_id=item.story_id,
                push_key=item.story_id,
            )
        )
    return drafts
