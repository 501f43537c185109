"""Items and labelled items from plain JSON records (the ``rules classify``/``eval`` line shape)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rules.model import TIERS, Item, Tier

__all__ = [
    "EPOCH",
    "LABELS",
    "LabelEntry",
    "LabelledItem",
    "RecordError",
    "item_from_record",
    "labelled_from_record",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What a labelled item's ``effect`` may say; "neutral" is a label too, not a default.
LABELS = ("confirms", "breaks", "reverses", "neutral")
_TRAPS = ("near-miss", "distractor")


class RecordError(ValueError):
    """A record that cannot become an item."""


@dataclass(frozen=True, slots=True)
class LabelEntry:
    """What an item does to one leg (a package deal has one entry per leg it moves)."""

    leg: str
    effect: str
    direction: str
    tickers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """An item with its hand labels: the primary ``leg``/``effect`` and, for a package deal,
    every leg it moves (``legs``)."""

    item: Item
    leg: str | None
    effect: str
    direction: str
    tickers: tuple[str, ...]
    note: str
    legs: tuple[LabelEntry, ...] = ()
    trap: str | None = None

    @property
    def is_trap(self) -> bool:
        """A distractor or near-miss: it must never fire a break or a reversal."""
        return (
            self.trap is not None or self.note.startswith("DISTRACTOR") or "NEAR-MISS" in self.note
        )

    @property
    def entries(self) -> tuple[LabelEntry, ...]:
        """Every leg the item moves, the primary one included (none for a neutral item)."""
        if self.legs:
            return self.legs
        if self.leg is None or self.effect == "neutral":
            return ()
        return (LabelEntry(self.leg, self.effect, self.direction, self.tickers),)


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


def _tickers(record: Mapping[str, Any], what: str = "'tickers'") -> tuple[str, ...]:
    tickers = record.get("tickers") or []
    if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers):
        raise RecordError(f"{what} must be a list of strings")
    return tuple(tickers)


def _effect(record: Mapping[str, Any], what: str = "") -> str:
    if "effect" not in record:
        raise RecordError(f"not labelled: {what}'effect' is missing (one of {', '.join(LABELS)})")
    effect = record["effect"]
    if effect not in LABELS:
        raise RecordError(f"{what}'effect' must be one of {', '.join(LABELS)} (got {effect!r})")
    return str(effect)


def _entries(value: Any) -> tuple[LabelEntry, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise RecordError("'legs' must be a non-empty list of {leg, effect, direction, tickers}")
    out: list[LabelEntry] = []
    for number, entry in enumerate(value, start=1):
        what = f"legs[{number}] "
        if not isinstance(entry, Mapping):
            raise RecordError(f"{what}must be an object with leg and effect")
        leg = entry.get("leg")
        if not isinstance(leg, str) or not leg:
            raise RecordError(f"{what}'leg' must be a leg id")
        effect = _effect(entry, what)
        if effect == "neutral":
            raise RecordError(f"{what}'effect' must say what the item does to {leg}")
        if any(e.leg == leg for e in out):
            raise RecordError(f"{what}names {leg} a second time")
        direction = _text(entry, "direction", "none")
        out.append(LabelEntry(leg, effect, direction, _tickers(entry, f"{what}'tickers'")))
    return tuple(out)


def labelled_from_record(record: Mapping[str, Any]) -> LabelledItem:
    """A labelled line: the item's fields plus ``effect`` (required), ``leg``, ``direction``,
    ``tickers``, ``note`` and, optionally, ``legs`` (a package deal) and ``trap``.

    An unlabelled line (no ``effect``) is an error, never read as neutral.
    """
    item = item_from_record(record)
    effect = _effect(record)
    leg = record.get("leg")
    if leg is not None and not isinstance(leg, str):
        raise RecordError("'leg' must be a string or null")
    if effect != "neutral" and not leg:
        raise RecordError(f"'effect' {effect!r} needs a 'leg'")
    trap = record.get("trap")
    if trap is not None and trap not in _TRAPS:
        raise RecordError(f"'trap' must be one of {', '.join(_TRAPS)} or null")
    legs = _entries(record.get("legs"))
    if legs and effect != "neutral" and not any(e.leg == leg for e in legs):
        raise RecordError(f"'legs' must include the primary leg {leg!r}")
    return LabelledItem(
        item=item,
        leg=leg,
        effect=effect,
        direction=_text(record, "direction", "none"),
        tickers=_tickers(record),
        note=_text(record, "note"),
        legs=legs,
        trap=trap,
    )
