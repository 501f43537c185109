"""Loading a rule's story-reading keys: ``lead``, ``scope`` and ``package`` (README section 8).

Kept apart from :mod:`rules.loader` so the loader only hands over the rule's mapping; the
problems found go to the same list, with their places.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from rules.model import (
    EFFECTS,
    SCOPES,
    SEVERITIES,
    Direction,
    Effect,
    Expr,
    Field,
    Leg,
    PackagePart,
    Rule,
    Scope,
    Severity,
    TickerImpact,
)
from rules.yamlsrc import LocatedMap, Mark, Problem, check_keys

__all__ = [
    "STORY_KEYS",
    "RuleHead",
    "example_legs",
    "lead_severity",
    "package_clashes",
    "package_parts",
    "scope",
]

STORY_KEYS = ("lead", "scope", "package")
_PART_KEYS = ("effect", "direction", "severity", "tickers")
_DIRECTIONS: tuple[Direction, ...] = ("tightening", "easing", "none")

T = TypeVar("T", bound=str)


class _Loader(Protocol):
    problems: list[Problem]
    legs: dict[str, Leg]

    def err(self, mark: Mark, message: str) -> None: ...

    def choice(self, node: LocatedMap, key: str, options: tuple[T, ...], default: T) -> T: ...

    def mapping(self, value: Any, mark: Mark, what: str) -> LocatedMap | None: ...

    def items(self, value: Any, mark: Mark, what: str) -> list[tuple[Any, Mark]]: ...

    def text(self, node: LocatedMap, key: str, what: str, default: str | None = None) -> str: ...

    def expr(
        self, node: LocatedMap, what: str, field: Field, extra: tuple[str, ...] = ()
    ) -> Expr | None: ...

    def ticker_map(
        self, node: LocatedMap, key: str, *, check_universe: bool
    ) -> tuple[TickerImpact, ...]: ...


class RuleHead(Protocol):
    """What a package part inherits from its rule."""

    @property
    def id(self) -> str: ...

    @property
    def leg(self) -> str: ...

    @property
    def effect(self) -> Effect: ...

    @property
    def direction(self) -> Direction: ...

    @property
    def severity(self) -> Severity: ...


def lead_severity(loader: _Loader, node: LocatedMap, severity: Severity) -> Severity | None:
    """``lead: true`` (one step below the rule), ``lead: <severity>`` (no higher), or absent."""
    if "lead" not in node:
        return None
    value = node["lead"]
    if value is True:
        return SEVERITIES[max(SEVERITIES.index(severity) - 1, 0)]
    if value is False:
        return None
    if value in SEVERITIES:
        lead: Severity = loader.choice(node, "lead", SEVERITIES, severity)
        if SEVERITIES.index(lead) > SEVERITIES.index(severity):
            loader.err(node.mark_of("lead"), f"lead severity {lead} is above the rule's {severity}")
        return lead
    loader.err(
        node.mark_of("lead"),
        f"lead must be true, false or a severity ({', '.join(SEVERITIES)}); got {value!r}",
    )
    return None


def scope(loader: _Loader, node: LocatedMap) -> Scope:
    """``scope: text`` (the default) or ``scope: sentence``."""
    return loader.choice(node, "scope", SCOPES, "text") if "scope" in node else "text"


def package_parts(
    loader: _Loader, node: LocatedMap, head: RuleHead, field: Field
) -> tuple[PackagePart, ...]:
    """The ``package`` list: one more leg per entry, with ``when`` read where the match reads."""
    parts: list[PackagePart] = []
    for value, mark in loader.items(node["package"], node.mark_of("package"), "package"):
        body = loader.mapping(value, mark, "each package entry")
        if body is None:
            continue
        loader.problems += check_keys(
            body, required=("leg", "when"), optional=_PART_KEYS, what="package entry"
        )
        leg_id = loader.text(body, "leg", "package entry")
        if not leg_id:
            continue
        if loader.legs and leg_id not in loader.legs:
            loader.err(
                body.mark_of("leg"),
                f"unknown leg {leg_id!r} (legs: {', '.join(sorted(loader.legs))})",
            )
        elif leg_id == head.leg or any(p.leg == leg_id for p in parts):
            loader.err(body.mark_of("leg"), f"package names leg {leg_id!r} twice")
        effect: Effect = loader.choice(body, "effect", EFFECTS, head.effect)
        when = None
        if "when" in body:
            when_map = loader.mapping(body["when"], body.mark_of("when"), "package 'when'")
            when = loader.expr(when_map, "package 'when'", field) if when_map else None
        if "tickers" in body:
            tickers = loader.ticker_map(body, "tickers", check_universe=True)
        else:
            leg = loader.legs.get(leg_id)
            tickers = leg.tickers_for(effect) if leg is not None else ()
        if when is None:
            continue
        parts.append(
            PackagePart(
                id=f"{head.id}.{leg_id}",
                leg=leg_id,
                effect=effect,
                direction=loader.choice(body, "direction", _DIRECTIONS, head.direction),
                severity=loader.choice(body, "severity", SEVERITIES, head.severity),
                tickers=tickers,
                when=when,
            )
        )
    return tuple(parts)


def example_legs(loader: _Loader, node: LocatedMap) -> tuple[str, ...]:
    """An example's ``legs``: every leg the rule's signals (package parts too) must move."""
    if "legs" not in node:
        return ()
    legs: list[str] = []
    for leg, mark in loader.items(node["legs"], node.mark_of("legs"), "example legs"):
        if not isinstance(leg, str) or (loader.legs and leg not in loader.legs):
            loader.err(mark, f"example legs: unknown leg {leg!r}")
        else:
            legs.append(leg)
    return tuple(legs)


def package_clashes(rules: Sequence[Rule], marks: dict[str, Mark]) -> list[Problem]:
    """A package part's signal id (``<rule>.<leg>``) that is also a rule's id."""
    ids = {r.id for r in rules}
    return [
        Problem(marks[r.id], f"package signal id {p.id!r} is also a rule id")
        for r in rules
        for p in r.package
        if p.id in ids and r.id in marks
    ]
