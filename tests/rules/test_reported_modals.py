"""Words that doubt a headline but report in a lead: the ``reported-modals`` vocabulary hedges
no rule read in the lead pass ("officials said China is expected to postpone its controls")."""

from __future__ import annotations

from rules import Engine
from tests.helpers.refrules import Engine as Reference
from tests.rules.conftest import MakeEngine, build, item

RULES = """\
vocabularies:
  rumour: [may, expected to]
  reported-modals: [expected to]
rules:
  - id: postponed
    leg: rare-earth-leverage
    effect: breaks
    severity: high
    lead: true
    match: {in: title, all: [postpone~, rare earth controls]}
    hedge: [{in: title, any: [$rumour]}]
"""
# The same rules without the vocabulary: every $rumour word hedges, in the lead too.
WITHOUT = RULES.replace("  reported-modals: [expected to]\n", "")

EDITORIAL = "Rare earth shares slide: what is going on?"
LEAD = "Officials said China is expected to postpone its rare earth controls for a year."


def hedged(engine: Engine, title: str, summary: str = "") -> list[bool]:
    return [s.hedged for s in engine.evaluate(item(title, summary))]


def test_a_reported_modal_in_the_lead_does_not_hedge_the_lead_reading(
    make_engine: MakeEngine,
) -> None:
    assert hedged(make_engine(RULES), EDITORIAL, LEAD) == [False]
    assert hedged(make_engine(WITHOUT), EDITORIAL, LEAD) == [True]


def test_it_still_hedges_a_headline_and_other_doubt_still_hedges_a_lead(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(RULES)
    assert hedged(engine, "China expected to postpone rare earth controls") == [True]
    may = LEAD.replace("is expected to", "may")
    assert hedged(engine, EDITORIAL, may) == [True]


def test_the_trace_agrees(make_engine: MakeEngine) -> None:
    (trace,) = make_engine(RULES).trace(item(EDITORIAL, LEAD), ["postponed"])
    assert (trace.outcome, trace.read) == ("fired", "the lead")
    (trace,) = make_engine(WITHOUT).trace(item(EDITORIAL, LEAD), ["postponed"])
    assert trace.outcome == "hedged"
    assert "expected to" in trace.detail


def test_the_reference_engine_reads_it_the_same() -> None:
    for rules in (RULES, WITHOUT):
        ruleset = build(rules)
        reference = Reference(ruleset)
        assert [s.hedged for s in reference.evaluate(item(EDITORIAL, LEAD))] == [
            s.hedged for s in Engine(ruleset).evaluate(item(EDITORIAL, LEAD))
        ]
