"""Why an alert fired, read back: each rule's matched words in the sentence they stand in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from bot.views.context import Sentence, sentences
from storage.history import matched_in
from storage.outbox import StoredAlert

__all__ = ["MatchLine", "read_why"]

MAX_LINES = 12  # a /why answer stays one message however many rules and items


@dataclass(frozen=True, slots=True)
class MatchLine:
    rule_id: str
    item_id: int
    field: str  # title | summary
    sentences: tuple[Sentence, ...]  # each sentence holding a match, in text order


def read_why(session: Session, alert: StoredAlert) -> list[MatchLine]:
    """The matched sentences behind ``alert``: its headlines' items, its rules, titles first."""
    items = [int(h["item"]) for h in alert.payload.get("headlines", []) if h.get("item")]
    rules = [str(r) for r in alert.payload.get("rules", [])]
    order = {item: n for n, item in enumerate(items)}
    found = matched_in(session, items, rules)
    found.sort(key=lambda m: (order.get(m.item_id, 0), m.field != "title", m.rule_id))
    lines = [
        MatchLine(m.rule_id, m.item_id, m.field, tuple(sentences(m.text, m.spans))) for m in found
    ]
    return [line for line in lines if line.sentences][:MAX_LINES]
