"""Vetoes and hedges: denials, "has not", "no plans", rumours, and "still banned"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from rules import Engine, Item, Tier

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MakeEngine = Callable[..., Engine]


def item(title: str, summary: str = "", *, tier: Tier = "wire") -> Item:
    return Item("k1", title, summary, "Example Wire", tier, "https://example.com/a", NOW)


RULES = """\
vocabularies:
  neg: [not, "no plans", den~, denies, "has not"]
  hedge: [may, could, considering, reportedly, rumour~]
  still: [still, remain~]
rules:
  - id: lift
    leg: h20-ban
    effect: breaks
    severity: critical
    match: {all: [lift~, ban~], within: 3}
    veto:
      - {any: [$neg, $still], near: 2}
    hedge:
      - {in: title, any: [$hedge]}
"""


@pytest.fixture
def engine(make_engine: MakeEngine) -> Engine:
    return make_engine(RULES)


def test_plain_event_fires_unhedged(engine: Engine) -> None:
    [signal] = engine.evaluate(item("China lifts ban on H20"))
    assert (signal.hedged, signal.severity) == (False, "critical")


@pytest.mark.parametrize(
    "title",
    [
        "China has not lifted the ban",
        "Ban not lifted",
        "China has no plans to lift ban",
        "Ban still lifted? No: ban remains",
    ],
)
def test_negation_near_the_event_vetoes(engine: Engine, title: str) -> None:
    assert engine.evaluate(item(title)) == ()


def test_negation_far_from_the_event_does_not_veto(engine: Engine) -> None:
    title = "China lifts ban on chips, a move analysts say is not a surprise"
    assert [s.rule_id for s in engine.evaluate(item(title))] == ["lift"]


def test_hedge_downgrades_and_marks(engine: Engine) -> None:
    [signal] = engine.evaluate(item("China could lift ban, sources say"))
    assert (signal.hedged, signal.severity) == (True, "high")
    assert "could" in [s.text for s in signal.spans]


def test_hedge_only_in_the_summary_does_not_count_for_a_title_hedge(engine: Engine) -> None:
    [signal] = engine.evaluate(item("China lifts ban", "Analysts say more may follow"))
    assert signal.hedged is False


def test_a_guard_cannot_reuse_the_words_the_rule_matched(make_engine: MakeEngine) -> None:
    rules = """\
rules:
  - id: halts
    leg: h20-ban
    effect: confirms
    match: {all: [china, halt~]}
    veto:
      - {any: [halt~, lift~], near: 3}
"""
    engine = make_engine(rules)
    assert [s.rule_id for s in engine.evaluate(item("China halts H20 sales"))] == ["halts"]
    assert engine.evaluate(item("China halts, then lifts H20 sales")) == ()


@pytest.mark.parametrize(
    "title",
    [
        "China denies it will lift ban on Nvidia H20 chips",
        "China has no plans to lift H20 ban, ministry says",
        "Nvidia H20 still banned in China despite trade truce",
        "China has not lifted its ban on Nvidia H20 chips",
        "H20 ban remains in place as Beijing rejects US request",
        "US won't approve Nvidia H20 sales to China",
        "US and China fail to reach a trade deal",
        "China will not suspend rare earth export controls",
        "US has no plans to ease chip equipment export controls",
        "US, China extend trade truce another 90 days",
    ],
)
def test_default_rules_do_not_break_on_denials_or_status_quo(
    default_engine: Engine, title: str
) -> None:
    signals = default_engine.evaluate(item(title))
    assert [s.rule_id for s in signals if s.effect != "confirms"] == []


@pytest.mark.parametrize(
    "title",
    [
        "China considering lifting ban on Nvidia H20 chips",
        "Beijing may ease curbs on Nvidia H20, people familiar say",
        "China reportedly weighs suspending rare earth export controls",
        "US could approve Nvidia H200 sales to China",
        "US and China could reach trade deal within weeks",
        "Rumour: Nvidia to restart H20 production",
    ],
)
def test_default_rules_hedge_rumours(default_engine: Engine, title: str) -> None:
    signals = [s for s in default_engine.evaluate(item(title)) if s.effect != "confirms"]
    assert signals, "the rumour should still be reported"
    assert all(s.hedged for s in signals)


def test_default_rules_still_banned_confirms(default_engine: Engine) -> None:
    effects = {
        s.effect
        for s in default_engine.evaluate(item("Nvidia H20 ban stays in place, Beijing says"))
    }
    assert effects == {"confirms"}


def test_a_rule_about_expectations_is_always_hedged(make_engine: MakeEngine) -> None:
    rules = """\
rules:
  - id: near
    leg: h20-ban
    effect: breaks
    severity: high
    hedged: true
    match: {all: [deal, close]}
"""
    [signal] = make_engine(rules).evaluate(item("Deal is close"))
    assert (signal.hedged, signal.severity) == (True, "medium")
