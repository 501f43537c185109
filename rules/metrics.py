"""Precision, recall and the rest of ``rules eval``, as pure functions of labelled items."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rules.engine import Engine
from rules.model import EFFECTS, SEVERITIES, Signal
from rules.records import LabelledItem

__all__ = ["EvalLine", "EvalReport", "evaluate_labelled", "format_report", "top_signal"]

_POSITIVE = frozenset({"breaks", "reverses"})


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


def fires_break(signals: Iterable[Signal]) -> bool:
    """An unhedged break or reversal: what the board may treat as the thesis breaking."""
    return any(s.effect in _POSITIVE and not s.hedged for s in signals)


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
    tickers_found: int
    tickers_total: int
    tickers_outside: tuple[str, ...]
    misses: tuple[EvalLine, ...]
    false_alarms: tuple[EvalLine, ...]
    trap_fires: tuple[EvalLine, ...]
    leg_errors: tuple[EvalLine, ...]
    hedged: tuple[EvalLine, ...]

    @property
    def precision(self) -> float:
        fired = self.true_pos + self.false_pos
        return self.true_pos / fired if fired else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_pos + self.false_neg
        return self.true_pos / wanted if wanted else 1.0

    @property
    def leg_accuracy(self) -> float:
        return self.leg_right / self.leg_total if self.leg_total else 1.0

    @property
    def ticker_recall(self) -> float:
        return self.tickers_found / self.tickers_total if self.tickers_total else 1.0


def _base(symbol: str) -> str:
    # Labels write LYC where the thesis says LYC.AX: compare symbols without the exchange suffix.
    return symbol.split(".")[0].upper()


def _describe(signals: tuple[Signal, ...]) -> str:
    if not signals:
        return "nothing"
    return ", ".join(
        f"{s.rule_id} ({s.leg} {s.effect}{' hedged' if s.hedged else ''})" for s in signals
    )


@dataclass(slots=True)
class _Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    leg_right: int = 0
    leg_total: int = 0
    found: int = 0
    total: int = 0


def evaluate_labelled(engine: Engine, labelled: Iterable[LabelledItem]) -> EvalReport:
    """Run every item through ``engine`` and score the signals against the labels."""
    universe = {_base(s) for s in engine.ruleset.thesis.tickers}
    tally = _Tally()
    outside: set[str] = set()
    misses: list[EvalLine] = []
    alarms: list[EvalLine] = []
    traps: list[EvalLine] = []
    leg_errors: list[EvalLine] = []
    hedged: list[EvalLine] = []
    count = 0
    for entry in labelled:
        count += 1
        signals = engine.evaluate(entry.item)
        expected = f"{entry.leg or '-'} {entry.effect}"
        line = EvalLine(entry.item.key, entry.item.title, expected, _describe(signals), entry.note)
        wanted, fired = entry.effect in _POSITIVE, fires_break(signals)
        tally.tp += wanted and fired
        tally.fp += fired and not wanted
        tally.fn += wanted and not fired
        if wanted and not fired:
            misses.append(line)
        if fired and not wanted:
            alarms.append(line)
        if fired and entry.is_trap:
            traps.append(line)
        if any(s.hedged and s.effect in _POSITIVE for s in signals) and not fired:
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
                if _base(symbol) not in universe:
                    outside.add(symbol)
                    continue
                tally.total += 1
                tally.found += _base(symbol) in moved
    return EvalReport(
        items=count,
        true_pos=tally.tp,
        false_pos=tally.fp,
        false_neg=tally.fn,
        leg_right=tally.leg_right,
        leg_total=tally.leg_total,
        tickers_found=tally.found,
        tickers_total=tally.total,
        tickers_outside=tuple(sorted(outside)),
        misses=tuple(misses),
        false_alarms=tuple(alarms),
        trap_fires=tuple(traps),
        leg_errors=tuple(leg_errors),
        hedged=tuple(hedged),
    )


def _section(title: str, lines: tuple[EvalLine, ...]) -> list[str]:
    out = [f"{title}: {len(lines)}"]
    for line in lines:
        out.append(f"  [{line.key}] {line.title}")
        out.append(f"      expected {line.expected}; got {line.got}")
    return out


def format_report(report: EvalReport) -> str:
    """The human-readable report ``rules eval`` prints."""
    out = [
        f"items: {report.items}",
        f"breaks/reverses: precision {report.precision:.2f} "
        f"({report.true_pos}/{report.true_pos + report.false_pos}), "
        f"recall {report.recall:.2f} ({report.true_pos}/{report.true_pos + report.false_neg})",
        f"leg accuracy (non-neutral items, top signal): {report.leg_accuracy:.2f} "
        f"({report.leg_right}/{report.leg_total})",
        f"ticker recall (non-neutral items, unhedged signals): {report.ticker_recall:.2f} "
        f"({report.tickers_found}/{report.tickers_total})"
        + (
            f"; not in the thesis: {', '.join(report.tickers_outside)}"
            if report.tickers_outside
            else ""
        ),
        f"distractors/near-misses firing a break: {len(report.trap_fires)}",
    ]
    out += _section("misses", report.misses)
    out += _section("false alarms", report.false_alarms)
    out += _section("traps that fired", report.trap_fires)
    out += _section("hedged breaks (not counted as fired)", report.hedged)
    out += _section("wrong or missing leg", report.leg_errors)
    return "\n".join(out)
