"""Precision, recall and the rest of ``rules eval``, as pure functions of labelled items.

A break means an unhedged signal that breaks or reverses a leg. Item-level figures ask whether
an item labelled as a break fired one at all; per-leg figures ask it of each leg an item moves
(a package deal moves several); per-rule figures ask whether each rule's signals agree with
the labels (:mod:`rules.scores`). Misses are diagnosed with :meth:`~rules.engine.Engine.trace`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rules.diagnose import vocabularies_in
from rules.engine import Engine
from rules.model import Signal
from rules.records import LabelledItem
from rules.scores import (
    POSITIVE,
    ItemResult,
    LegScore,
    MissGroup,
    MissLine,
    RuleScore,
    confusion,
    leg_scores,
    miss_groups,
    rule_scores,
    top_signal,
)

__all__ = [
    "EvalLine",
    "EvalReport",
    "evaluate_labelled",
    "evaluate_sets",
    "fires_break",
    "score_item",
    "summarise",
    "top_signal",
]


def fires_break(signals: Iterable[Signal]) -> bool:
    """An unhedged break or reversal: what the board may treat as the thesis breaking."""
    return any(s.effect in POSITIVE and not s.hedged for s in signals)


@dataclass(frozen=True, slots=True)
class EvalLine:
    """One item of interest in the report, with what was expected and what the rules said."""

    key: str
    title: str
    expected: str
    got: str
    note: str


@dataclass(frozen=True, slots=True)
class EvalReport:
    items: int
    true_pos: int
    false_pos: int
    false_neg: int
    leg_right: int
    leg_total: int
    hits_leg_right: int
    tickers_found: int
    tickers_total: int
    tickers_outside: tuple[str, ...]
    misses: tuple[EvalLine, ...]
    false_alarms: tuple[EvalLine, ...]
    trap_fires: tuple[EvalLine, ...]
    leg_errors: tuple[EvalLine, ...]
    hedged: tuple[EvalLine, ...]
    legs: tuple[LegScore, ...] = ()
    rules: tuple[RuleScore, ...] = ()
    confusion: tuple[tuple[str, str, int], ...] = ()
    miss_groups: tuple[MissGroup, ...] = ()
    # Of the breaks caught: the labelled tickers that the unhedged break signals name.
    hits_tickers_found: int = 0
    hits_tickers_total: int = 0

    @property
    def precision(self) -> float:
        """Of the items that fired a break, the share labelled as one (1.0 when none fired)."""
        fired = self.true_pos + self.false_pos
        return self.true_pos / fired if fired else 1.0

    @property
    def recall(self) -> float:
        """Of the items labelled as a break, the share that fired one (1.0 when none)."""
        wanted = self.true_pos + self.false_neg
        return self.true_pos / wanted if wanted else 1.0

    @property
    def leg_accuracy(self) -> float:
        return self.leg_right / self.leg_total if self.leg_total else 1.0

    @property
    def hits_leg_accuracy(self) -> float:
        """Of the breaks caught, the share where the labelled leg is among the legs that broke."""
        return self.hits_leg_right / self.true_pos if self.true_pos else 1.0

    @property
    def ticker_recall(self) -> float:
        return self.tickers_found / self.tickers_total if self.tickers_total else 1.0

    @property
    def hits_ticker_recall(self) -> float:
        """Of the breaks caught, the share of labelled tickers that the alert names."""
        total = self.hits_tickers_total
        return self.hits_tickers_found / total if total else 1.0

    @property
    def traps_per_100(self) -> float:
        return 100 * len(self.trap_fires) / self.items if self.items else 0.0


def _base(symbol: str) -> str:
    # Labels write LYC where the thesis says LYC.AX: compare symbols without the exchange suffix.
    return symbol.split(".")[0].upper()


def _describe(signals: tuple[Signal, ...]) -> str:
    if not signals:
        return "nothing"
    return ", ".join(
        f"{s.rule_id} ({s.leg} {s.effect}{' hedged' if s.hedged else ''})" for s in signals
    )


def _diagnose(engine: Engine, entry: LabelledItem, leg: str, got: str) -> MissLine:
    # A rule about expectations (hedged: true) never breaks a leg, so it is no candidate.
    rules = [r for r in engine.ruleset.rules if not r.hedged]
    candidates = sorted(
        [r.id for r in rules if r.leg == leg and r.effect in POSITIVE]
        + [p.id for r in rules for p in r.package if p.leg == leg and p.effect in POSITIVE]
    )
    traces = sorted(engine.trace(entry.item, candidates), key=lambda t: t.rank, reverse=True)
    item = entry.item
    vocab = vocabularies_in(engine.ruleset.vocabularies, item.title, item.summary)
    best = traces[0] if traces else None
    if best is None or best.outcome == "silent":
        reason = f"no rule of {leg} matched any part of its match"
        return MissLine(item.key, item.title, leg, got, None, reason, vocab)
    return MissLine(item.key, item.title, leg, got, best.rule_id, best.reason(), vocab)


def score_item(engine: Engine, entry: LabelledItem) -> ItemResult:
    """Evaluate one labelled item and diagnose each leg it should have broken and did not."""
    signals = engine.evaluate(entry.item)
    result = ItemResult(entry, signals, ())
    missed = sorted(result.expected_breaks - result.broken)
    if not missed:
        return result
    got = _describe(signals)
    return ItemResult(entry, signals, tuple(_diagnose(engine, entry, leg, got) for leg in missed))


def _line(result: ItemResult) -> EvalLine:
    entry = result.labelled
    expected = f"{entry.leg or '-'} {entry.effect}"
    if len(entry.entries) > 1:
        expected += " (package: " + ", ".join(f"{e.leg} {e.effect}" for e in entry.entries) + ")"
    return EvalLine(
        entry.item.key, entry.item.title, expected, _describe(result.signals), entry.note
    )


@dataclass(slots=True)
class _Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    leg_right: int = 0
    leg_total: int = 0
    hits_leg_right: int = 0
    found: int = 0
    total: int = 0
    hit_found: int = 0
    hit_total: int = 0


def _count_hit_tickers(
    tally: _Tally, labelled: Iterable[str], signals: Sequence[Signal], known: set[str]
) -> None:
    # What the alert says: the tickers of the unhedged breaks, not of confirmations beside them.
    named = {
        _base(t.symbol) for s in signals if s.effect in POSITIVE and not s.hedged for t in s.tickers
    }
    for symbol in labelled:
        if _base(symbol) in known:
            tally.hit_total += 1
            tally.hit_found += _base(symbol) in named


def summarise(
    results: Sequence[ItemResult], legs: Sequence[str], universe: Iterable[str]
) -> EvalReport:
    """The report over ``results``; ``legs`` are the thesis legs, ``universe`` its tickers."""
    known = {_base(s) for s in universe}
    tally = _Tally()
    outside: set[str] = set()
    misses: list[EvalLine] = []
    alarms: list[EvalLine] = []
    traps: list[EvalLine] = []
    leg_errors: list[EvalLine] = []
    hedged: list[EvalLine] = []
    for r in results:
        entry, signals = r.labelled, r.signals
        line = _line(r)
        wanted, fired = bool(r.expected_breaks), fires_break(signals)
        tally.tp += wanted and fired
        tally.fp += fired and not wanted
        tally.fn += wanted and not fired
        if wanted and fired:
            tally.hits_leg_right += entry.leg in r.broken
            _count_hit_tickers(tally, entry.tickers, signals, known)
        if wanted and not fired:
            misses.append(line)
        if fired and not wanted:
            alarms.append(line)
        if fired and entry.is_trap:
            traps.append(line)
        if any(s.hedged and s.effect in POSITIVE for s in signals) and not fired:
            hedged.append(line)
        if entry.leg is not None and entry.effect != "neutral":
            top = top_signal(signals)
            tally.leg_total += 1
            if top is not None and top.leg == entry.leg:
                tally.leg_right += 1
            else:
                leg_errors.append(line)
            moved = {_base(t.symbol) for s in signals if not s.hedged for t in s.tickers}
            for symbol in entry.tickers:
                if _base(symbol) not in known:
                    outside.add(symbol)
                    continue
                tally.total += 1
                tally.found += _base(symbol) in moved
    return EvalReport(
        items=len(results),
        true_pos=tally.tp,
        false_pos=tally.fp,
        false_neg=tally.fn,
        leg_right=tally.leg_right,
        leg_total=tally.leg_total,
        hits_leg_right=tally.hits_leg_right,
        tickers_found=tally.found,
        tickers_total=tally.total,
        tickers_outside=tuple(sorted(outside)),
        misses=tuple(misses),
        false_alarms=tuple(alarms),
        trap_fires=tuple(traps),
        leg_errors=tuple(leg_errors),
        hedged=tuple(hedged),
        legs=leg_scores(results, legs),
        rules=rule_scores(results),
        confusion=confusion(results),
        miss_groups=miss_groups(results),
        hits_tickers_found=tally.hit_found,
        hits_tickers_total=tally.hit_total,
    )


def evaluate_sets(
    engine: Engine, sets: Sequence[tuple[str, Sequence[LabelledItem]]]
) -> tuple[EvalReport, tuple[tuple[str, EvalReport], ...]]:
    """The report over every set together, and one per named set (each item evaluated once)."""
    thesis = engine.ruleset.thesis
    legs = [leg.id for leg in thesis.legs]
    per_set = [(name, [score_item(engine, e) for e in entries]) for name, entries in sets]
    every = [r for _, results in per_set for r in results]
    return summarise(every, legs, thesis.tickers), tuple(
        (name, summarise(results, legs, thesis.tickers)) for name, results in per_set
    )


def evaluate_labelled(engine: Engine, labelled: Iterable[LabelledItem]) -> EvalReport:
    """Run every item through ``engine`` and score the signals against the labels."""
    return evaluate_sets(engine, [("", list(labelled))])[0]
