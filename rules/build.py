"""Building the engine's frozen results (:class:`Signal`, :class:`Span`) without their ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: about 2,000
instructions a field under CPython 3.11, 28,000 for one :class:`Signal` (13 fields), where the
rest of an item's evaluation is 800,000. Setting the slots through their member descriptors
builds the same object (equal, same type, still frozen) at about half the cost.
``tests/rules/test_build.py`` checks that every field is set and the objects are equal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rules.model import (
    Direction,
    Effect,
    Severity,
    Signal,
    Span,
    TickerImpact,
    Tier,
)

__all__ = ["make_signal", "make_span"]

_new = object.__new__


def _setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    return tuple(cls.__dict__[name].__set__ for name in names)


_SPAN = _setters(Span, "field", "start", "end", "text")
_SIGNAL = _setters(
    Signal,
    "item_key",
    "rule_id",
    "ruleset_version",
    "leg",
    "effect",
    "direction",
    "severity",
    "tickers",
    "spans",
    "hedged",
    "source",
    "tier",
    "published",
)


def make_span(field: str, start: int, end: int, text: str) -> Span:
    """``Span(field, start, end, text)``."""
    span = _new(Span)
    f0, f1, f2, f3 = _SPAN
    f0(span, field)
    f1(span, start)
    f2(span, end)
    f3(span, text)
    return span


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
    signal = _new(Signal)
    f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12 = _SIGNAL
    f0(signal, item_key)
    f1(signal, rule_id)
    f2(signal, ruleset_version)
    f3(signal, leg)
    f4(signal, effect)
    f5(signal, direction)
    f6(signal, severity)
    f7(signal, tickers)
    f8(signal, spans)
    f9(signal, hedged)
    f10(signal, source)
    f11(signal, tier)
    f12(signal, published)
    return signal
