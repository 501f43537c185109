"""A hedge qualifies its own clause of the headline: across a semicolon it speaks of another
act ("Nvidia says H20 China sales approved; Samsung HBM supply expected to resume")."""

from __future__ import annotations

import pytest

from rules import Engine
from tests.rules.conftest import MakeEngine, item

PLAIN = """\
rules:
  - id: approved
    leg: h20-ban
    effect: breaks
    severity: high
    match: {in: title, all: [approved, H20]}
    hedge: [{in: title, any: [expected to, may]}]
"""
# The same rule reading the story (a lead pass), which takes the engine's other path.
STORY = PLAIN + "    lead: true\n"


def hedged(engine: Engine, title: str, summary: str = "") -> list[bool]:
    return [s.hedged for s in engine.evaluate(item(title, summary))]


@pytest.mark.parametrize("rules", [PLAIN, STORY], ids=["plain", "story"])
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # The hedge in the other clause: the approval stands.
        ("Nvidia says H20 China sales approved; Samsung HBM supply expected to resume", [False]),
        ("Samsung HBM supply expected to resume; Nvidia says H20 China sales approved", [False]),
        # In the match's own clause, or with no semicolon at all: hedged, as before.
        ("H20 sales expected to be approved; Samsung shares rise", [True]),
        ("H20 sales approved, Samsung HBM supply expected to resume", [True]),
        # A match spanning the semicolon is qualified by a hedge in either of its clauses.
        ("H20 sales may resume; the US approved them on Friday", [True]),
    ],
)
def test_a_title_hedge_qualifies_its_own_clause(
    make_engine: MakeEngine, rules: str, title: str, expected: list[bool]
) -> None:
    assert hedged(make_engine(rules), title) == expected


def test_a_summary_hedge_still_covers_the_whole_lead(make_engine: MakeEngine) -> None:
    # Only the headline is split: a lead's clauses often share a subject.
    engine = make_engine(STORY)
    title = "What the chip news means"
    lead = "Officials may soon decide; H20 sales approved, a source said."
    assert hedged(engine, title, lead) == [True]


def test_the_trace_names_only_a_hedge_that_held(make_engine: MakeEngine) -> None:
    engine = make_engine(PLAIN)
    fired = item("Nvidia says H20 China sales approved; Samsung HBM supply expected to resume")
    doubted = item("H20 sales expected to be approved; Samsung shares rise")
    assert [t.outcome for t in engine.trace(fired, ["approved"])] == ["fired"]
    (trace,) = engine.trace(doubted, ["approved"])
    assert (trace.outcome, "expected to" in trace.detail) == ("hedged", True)
