"""The optimised engine raises exactly the signals main's engine raised (a frozen copy in
tests/helpers/refrules), on whatever rules are present: compared engine to engine, so a change
to the YAML rules changes both sides alike and never this test's expectations.

Every corpus item (dev events, corpus train and test, the holdouts) under every tier, and with
title and summary swapped, through the shipped rules, through the shipped rules with story
reading forced on or off for every rule, and through generated rule sets (bench/bench_rules.py).
A signal compares whole: rule id, leg, effect, direction, severity, tickers, spans, hedged.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import Engine, Item, RuleSet, compile_ruleset, load_ruleset, scan
from rules.model import TIERS, Expr, Term
from rules.records import item_from_record
from tests.helpers.refrules import Engine as Reference
from tests.rules.conftest import DEFAULT_RULES, DEV_EVENTS, NOW

ROOT = Path(__file__).resolve().parents[2]
CORPORA = [
    DEV_EVENTS,
    ROOT / "corpus" / "train.jsonl",
    ROOT / "corpus" / "test.jsonl",
    *sorted((ROOT / "tests" / "rules" / "data").glob("holdout*.jsonl")),
]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_rules", ROOT / "bench" / "bench_rules.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus_items() -> list[Item]:
    out: list[Item] = []
    for path in CORPORA:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(item_from_record(json.loads(line)))
    return out


def variants(items: list[Item]) -> Iterator[Item]:
    """Each item as recorded, under one other tier (in turn), and with title and summary swapped."""
    for number, subject in enumerate(items):
        yield subject
        yield dataclasses.replace(subject, tier=TIERS[number % len(TIERS)])
        if subject.summary:
            yield dataclasses.replace(subject, title=subject.summary, summary=subject.title)


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(DEFAULT_RULES.glob("*.yaml"))}
    return load_ruleset(files)


@pytest.fixture(scope="module")
def items() -> list[Item]:
    found = corpus_items()
    if len(found) < 100:
        pytest.skip("the corpora are not present")
    return list(variants(found))


def assert_identical(ruleset: RuleSet, items: list[Item]) -> int:
    """Both engines on every item; the number of signals compared."""
    new, old = compile_ruleset(ruleset), Reference(ruleset)
    count = 0
    for subject in items:
        got, want = new.evaluate(subject), old.evaluate(subject)
        assert got == want, subject
        count += len(want)
    return count


def _story(ruleset: RuleSet, **change: object) -> RuleSet:
    rules = tuple(dataclasses.replace(r, **change) for r in ruleset.rules)  # type: ignore[arg-type]
    return dataclasses.replace(ruleset, rules=rules)


def test_shipped_rules_identical(shipped: RuleSet, items: list[Item]) -> None:
    # The corpora are labelled news on the thesis: a rule set that fires on none of it would
    # make the comparison empty.
    assert assert_identical(shipped, items) > 100


def test_regex_literals_through_the_automaton_identical(
    shipped: RuleSet, items: list[Item], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rule sets with many regex literals find them with a character automaton, others with one
    # substring search each (rules/scan.py): the shipped rules have few, so force the automaton.
    monkeypatch.setattr(scan, "FEW_LITERALS", 0)
    assert compile_ruleset(shipped)._phrases._automaton is not None
    assert assert_identical(shipped, items) > 100


@pytest.mark.parametrize(
    "change",
    [
        {"lead": None, "scope": "text", "package": ()},
        {"scope": "sentence", "lead": "medium"},
    ],
    ids=["no-story", "sentence-and-lead"],
)
def test_shipped_rules_story_variants_identical(
    shipped: RuleSet, items: list[Item], change: dict[str, object]
) -> None:
    assert assert_identical(_story(shipped, **change), items) > 50


@pytest.mark.parametrize(("count", "topical"), [(10, True), (300, True), (300, False)])
def test_generated_rules_identical(items: list[Item], count: int, topical: bool) -> None:
    bench = _bench()
    ruleset = load_ruleset(
        {"thesis.yaml": bench.THESIS, **bench.rules_files(count, topical=topical)}
    )
    subjects = bench.seeded(items[::3], ruleset, share=0.5)
    assert assert_identical(ruleset, subjects) > 20


def _words(ruleset: RuleSet) -> list[str]:
    """Words of the shipped phrases, for text the rules have something to say about."""
    found: set[str] = set()

    def walk(node: Term | Expr) -> None:
        if isinstance(node, Term):
            for phrase in node.phrases[:4]:
                found.update(phrase.split())
            return
        for part in (*node.all, *node.any, *node.none):
            walk(part)

    for rule in ruleset.rules:
        walk(rule.match)
        for guard in (*rule.veto, *rule.hedge):
            walk(guard.expr)
    return sorted(found)


_PUNCT = [".", ". The", "U.S.", "’s", ",", "—", "!", "? A", "No. 5", "Mr. Xi", '" ', "İ", "ﬁ"]


@pytest.fixture(scope="module")
def pairs(shipped: RuleSet) -> list[tuple[Engine, Reference]]:
    rulesets = (shipped, _story(shipped, scope="sentence", lead="low"))
    return [(compile_ruleset(r), Reference(r)) for r in rulesets]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_text_identical(
    shipped: RuleSet, pairs: list[tuple[Engine, Reference]], data: st.DataObject
) -> None:
    words = st.sampled_from(_words(shipped) + _PUNCT)
    cased = st.tuples(words, st.booleans()).map(lambda t: t[0].capitalize() if t[1] else t[0])
    title = " ".join(data.draw(st.lists(cased, min_size=1, max_size=14)))
    summary = " ".join(data.draw(st.lists(cased, max_size=40)))
    tier = data.draw(st.sampled_from(TIERS))
    subject = Item("k", title, summary, "Wire", tier, "https://example.com", NOW)
    for new, old in pairs:
        assert new.evaluate(subject) == old.evaluate(subject)
