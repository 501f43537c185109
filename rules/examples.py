"""Every rule's ``examples`` run as tests against the compiled rule set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rules.engine import Engine
from rules.model import Example, Item, Rule, Signal
from rules.records import EPOCH
from rules.scores import POSITIVE

__all__ = ["ExampleFailure", "doubted_examples", "run_examples"]


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    rule_id: str
    where: str
    expected: Literal["match", "no_match"]
    title: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: rule {self.rule_id}: {self.problem}: {self.title!r}"


def _item(rule: Rule, example: Example, number: int) -> Item:
    return Item(
        key=f"example:{rule.id}:{number}",
        title=example.title,
        summary=example.summary,
        source="example",
        tier=example.tier or "wire",
        url="",
        published=EPOCH,
    )


def _signals(engine: Engine, rule: Rule, example: Example, number: int) -> list[Signal]:
    """The rule's signals on the example: its own first, then its package parts'."""
    item = _item(rule, example, number)
    ids = [rule.id] + [p.id for p in rule.package]
    # Examples state what the rules do: the second stage (rules/doubt.py) is reported apart.
    found = {s.rule_id: s for s in engine.evaluate_rules(item) if s.rule_id in ids}
    return [found[i] for i in ids if i in found]


def _check_match(engine: Engine, rule: Rule, example: Example, n: int) -> ExampleFailure | None:
    signals = _signals(engine, rule, example, n)
    signal = signals[0] if signals and signals[0].rule_id == rule.id else None
    moved = sorted({s.leg for s in signals})
    problem = ""
    if signal is None:
        problem = "should match but did not"
    elif signal.hedged and not example.hedged:
        problem = "matched but was hedged (add 'hedged: true' if that is intended)"
    elif example.hedged and not signal.hedged:
        problem = "matched but was not hedged"
    elif example.legs and moved != sorted(example.legs):
        problem = f"moved {', '.join(moved)}, not {', '.join(sorted(example.legs))}"
    if not problem:
        return None
    return ExampleFailure(rule.id, example.where or rule.where, "match", example.title, problem)


def run_examples(engine: Engine) -> tuple[ExampleFailure, ...]:
    """Each failing example: a ``match`` the rule missed or a ``no_match`` it fired on."""
    failures: list[ExampleFailure] = []
    for rule in engine.ruleset.rules:
        for n, example in enumerate(rule.should_match):
            failure = _check_match(engine, rule, example, n)
            if failure is not None:
                failures.append(failure)
        for n, example in enumerate(rule.should_not_match, start=len(rule.should_match)):
            if any(s.rule_id == rule.id for s in _signals(engine, rule, example, n)):
                where = example.where or rule.where
                failures.append(
                    ExampleFailure(rule.id, where, "no_match", example.title, "should not match")
                )
    return tuple(failures)


def doubted_examples(engine: Engine) -> tuple[ExampleFailure, ...]:
    """Each ``match`` example, an unhedged break of its rule, that the second stage would hedge."""
    doubt = engine.ruleset.doubt
    if doubt is None:
        return ()
    out: list[ExampleFailure] = []
    for rule in engine.ruleset.rules:
        for n, example in enumerate(rule.should_match):
            signals = _signals(engine, rule, example, n)
            first = signals[0] if signals else None
            if first is None or example.hedged or first.hedged or first.effect not in POSITIVE:
                continue
            if doubt.doubts(_item(rule, example, n)):
                where = example.where or rule.where
                out.append(ExampleFailure(rule.id, where, "match", example.title, "doubted"))
    return tuple(out)
