"""The typed, frozen model of a rule set: what the loader builds and the engine compiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from rules.doubt import Doubt

__all__ = [
    "EFFECTS",
    "FIELDS",
    "MOVES",
    "SCOPES",
    "SEVERITIES",
    "TIERS",
    "ConfirmationPolicy",
    "Direction",
    "Effect",
    "Example",
    "Expr",
    "Field",
    "Guard",
    "Item",
    "Leg",
    "Move",
    "Node",
    "PackagePart",
    "Regex",
    "Rule",
    "RuleSet",
    "Scope",
    "Severity",
    "Signal",
    "Span",
    "Term",
    "Thesis",
    "TickerImpact",
    "Tier",
    "Vocabulary",
]

Effect: TypeAlias = Literal["confirms", "breaks", "reverses"]
Severity: TypeAlias = Literal["info", "low", "medium", "high", "critical"]
Tier: TypeAlias = Literal["official", "wire", "press", "blog"]
Move: TypeAlias = Literal["bullish", "bearish"]
Direction: TypeAlias = Literal["tightening", "easing", "none"]
Field: TypeAlias = Literal["title", "summary", "lead", "any", "headline"]
Scope: TypeAlias = Literal["text", "sentence"]

EFFECTS: tuple[Effect, ...] = ("confirms", "breaks", "reverses")
# Ordered from least to most severe: the index is the rank.
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
# Ordered from most to least authoritative.
TIERS: tuple[Tier, ...] = ("official", "wire", "press", "blog")
MOVES: tuple[Move, ...] = ("bullish", "bearish")
FIELDS: tuple[Field, ...] = ("title", "summary", "lead", "any", "headline")
SCOPES: tuple[Scope, ...] = ("text", "sentence")


@dataclass(frozen=True, slots=True)
class TickerImpact:
    """How a signal (or a break of a leg) moves one ticker."""

    symbol: str
    move: Move


@dataclass(frozen=True, slots=True)
class Leg:
    """One claim of the thesis; ``tickers`` says how a *break* of the claim moves each ticker."""

    id: str
    claim: str
    tickers: tuple[TickerImpact, ...]
    # A reload that takes away a leg's last rule is refused unless the leg says this is meant.
    # It changes what a reload accepts, not what the rules mean: not part of the version hash.
    allow_no_rules: bool = field(default=False, repr=False, compare=False)

    def tickers_for(self, effect: Effect) -> tuple[TickerImpact, ...]:
        """How a signal with this effect moves the leg's tickers (a confirmation the other way)."""
        if effect != "confirms":
            return self.tickers
        return tuple(
            TickerImpact(t.symbol, "bearish" if t.move == "bullish" else "bullish")
            for t in self.tickers
        )


