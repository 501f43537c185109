"""Items and labelled items from plain JSON records (the ``rules classify``/``eval`` line shape)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rules.model import TIERS, Item, Tier

__all__ = ["EPOCH", "LabelledItem", "RecordError", "item_from_record", "labelled_from_record"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RecordError(ValueError):
    """A record that cannot become an item."""


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """An item with the hand labels of the dev corpus."""

    item: Item
    leg: str | None
    effect: str
    direction: str
    tickers: tuple[str, ...]
    note: str

    @property
    def is_trap(self) -> bool:
        """A distractor or near-miss: it must never fire a break or a reversal."""
        return self.note.startswith("DISTRACTOR") or "NEAR-MISS" in self.note


def _text(record: Mapping[str, Any], key: str, default: str = "") -> str:
    value = record.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RecordError(f"{key!r} must be a string")
    return value


def _date(value: Any) -> datetime:
    if value in (None, ""):
        return EPOCH
    if not isinstance(value, str):
        raise RecordError("'date' must be an ISO date string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"'date' {value!r} is not an ISO date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tier(value: Any) -> Tier:
    for tier in TIERS:
        if value == tier:
            return tier
    if value in (None, ""):
        return "press"  # an unknown outlet counts as ordinary press
    raise RecordError(f"'tier' must be one of {', '.join(TIERS)}")


def item_from_record(record: Mapping[str, Any]) -> Item:
    """``{id, title, summary?, source?, url?, date?, tier?}`` -> :class:`Item`."""
    key = record.get("id")
    if not isinstance(key, str | int) or isinstance(key, bool) or key == "":
        raise RecordError("'id' is required")
    title = _text(record, "title")
    if not title:
        raise RecordError("'title' is required")
    return Item(
        key=str(key),
        title=title,
        summary=_text(record, "summary"),
        source=_text(record, "source"),
        tier=_tier(record.get("tier")),
        url=_text(record, "url"),
        published=_date(record.get("date")),
    )


def labelled_from_record(record: Mapping[str, Any]) -> LabelledItem:
    """A dev-corpus line (item fields plus ``leg``, ``effect``, ``tickers``, ``note``)."""
    tickers = record.get("tickers") or []
    if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers):
        raise RecordError("'tickers' must be a list of strings")
    leg = record.get("leg")
    if leg is not None and not isinstance(leg, str):
        raise RecordError("'leg' must be a string or null")
    return LabelledItem(
        item=item_from_record(record),
        leg=leg,
        effect=_text(record, "effect", "neutral"),
        direction=_text(record, "direction", "none"),
        tickers=tuple(tickers),
        note=_text(record, "note"),
    )
