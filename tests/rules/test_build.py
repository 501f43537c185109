"""rules/build.py and new_text make the same objects as the constructors, field for field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from rules.build import make_signal, make_span
from rules.itemtext import Text, new_text
from rules.model import Signal, Span, TickerImpact


def test_make_span_equals_the_constructor() -> None:
    made, built = make_span("summary", 3, 9, "curbs"), Span("summary", 3, 9, "curbs")
    assert type(made) is Span
    assert made == built
    assert hash(made) == hash(built)
    assert [getattr(made, f.name) for f in dataclasses.fields(Span)] == ["summary", 3, 9, "curbs"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.start = 4  # type: ignore[misc]


def test_make_signal_sets_every_field_as_the_constructor_does() -> None:
    # A distinct value for each field, so a field set from the wrong argument shows.
    values = (
        "item-1",
        "rule-1",
        "v1",
        "h20-ban",
        "breaks",
        "easing",
        "high",
        (TickerImpact("NVDA", "bullish"),),
        (Span("title", 0, 3, "H20"),),
        True,
        "Wire",
        "wire",
        datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert len(values) == len(dataclasses.fields(Signal))
    made, built = make_signal(*values), Signal(*values)  # type: ignore[arg-type]
    assert type(made) is Signal
    assert made == built
    assert hash(made) == hash(built)
    assert tuple(getattr(made, f.name) for f in dataclasses.fields(Signal)) == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.severity = "low"  # type: ignore[misc]


def test_new_text_equals_the_constructor() -> None:
    args = (("A title", "A lead."), ("a title", "a lead "), (["a", "title"], ["a", "lead"]))
    made, built = new_text(*args), Text(*args)
    assert made == built
    assert all(getattr(made, f.name) == getattr(built, f.name) for f in dataclasses.fields(Text))
