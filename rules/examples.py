"""Every rule's ``examples`` run as tests against the compiled rule set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rules.engine import Engine
from rules.model import Example, Item, Rule, Signal
from rules.records import EPOCH

__all__ = ["ExampleFailure", "run_examples"]


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    rule_id: str
    where: str
    expected: Literal["match", "no_match"]
    title: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: rule {self.rule_id}: {self.problem}: {self.title!r}"


def _signal(engine: Engine, rule: Rule, example: Example, number: int) -> Signal | None:
    item = Item(
        key=f"example:{rule.id}:{number}",
        title=example.title,
        summary=example.summary,
        source="example",
        tier=example.tier or "wire",
        url="",
        published=EPOCH,
    )
    found = [s for s in engine.evaluate(item) if s.rule_id == rule.id]
    return found[0] if found else None


def _check_match(engine: Engine, rule: Rule, example: Example, n: int) -> ExampleFailure | None:
    signal = _signal(engine, rule, example, n)
    problem = ""
    if signal is None:
        problem = "should match but did not"
    elif signal.hedged and not example.hedged:
        problem = "matched but was hedged (add 'hedged: true' if that is intended)"
    elif example.hedged and not signal.hedged:
        problem = "matched but was not hedged"
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
            if _signal(engine, rule, example, n) is not None:
                where = example.where or rule.where
                failures.append(
                    ExampleFailure(rule.id, where, "no_match", example.title, "should not match")
                )
    return tuple(failures)
