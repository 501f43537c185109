"""The loader's groundwork: problems with their places, checked scalars, the thesis, the policy.

Pure. :class:`LoaderCore` collects every problem instead of stopping at the first; the rule
part (``rules.loadrules``) and the file part (``rules.loader``) build on it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, TypeVar

from rules.model import MOVES, TIERS, ConfirmationPolicy, Leg, Move, Thesis, TickerImpact, Tier
from rules.suggest import did_you_mean
from rules.yamlsrc import LocatedList, LocatedMap, Mark, Problem, check_keys

__all__ = ["NAME", "LoaderCore", "parse_duration", "tier_of", "where"]

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.\-]*$")
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_POLICY_KEYS = (
    "official",
    "publishers",
    "window",
    "half_life",
    "challenge_at",
    "restore_ratio",
    "hedged_weight",
    "leg_cooldown",
    "tier_weights",
)

T = TypeVar("T", bound=str)


def parse_duration(text: str) -> timedelta | None:
    """``"90m"``, ``"6h"``, ``"2d"``, ``"1w"``, ``"30s"`` -> timedelta; None if not a duration."""
    found = _DURATION.match(text.strip())
    if not found:
        return None
    return timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def where(mark: Mark) -> str:
    return f"{mark.file}:{mark.line}"


class LoaderCore:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.legs: dict[str, Leg] = {}
        self.tickers: frozenset[str] = frozenset()
        self.vocab: dict[str, tuple[str, ...]] = {}
        self.unparsed = False  # a file failed to parse, so "no thesis" may be a false alarm

    def err(self, mark: Mark, message: str) -> None:
        self.problems.append(Problem(mark, message))

    # -- scalar helpers -------------------------------------------------------------------

    def text(self, node: LocatedMap, key: str, what: str, default: str | None = None) -> str:
        value = node.get(key, default)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if key not in node and default is not None:
            return default
        self.err(node.mark_of(key), f"{what} {key!r} must be a non-empty string")
        return ""

    def choice(self, node: LocatedMap, key: str, options: tuple[T, ...], default: T) -> T:
        value = node.get(key, default)
        for option in options:
            if value == option:
                return option
        self.err(
            node.mark_of(key),
            f"{key} must be one of {', '.join(options)} (got {value!r})"
            + did_you_mean(value, map(str, options)),
        )
        return default

    def number(
        self, node: LocatedMap, key: str, default: float, *, lo: float, hi: float | None = None
    ) -> float:
        value = node.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and value >= lo and (hi is None or value <= hi):
            return float(value)
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        self.err(node.mark_of(key), f"{key} must be a number {bound} (got {value!r})")
        return default

    def integer(self, node: LocatedMap, key: str, default: int, *, lo: int, hi: int) -> int:
        value = node.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return value
        self.err(node.mark_of(key), f"{key} must be a whole number from {lo} to {hi}")
        return default

    def duration(self, node: LocatedMap, key: str, default: timedelta | None) -> timedelta | None:
        if key not in node:
            return default
        value = node[key]
        parsed = parse_duration(value) if isinstance(value, str) else None
        if parsed is None:
            self.err(node.mark_of(key), f"{key} must be a duration like 90m, 6h or 2d")
        return parsed if parsed is not None else default

    def mapping(self, value: Any, mark: Mark, what: str) -> LocatedMap | None:
        if isinstance(value, LocatedMap):
            return value
        self.err(mark, f"{what} must be a mapping")
        return None

    def items(self, value: Any, mark: Mark, what: str) -> list[tuple[Any, Mark]]:
        """A list (or one bare value standing for a list of one) with each entry's mark."""
        if isinstance(value, LocatedList):
            if not value:
                self.err(mark, f"{what} must not be empty")
            return [(entry, value.mark_of(i)) for i, entry in enumerate(value)]
        if isinstance(value, str | LocatedMap):
            return [(value, mark)]
        self.err(mark, f"{what} must be a list")
        return []

    # -- thesis ---------------------------------------------------------------------------

    def thesis(self, node: LocatedMap) -> Thesis:
        self.problems += check_keys(node, required=("name", "legs"), what="thesis")
        name = self.text(node, "name", "thesis")
        if "/" in name:  # "thesis/leg" names a leg across theses
            self.err(node.mark_of("name"), f"thesis name {name!r}: no '/' in a thesis name")
        legs_node = self.mapping(node.get("legs"), node.mark_of("legs"), "thesis legs")
        legs: list[Leg] = []
        for leg_id, body in (legs_node or {}).items():
            assert legs_node is not None
            key_mark = legs_node.key_marks[leg_id]
            if not NAME.match(leg_id):
                self.err(key_mark, f"leg id {leg_id!r}: use lower-case letters, digits, - _ .")
            leg_map = self.mapping(body, legs_node.mark_of(leg_id), f"leg {leg_id!r}")
            if leg_map is None:
                continue
            self.problems += check_keys(
                leg_map,
                required=("claim", "tickers"),
                optional=("allow_no_rules",),
                what=f"leg {leg_id!r}",
            )
            claim = self.text(leg_map, "claim", f"leg {leg_id!r}")
            tickers = self.ticker_map(leg_map, "tickers", check_universe=False)
            allow = leg_map.get("allow_no_rules", False)
            if not isinstance(allow, bool):
                self.err(leg_map.mark_of("allow_no_rules"), "allow_no_rules must be true or false")
                allow = False
            legs.append(Leg(leg_id, claim, tickers, allow_no_rules=allow))
        if legs_node is not None and not legs_node:
            self.err(legs_node.mark, "the thesis needs at least one leg")
        self.legs = {leg.id: leg for leg in legs}
        self.tickers = frozenset(t.symbol for leg in legs for t in leg.tickers)
        mark = node.mark_of("name")
        return Thesis(name, tuple(legs), place=(mark.file, mark.line, mark.col))

    def ticker_map(
        self, node: LocatedMap, key: str, *, check_universe: bool
    ) -> tuple[TickerImpact, ...]:
        body = self.mapping(node.get(key), node.mark_of(key), key)
        if body is None:
            return ()
        out: list[TickerImpact] = []
        for symbol, move in body.items():
            mark = body.key_marks[symbol]
            if not _TICKER.match(symbol):
                self.err(mark, f"ticker {symbol!r}: use capitals, digits, '.' and '-'")
            elif check_universe and symbol not in self.tickers:
                self.err(mark, f"unknown ticker {symbol!r} (not named by any thesis leg)")
            if move not in MOVES:
                self.err(body.mark_of(symbol), f"ticker {symbol}: move must be bullish or bearish")
                continue
            out.append(TickerImpact(symbol, _move(move)))
        return tuple(out)

    # -- confirmation policy --------------------------------------------------------------

    def policy(self, node: LocatedMap) -> ConfirmationPolicy:
        self.problems += check_keys(node, required=(), optional=_POLICY_KEYS, what="confirmation")
        base = ConfirmationPolicy()
        weights = base.tier_weights
        if "tier_weights" in node:
            body = self.mapping(node["tier_weights"], node.mark_of("tier_weights"), "tier_weights")
            if body is not None:
                got: dict[Tier, float] = dict(weights)
                for key in body:
                    tier = tier_of(key)
                    if tier is None:
                        self.err(body.key_marks[key], f"tier must be one of {', '.join(TIERS)}")
                    else:
                        got[tier] = self.number(body, key, 1.0, lo=0.0)
                weights = tuple((t, got[t]) for t in TIERS)
        window = self.duration(node, "window", base.window) or base.window
        half_life = self.duration(node, "half_life", base.half_life) or base.half_life
        cooldown = self.duration(node, "leg_cooldown", base.leg_cooldown)
        return ConfirmationPolicy(
            official=self.integer(node, "official", base.official, lo=0, hi=100),
            publishers=self.integer(node, "publishers", base.publishers, lo=1, hi=100),
            window=window,
            half_life=half_life,
            challenge_at=self.number(node, "challenge_at", base.challenge_at, lo=0.0),
            restore_ratio=self.number(node, "restore_ratio", base.restore_ratio, lo=0.0),
            hedged_weight=self.number(node, "hedged_weight", base.hedged_weight, lo=0.0, hi=1.0),
            leg_cooldown=cooldown if cooldown is not None else base.leg_cooldown,
            tier_weights=weights,
        )


def tier_of(value: Any) -> Tier | None:
    for tier in TIERS:
        if value == tier:
            return tier
    return None


def _move(value: Any) -> Move:
    return "bullish" if value == "bullish" else "bearish"
