"""Building the engine's frozen results (:class:`Signal`, :class:`Span`) without their ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: about 2,000
instructions a field under CPython 3.11, 28,000 for one :class:`Signal` (13 fields), where a
whole item's evaluation is under 800,000. Here the fields are stored in a twin class with the
same slots and no ``__setattr__`` of its own, and the object then becomes the frozen class
(``__class__`` assignment, which CPython allows between classes of the same layout and refuses
with a TypeError otherwise): the same object, equal and frozen, at a quarter of the cost.
``tests/rules/test_build.py`` checks them against the constructors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rules.model import Direction, Effect, Severity, Signal, Span, TickerImpact, Tier

__all__ = ["make_signal", "make_span"]


class _SpanSlots:
    __slots__ = Span.__slots__


class _SignalSlots:
    __slots__ = Signal.__slots__


def make_span(field: str, start: int, end: int, text: str) -> Span:
    """``Span(field, start, end, text)``."""
    span: Any = _SpanSlots()
    span.field, span.start, span.end, span.text = field, start, end, text
    span.__class__ = Span
    return span  # type: ignore[no-any-return]


def make_signal(
    item_key: str,
    rule_id: str,
    ruleset_version: str,
    leg: str,
    effect: Effect,
    direction: Direction,
    severity: Severity,
    tickers: tuple[TickerImpact, ...],
    spans: tuple[Span, ...],
    hedged: bool,
    source: str,
    tier: Tier,
    published: datetime,
) -> Signal:
    """``Signal(...)``, the fields in their order."""
    signal: Any = _SignalSlots()
    signal.item_key, signal.rule_id, signal.ruleset_version = item_key, rule_id, ruleset_version
    signal.leg, signal.effect, signal.direction = leg, effect, direction
    signal.severity, signal.tickers, signal.spans = severity, tickers, spans
    signal.hedged, signal.source, signal.tier = hedged, source, tier
    signal.published = published
    signal.__class__ = Signal
    return signal  # type: ignore[no-any-return]
