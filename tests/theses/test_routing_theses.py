"""Which thesis and leg a chat's choice takes. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.pipeline.routing import leg_wanted, wants
from storage.chats import ChatPrefs

NOW = datetime(2026, 1, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("theses", "legs", "thesis", "leg", "expected"),
    [
        ((), (), "copper", "china-demand", True),  # a new chat: everything
        (("copper",), (), "chip", "h20-ban", False),
        (("copper",), (), "copper", "china-demand", True),
        # Legs named for one thesis limit that thesis only.
        (("chip", "copper"), ("chip/h20-ban",), "chip", "h20-ban", True),
        (("chip", "copper"), ("chip/h20-ban",), "chip", "no-trade-deal", False),
        (("chip", "copper"), ("chip/h20-ban",), "copper", "china-demand", True),
        # A bare leg chosen before several theses: only legs so named, whichever thesis.
        ((), ("h20-ban",), "chip", "h20-ban", True),
        ((), ("h20-ban",), "copper", "china-demand", False),
    ],
)
def test_leg_wanted(
    theses: tuple[str, ...], legs: tuple[str, ...], thesis: str, leg: str, expected: bool
) -> None:
    assert leg_wanted(ChatPrefs(1, theses=theses, legs=legs), thesis, leg) is expected


def test_wants_applies_the_thesis_with_the_other_filters() -> None:
    prefs = ChatPrefs(1, theses=("copper",), min_severity="high")
    common = {"severity": "high", "tickers": ["FCX"], "now": NOW}
    assert wants(prefs, leg="china-demand", thesis="copper", **common)  # type: ignore[arg-type]
    assert not wants(prefs, leg="h20-ban", thesis="chip", **common)  # type: ignore[arg-type]


def test_a_leg_muted_with_its_thesis_mutes_that_thesis_only() -> None:
    later = datetime(2026, 1, 16, tzinfo=UTC)
    common = {"severity": "high", "tickers": ["NVDA"], "now": NOW}
    one = ChatPrefs(1, muted_legs={"chip/h20-ban": later})
    assert not wants(one, leg="h20-ban", thesis="chip", **common)  # type: ignore[arg-type]
    assert wants(one, leg="h20-ban", thesis="copper", **common)  # type: ignore[arg-type]
    # A bare leg, muted while one thesis was loaded: that name in every thesis.
    bare = ChatPrefs(1, muted_legs={"h20-ban": later})
    assert not wants(bare, leg="h20-ban", thesis="copper", **common)  # type: ignore[arg-type]
    assert wants(bare, leg="h20-ban", thesis="copper", **{**common, "now": later})  # type: ignore[arg-type]
