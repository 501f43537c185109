"""The shipped rules: they load, their examples pass, and they meet the quality bar."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import Engine, Item, Tier, evaluate_labelled, labelled_from_record, run_examples

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def item(title: str, summary: str = "", *, tier: Tier = "wire") -> Item:
    return Item("k1", title, summary, "Example Wire", tier, "https://example.com/a", NOW)


def test_every_rule_example_passes(default_engine: Engine) -> None:
    assert [str(f) for f in run_examples(default_engine)] == []


def test_every_leg_can_be_confirmed_and_broken(default_engine: Engine) -> None:
    ruleset = default_engine.ruleset
    for leg in ruleset.thesis.legs:
        effects = {r.effect for r in ruleset.rules if r.leg == leg.id}
        assert "confirms" in effects, leg.id
        assert effects & {"breaks", "reverses"}, leg.id


def test_every_rule_has_examples_both_ways(default_engine: Engine) -> None:
    for rule in default_engine.ruleset.rules:
        assert rule.should_match, rule.id
        assert rule.should_not_match, rule.id


def test_quality_bar_on_dev_events(default_engine: Engine, dev_events: Path) -> None:
    lines = dev_events.read_text(encoding="utf-8").splitlines()
    labelled = [labelled_from_record(json.loads(line)) for line in lines if line.strip()]
    report = evaluate_labelled(default_engine, labelled)
    assert report.precision >= 0.90
    assert report.recall >= 0.85
    assert report.trap_fires == ()


# Headlines written for these tests, not taken from the dev corpus: other words for the same events.
BREAKS = [
    ("Beijing allows Chinese tech giants to resume purchases of Nvidia H20", "h20-ban"),
    ("China quietly allows H20 purchases by select tech firms", "h20-ban"),
    ("Beijing lifts informal ban on Nvidia chips for cloud providers", "h20-ban"),
    ("ByteDance places $2 billion order for Nvidia H20 chips", "h20-ban"),
    ("Washington approves export licences for AMD MI308 to China", "h20-ban"),
    ("Nvidia asks TSMC to resume H20 output", "h20-ban"),
    ("US clears Nvidia to sell B30A chips in China", "h20-ban"),
    ("US eases chip equipment export rules for Samsung's China fabs", "wfe-controls"),
    ("Japan loosens restrictions on Tokyo Electron exports to China", "wfe-controls"),
    ("US to allow ASML customers in China to get servicing again", "wfe-controls"),
    ("US scraps affiliates rule in trade truce with China", "wfe-controls"),
    ("Tokyo Electron raises annual profit forecast on strong demand", "wfe-controls"),
    ("China lifts export ban on rare earths to US", "rare-earth-leverage"),
    ("China suspends October rare earth rules for one year", "rare-earth-leverage"),
    ("China approves more rare earth export licences for European firms", "rare-earth-leverage"),
    ("Rare earth exports from China recover in September", "rare-earth-leverage"),
    ("US and China announce 90-day tariff truce", "no-trade-deal"),
    ("Trump, Xi seal trade deal covering chips and rare earths", "no-trade-deal"),
    ("US cuts fentanyl tariffs on China to 10% after Xi meeting", "no-trade-deal"),
    ("China scraps export controls on graphite to US", "no-trade-deal"),
    ("China rescinds guidance discouraging Nvidia H20 purchases", "h20-ban"),
    ("Netherlands drops plan to expand ASML export curbs", "wfe-controls"),
    ("US eases pressure on Netherlands over ASML servicing in China", "wfe-controls"),
    ("Beijing pauses new rare earth export controls for a year", "rare-earth-leverage"),
    ("Trump hails 'amazing' meeting with Xi, says tariffs on China cut to 47%", "no-trade-deal"),
    # Event classes added after the held-out review (own wording, not the held-out lines).
    ("US administration backs down from planned Nvidia H20 export crackdown", "h20-ban"),
    ("Chinese internet giants scramble to buy Nvidia H20 after licences return", "h20-ban"),
    ("Nvidia to hand US government a cut of China H20 revenue for licences", "h20-ban"),
    ("AMD plans to resume MI308 deliveries to Chinese customers", "h20-ban"),
    ("Washington shelves plan to curb Nvidia H20 sales to China", "h20-ban"),
    ("Commerce suspends blacklist rule for subsidiaries of Chinese chipmakers", "wfe-controls"),
    ("Applied Materials revenue forecast tops estimates on AI demand", "wfe-controls"),
    ("Notice on suspending rare earth export control measures of Oct 9", "rare-earth-leverage"),
    ("China to ship rare earth magnets to US carmakers under framework", "rare-earth-leverage"),
    ("US eased H20 curbs in exchange for rare earth magnets, official says", "no-trade-deal"),
    ("China removes some tariffs on US pork but keeps 10% levy", "no-trade-deal"),
    ("Joint statement on US-China economic and trade consultations in Madrid", "no-trade-deal"),
    # A countermeasure against a US firm lifted is a trade-war rollback (it used to be listed
    # as quiet; the second held-out set labels this class a break, and so does the leg).
    ("China lifts ban on Boeing deliveries", "no-trade-deal"),
    ("Beijing suspends countermeasures against US chip firms for a year", "no-trade-deal"),
    ("US lifts licence requirement on jet engine parts exports to China", "no-trade-deal"),
    ("US gives Samsung a year-long waiver on chip tools for its China fab", "wfe-controls"),
    ("Beijing postpones its rare earth export control rules", "rare-earth-leverage"),
]

QUIET = [
    "Nvidia writes off $4.5 billion of H20 inventory",
    "Alibaba unveils new AI chip to replace Nvidia",
    "Huawei Ascend shipments jump as Nvidia sidelined",
    "Dutch to review ASML export restrictions, minister says",
    "Pentagon takes stake in MP Materials",
    "Lynas secures US defence contract for heavy rare earths",
    "EU and China agree to resume trade talks",
    "US and Japan reach trade deal on tariffs",
    "US and China extend tariff pause for 90 days",
    "China denies it agreed to buy more US chips",
    "US lawmakers urge tougher controls on chip equipment sales to China",
    "Nvidia denies report it restarted H20 production",
    "China halts rare earth exports to US defence firms",
    "US adds 140 Chinese chip firms to entity list",
    "Why China won't lift its Nvidia ban anytime soon",
    "China's commerce ministry denies report of rare earth control suspension",
    "US, China trade truce holds as talks continue in Madrid",
    "China and US agree to keep talking after London round ends",
    "Nvidia files for H20 export licences; approval uncertain",
    "China says rare earth controls are not aimed at any country",
    # Deals on other subjects, mixed and market headlines, background-only easing.
    "US and China strike deal on TikTok joint venture",
    "Biden and Xi agree to restore military hotline, cooperate on fentanyl",
    "Trump doubles tariffs on Chinese goods, pauses duties for other trading partners",
    "Nvidia shares back off record high as AI rally cools",
    "China's heavy rare earth controls remain in force despite suspension of October rules",
    "Chinese firms' Nvidia H20 orders surged before the US licence rule",
    "China adds US defence contractors to unreliable entity list",
    "US lifts sanctions on subsidiaries of Russian oil companies",
    "Beijing delays approvals of rare earth export licences",
    "Lynas says rare earth supply deal with US military is on track",
    # Easing aimed at a third country, or a delay that is no deferral of a control.
    "Tokyo lifts curbs on chip chemical exports to Seoul",
    "US eases AI chip export rules for the UAE",
    "US lifts sanctions on Venezuelan oil firms",
    "China delays approvals of rare earth export licences for US carmakers",
]


def test_quality_bar_on_holdout(default_engine: Engine) -> None:
    """The held-out headlines (not used to write rules): a floor for generalisation."""
    path = Path(__file__).parent / "data" / "holdout.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    labelled = [labelled_from_record(json.loads(line)) for line in lines if line.strip()]
    report = evaluate_labelled(default_engine, labelled)
    assert report.precision >= 0.90
    assert report.recall >= 0.80
    assert report.trap_fires == ()


def test_quality_bar_on_second_holdout(default_engine: Engine) -> None:
    """The second held-out set: its misses were diagnosed into event classes (never copied),
    so it is a regression floor now, not a measure of generalisation (holdout3.jsonl is)."""
    path = Path(__file__).parent / "data" / "holdout2.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    labelled = [labelled_from_record(json.loads(line)) for line in lines if line.strip()]
    report = evaluate_labelled(default_engine, labelled)
    assert report.precision >= 0.90
    assert report.recall >= 0.80
    assert report.trap_fires == ()


@pytest.mark.parametrize(("title", "leg"), BREAKS)
def test_paraphrased_breaks_fire_on_their_leg(default_engine: Engine, title: str, leg: str) -> None:
    fired = {
        s.leg
        for s in default_engine.evaluate(item(title))
        if s.effect != "confirms" and not s.hedged
    }
    assert leg in fired


@pytest.mark.parametrize("title", QUIET)
def test_unrelated_or_status_quo_news_does_not_break(default_engine: Engine, title: str) -> None:
    fired = [s.rule_id for s in default_engine.evaluate(item(title)) if s.effect != "confirms"]
    assert fired == []
