"""Tables of ``rules eval`` over scored items: per leg, per rule, leg confusion, misses by rule.

Pure functions of :class:`ItemResult` values (an item, its labels, what fired on it and its
diagnosed misses); :mod:`rules.metrics` makes those and sums them up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rules.model import EFFECTS, SEVERITIES, Signal
from rules.records import LabelledItem

__all__ = [
    "NEUTRAL",
    "NOTHING",
    "POSITIVE",
    "ItemResult",
    "LegScore",
    "MissGroup",
    "MissLine",
    "RuleScore",
    "confusion",
    "leg_scores",
    "miss_groups",
    "rule_scores",
    "top_signal",
]

POSITIVE = frozenset({"breaks", "reverses"})
NEUTRAL = "neutral"  # the confusion table's row for items labelled neutral
NOTHING = "nothing"  # its column for items where nothing fired


def top_signal(signals: Iterable[Signal]) -> Signal | None:
    """The signal that speaks for an item: unhedged first, then reversal > break > confirmation,
    then severity, then rule id (for determinism)."""
    ranked = sorted(
        signals,
        key=lambda s: (
            not s.hedged,
            EFFECTS.index(s.effect),
            SEVERITIES.index(s.severity),
            [-ord(c) for c in s.rule_id],
        ),
        reverse=True,
    )
    return ranked[0] if ranked else None


def _side(effect: str) -> str:
    return "breaks" if effect in POSITIVE else effect


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class MissLine:
    """A leg labelled as broken that no unhedged signal broke, and the rule nearest to it."""

    key: str
    title: str
    leg: str
    got: str
    nearest: str | None
    reason: str
    vocabularies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MissGroup:
    """The misses of one leg whose nearest rule is ``rule_id`` (None: no rule came near)."""

    leg: str
    rule_id: str | None
    lines: tuple[MissLine, ...]


@dataclass(frozen=True, slots=True)
class LegScore:
    """Breaks and reversals of one leg: labelled vs fired, item by item."""

    leg: str
    true_pos: int
    false_pos: int
    false_neg: int

    @property
    def precision(self) -> float | None:
        return _ratio(self.true_pos, self.true_pos + self.false_pos)

    @property
    def recall(self) -> float | None:
        return _ratio(self.true_pos, self.true_pos + self.false_neg)


@dataclass(frozen=True, slots=True)
class RuleScore:
    """One rule's unhedged signals against the labels.

    ``right``: fired where the label says the rule's leg is moved its way (broken or reversed
    for a break rule, confirmed for a confirming one); ``labelled``: items labelled so, whether
    it fired or not, so ``recall`` is the share of them this rule catches.
    """

    rule_id: str
    leg: str
    effect: str
    fired: int
    right: int
    hedged: int
    traps: int
    labelled: int
    wrong: tuple[str, ...]

    @property
    def precision(self) -> float | None:
        return _ratio(self.right, self.fired)

    @property
    def recall(self) -> float | None:
        return _ratio(self.right, self.labelled)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One labelled item, what fired on it, and its diagnosed misses."""

    labelled: LabelledItem
    signals: tuple[Signal, ...]
    misses: tuple[MissLine, ...]

    @property
    def expected_breaks(self) -> frozenset[str]:
        return frozenset(e.leg for e in self.labelled.entries if e.effect in POSITIVE)

    @property
    def broken(self) -> frozenset[str]:
        return frozenset(s.leg for s in self.signals if s.effect in POSITIVE and not s.hedged)


def _expects(result: ItemResult) -> set[tuple[str, str]]:
    return {(e.leg, _side(e.effect)) for e in result.labelled.entries}


def rule_scores(results: Sequence[ItemResult]) -> tuple[RuleScore, ...]:
    labelled: Counter[tuple[str, str]] = Counter()
    kinds: dict[str, tuple[str, str]] = {}
    fires: dict[str, list[tuple[ItemResult, bool]]] = {}
    for result in results:
        labelled.update(_expects(result))
        for s in result.signals:
            kinds.setdefault(s.rule_id, (s.leg, s.effect))
            fires.setdefault(s.rule_id, []).append((result, s.hedged))
    out: list[RuleScore] = []
    for rule_id, (leg, effect) in kinds.items():
        firing = [r for r, hedged in fires[rule_id] if not hedged]
        right = {id(r) for r in firing if (leg, _side(effect)) in _expects(r)}
        out.append(
            RuleScore(
                rule_id,
                leg,
                effect,
                fired=len(firing),
                right=len(right),
                hedged=len(fires[rule_id]) - len(firing),
                traps=sum(r.labelled.is_trap for r in firing) if effect in POSITIVE else 0,
                labelled=labelled[(leg, _side(effect))],
                wrong=tuple(r.labelled.item.key for r in firing if id(r) not in right),
            )
        )
    # The noisiest first: lowest precision, then most wrong fires.
    return tuple(
        sorted(
            out,
            key=lambda s: (
                s.precision if s.precision is not None else 2.0,
                -len(s.wrong),
                s.rule_id,
            ),
        )
    )


def leg_scores(results: Sequence[ItemResult], legs: Sequence[str]) -> tuple[LegScore, ...]:
    out = []
    for leg in legs:
        tp = sum(leg in r.expected_breaks and leg in r.broken for r in results)
        fp = sum(leg in r.broken and leg not in r.expected_breaks for r in results)
        fn = sum(leg in r.expected_breaks and leg not in r.broken for r in results)
        out.append(LegScore(leg, tp, fp, fn))
    return tuple(out)


def confusion(results: Sequence[ItemResult]) -> tuple[tuple[str, str, int], ...]:
    cells: Counter[tuple[str, str]] = Counter()
    for r in results:
        entry = r.labelled
        row = entry.leg if entry.leg is not None and entry.effect != "neutral" else NEUTRAL
        top = top_signal(r.signals)
        cells[(row, top.leg if top is not None else NOTHING)] += 1
    return tuple((row, col, n) for (row, col), n in sorted(cells.items()))


def miss_groups(results: Sequence[ItemResult]) -> tuple[MissGroup, ...]:
    groups: dict[tuple[str, str | None], list[MissLine]] = {}
    for r in results:
        for miss in r.misses:
            groups.setdefault((miss.leg, miss.nearest), []).append(miss)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0][0], kv[0][1] or "~"))
    return tuple(MissGroup(leg, rule, tuple(lines)) for (leg, rule), lines in ordered)