@dataclass(frozen=True, slots=True)
class Thesis:
    name: str
    legs: tuple[Leg, ...]
    # Where ``name:`` was written (file, line, column): for messages, not part of the meaning.
    place: tuple[str, int, int] = field(default=("", 0, 0), repr=False, compare=False)

    def leg(self, leg_id: str) -> Leg:
        """The leg with this id (KeyError if none)."""
        for leg in self.legs:
            if leg.id == leg_id:
                return leg
        raise KeyError(leg_id)

    @property
    def tickers(self) -> frozenset[str]:
        """Every ticker any leg names: the universe rules may refer to."""
        return frozenset(t.symbol for leg in self.legs for t in leg.tickers)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A named list of phrases, already normalised and with inflections expanded."""

    name: str
    phrases: tuple[str, ...]
    # Where it was written: for messages, not part of what it means (nor of the version hash).
    where: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Term:
    """A literal phrase or a vocabulary reference (``$name``), resolved to its phrases."""

    source: str
    phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Regex:
    """The escape hatch: a pattern run on the normalised text of a field.

    ``literal`` is a piece of text every match contains; the pattern only runs when it is seen.
    """

    pattern: str
    literal: str


@dataclass(frozen=True, slots=True)
class Expr:
    """A conjunction: every listed part must hold.

    ``all`` each match, at least one of ``any`` matches, none of ``none`` matches, ``regex``
    matches; with ``within``, the first words of the ``all`` parts lie within that many words.
    ``field`` limits where this expression (and what it contains) looks.
    """

    all: tuple[Node, ...] = ()
    any: tuple[Node, ...] = ()
    none: tuple[Node, ...] = ()
    regex: Regex | None = None
    within: int | None = None
    field: Field = "any"


Node: TypeAlias = Term | Expr


@dataclass(frozen=True, slots=True)
class Guard:
    """A veto or a hedge: an expression, optionally only within ``near`` words of the match."""

    expr: Expr
    near: int | None = None


@dataclass(frozen=True, slots=True)
class Example:
    title: str
    summary: str = ""
    tier: Tier | None = None
    hedged: bool = False
    where: str = field(default="", repr=False, compare=False)
    # The legs the rule's signals must move, its package parts included (empty: not checked).
    # Left out of repr (the version hash adds it when used; see loader._version).
    legs: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class PackagePart:
    """One more leg a package deal moves: when its rule fires and ``when`` holds in the same
    place, it raises its own signal, with the id ``id`` (``<rule id>.<leg>``)."""

    id: str
    leg: str
    effect: Effect
    direction: Direction
    severity: Severity
    tickers: tuple[TickerImpact, ...]
    when: Expr


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    leg: str
    effect: Effect
    severity: Severity
    direction: Direction
    match: Expr
    veto: tuple[Guard, ...] = ()
    hedge: tuple[Guard, ...] = ()
    tiers: tuple[Tier, ...] = TIERS
    tickers: tuple[TickerImpact, ...] = ()
    cooldown: timedelta | None = None
    # A rule about expectations, not events ("deal is close"): its signals are always hedged.
    hedged: bool = False
    should_match: tuple[Example, ...] = ()
    should_not_match: tuple[Example, ...] = ()
    note: str = ""
    where: str = field(default="", repr=False, compare=False)
    # Story reading (rules/README.md section 8). Left out of repr: the version hash adds them
    # only when set, so a folder that does not use them keeps its version (loader._version).
    # ``lead``: also read the summary's lead as a headline, at this severity (None: do not).
    lead: Severity | None = field(default=None, repr=False)
    # ``sentence``: the match, its vetoes and hedges must hold within one sentence.
    scope: Scope = field(default="text", repr=False)
    package: tuple[PackagePart, ...] = field(default=(), repr=False)

    @property
    def reads_story(self) -> bool:
        """Whether the rule uses story reading (so the engine resolves its signals)."""
        return self.lead is not None or self.scope != "text" or bool(self.package)


@dataclass(frozen=True, slots=True)
class ConfirmationPolicy:
    """How the thesis board turns signals into leg states (see rules/README.md)."""

    official: int = 1
    publishers: int = 2
    window: timedelta = timedelta(hours=72)
    half_life: timedelta = timedelta(hours=48)
    challenge_at: float = 1.0
    restore_ratio: float = 1.0
    hedged_weight: float = 0.5
    leg_cooldown: timedelta = timedelta(hours=6)
    tier_weights: tuple[tuple[Tier, float], ...] = (
        ("official", 3.0),
        ("wire", 2.0),
        ("press", 1.0),
        ("blog", 0.5),
    )

    def weight_of(self, tier: Tier) -> float:
        """The weight one piece of evidence from this tier carries."""
        return dict(self.tier_weights).get(tier, 1.0)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rule set; ``version`` is a hash of its canonical content."""

    thesis: Thesis
    vocabularies: tuple[Vocabulary, ...]
    rules: tuple[Rule, ...]
    confirmation: ConfirmationPolicy
    version: str
    # The second stage (rules/doubt.py), from the folder's doubt.json; None without one.
    doubt: Doubt | None = None

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


@dataclass(frozen=True, slots=True)
class Item:
    """One news item as the engine sees it."""

    key: str
    title: str
    summary: str
    source: str
    tier: Tier
    url: str
    published: datetime


@dataclass(frozen=True, slots=True)
class Span:
    """Matched words: offsets into the field's text (after Unicode NFKC normalisation)."""

    field: Literal["title", "summary"]
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Signal:
    """What one rule says about one item."""

    item_key: str
    rule_id: str
    ruleset_version: str
    leg: str
    effect: Effect
    direction: Direction
    severity: Severity
    tickers: tuple[TickerImpact, ...]
    spans: tuple[Span, ...]
    hedged: bool
    source: str
    tier: Tier
    published: datetime

    def ticker_map(self) -> dict[str, Move]:
        """``{symbol: "bullish" | "bearish"}``."""
        return {t.symbol: t.move for t in self.tickers}

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (the shape ``rules classify`` prints, plus provenance)."""
        return {
            "item": self.item_key,
            "rule": self.rule_id,
            "version": self.ruleset_version,
            "leg": self.leg,
            "effect": self.effect,
            "direction": self.direction,
            "severity": self.severity,
            "tickers": self.ticker_map(),
            "hedged": self.hedged,
            "spans": [
                {"field": s.field, "start": s.start, "end": s.end, "text": s.text}
                for s in self.spans
            ],
        }
