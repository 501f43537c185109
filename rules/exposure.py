"""Shared drivers: for each ticker, the legs across theses whose break moves it, and which way.

A desk that holds several theses may find that positions it believed diversified rest on the
same pillar: one event that breaks a leg of each moves the same tickers. Pure: rule sets in,
rows out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rules.model import Move, RuleSet

__all__ = ["Exposure", "LegExposure", "exposures"]


@dataclass(frozen=True, slots=True)
class LegExposure:
    """One leg that moves a ticker: ``move`` is how a break of the leg moves it."""

    thesis: str
    leg: str
    move: Move

    @property
    def ref(self) -> str:
        return f"{self.thesis}/{self.leg}"


@dataclass(frozen=True, slots=True)
class Exposure:
    ticker: str
    legs: tuple[LegExposure, ...]

    @property
    def theses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.thesis for e in self.legs))

    @property
    def shared(self) -> bool:
        """Moved by legs of more than one thesis: one event may hit several positions."""
        return len(self.theses) > 1


def exposures(rulesets: Iterable[RuleSet]) -> list[Exposure]:
    """Every ticker a leg names, those shared by most theses (then most legs) first."""
    found: dict[str, list[LegExposure]] = {}
    for rs in rulesets:
        for leg in rs.thesis.legs:
            for t in leg.tickers:
                found.setdefault(t.symbol, []).append(LegExposure(rs.thesis.name, leg.id, t.move))
    rows = [Exposure(symbol, tuple(legs)) for symbol, legs in found.items()]
    return sorted(rows, key=lambda e: (-len(e.theses), -len(e.legs), e.ticker))
