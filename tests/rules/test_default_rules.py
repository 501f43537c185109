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
    # Issue 9's classes (own wording, not the corpus): deals and rollbacks in other words (F,
    # J), approvals and China's procedural steps (E), equipment demand phrased outside the
    # demand vocabulary (H), general pauses on US curbs (K), rare-earth licences and flows.
    ("US and China agree to slash reciprocal tariffs for 90 days", "no-trade-deal"),
    ("Washington and Beijing strike trade deal after two days of talks in Geneva", "no-trade-deal"),
    ("Trump says tariffs on Chinese goods will fall to 47% after Xi meeting", "no-trade-deal"),
    ("China to suspend 24% retaliatory tariff on US goods for a year", "no-trade-deal"),
    ("US halves fentanyl-related tariff on Chinese imports to 10%", "no-trade-deal"),
    ("Trump and Xi agree one-year trade truce in Busan", "no-trade-deal"),
    ("China removes US firms from export control list under trade deal", "no-trade-deal"),
    ("White House fact sheet details US-China trade agreement", "no-trade-deal"),
    ("China lifts ban on US chip giant Micron", "no-trade-deal"),
    ("USTR suspends port fees on Chinese ships for a year", "no-trade-deal"),
    ("Beijing drops anti-dumping probe into US analog chips", "no-trade-deal"),
    ("US and China sign deal to ease tariffs and export controls", "no-trade-deal"),
    ("China and the US reach consensus on tariffs, rare earths in Kuala Lumpur", "no-trade-deal"),
    ("US cuts tariffs on China after trade talks", "no-trade-deal"),
    ("Nvidia gets US nod to sell H20 chips in China", "h20-ban"),
    ("Commerce Department begins granting H20 export licences to Nvidia", "h20-ban"),
    ("US government reverses H20 export ban", "h20-ban"),
    ("Nvidia to resume H20 sales to China after Washington assures licences", "h20-ban"),
    ("Trump lets Nvidia sell H200 chips to approved Chinese customers for a 25% cut", "h20-ban"),
    ("China approves first batch of H200 imports for ByteDance and Alibaba", "h20-ban"),
    ("Chinese tech giants place orders for more than 2 million H200 chips", "h20-ban"),
    ("Nvidia restarts H20 production as Chinese demand returns", "h20-ban"),
    ("AMD wins US licences to export MI308 chips to China", "h20-ban"),
    ("Nvidia says it has received US licences to ship H20 to China", "h20-ban"),
    ("China allows imports of Nvidia H200 chips for commercial use", "h20-ban"),
    ("Beijing lifts guidance against buying Nvidia H20", "h20-ban"),
    ("Nvidia agrees to share 15% of China chip revenue with US government", "h20-ban"),
    ("US clears export of Nvidia H20 chips to China", "h20-ban"),
    ("Customs in China start letting Nvidia H200 shipments through", "h20-ban"),
    ("Dutch government grants ASML licences to ship DUV machines to China", "wfe-controls"),
    ("US lifts restrictions on chip equipment sales to Chinese memory makers", "wfe-controls"),
    ("Lam Research forecasts quarterly revenue above estimates on AI demand", "wfe-controls"),
    ("Tokyo Electron raises full-year forecast as chip tool demand strengthens", "wfe-controls"),
    ("SEMI expects global chip equipment sales to hit a record in 2026", "wfe-controls"),
    ("ASML orders jump as AI chipmakers expand capacity", "wfe-controls"),
    ("US suspends rule extending export blacklist to subsidiaries for a year", "wfe-controls"),
    ("Trump administration shelves planned chip equipment curbs on China", "wfe-controls"),
    ("Samsung and SK Hynix get indefinite US waivers for their China fabs", "wfe-controls"),
    ("Applied Materials projects strong growth in 2026 equipment sales", "wfe-controls"),
    ("Analysts raise KLA price targets on robust wafer fab equipment spending", "wfe-controls"),
    ("TSMC raises 2026 capital spending plan to record $56 billion", "wfe-controls"),
    ("China grants general export licences to rare earth magnet makers", "rare-earth-leverage"),
    ("China's rare earth magnet exports rebound in July", "rare-earth-leverage"),
    ("China suspends October rare earth export controls for one year", "rare-earth-leverage"),
    ("Beijing approves rare earth export applications from European firms", "rare-earth-leverage"),
    ("MOFCOM announces suspension of rare earth export control measures", "rare-earth-leverage"),
    ("China to speed up rare earth licence approvals for US automakers", "rare-earth-leverage"),
    ("Rare earth magnet shipments to US soar after trade truce", "rare-earth-leverage"),
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
    # Issue 9's near-misses (own wording): approvals as background to a block (A), inside a
    # denial or only asked for (B), extensions, third countries, rivals' chips, status quo.
    "US and China extend tariff truce for another 90 days",
    "US and China to hold trade talks in Stockholm next week",
    "US, Japan reach trade deal with 15% tariff",
    "Xi and Trump hold phone call, agree to meet in Busan",
    "China exempts some US goods from 125% tariffs",
    "China agrees to buy more US soybeans after summit",
    "US and China agree on TikTok framework",
    "Trump threatens 100% tariffs on China over rare earth curbs",
    "US and China fail to agree on tariff cuts in London",
    "Trade truce between US and China holds despite tensions",
    "Beijing says no trade talks under way with Washington",
    "Analysts doubt US-China trade deal will last",
    "China urges tech firms to avoid Nvidia H20 despite US lifting ban",
    "Nvidia H20 sales stay at zero despite US licences",
    "US lawmakers urge Commerce not to approve Nvidia H20 licences",
    "Nvidia seeks licence to sell new China chip",
    "China denies approving Nvidia H200 purchases",
    "Beijing tells firms to halt H20 orders weeks after US approval",
    "US approves Nvidia AI chip exports to Saudi Arabia and UAE",
    "Nvidia unveils B30A chip designed for China",
    "China's customs blocks H200 imports after Washington approval",
    "Nvidia writes off H20 inventory as China sales dry up",
    "Huawei ramps up Ascend production as Nvidia sidelined",
    "Beijing dismisses US approval of Nvidia H200 exports",
    "China restricts H200 purchases to special cases despite US clearance",
    "Nvidia posts record revenue, excludes China from outlook",
    "ASML warns China sales will fall sharply in 2026",
    "US adds Chinese chipmakers to entity list",
    "Netherlands expands export controls on ASML immersion machines",
    "Japan eases chip material export rules for South Korea",
    "China's SMEE unveils new lithography machine",
    "Lam Research shares fall on weaker China outlook",
    "US lawmakers demand tougher curbs on chipmaking tools to China",
    "Nexperia China unit resumes chip exports after exemption",
    "ASML says export controls will stay in place",
    "Applied Materials cuts forecast as China curbs bite",
    "China tightens rare earth export controls",
    "China's rare earth exports plunge to five-year low",
    "MP Materials signs $500 million magnet deal with Apple",
    "Lynas opens heavy rare earth refinery in Malaysia",
    "Rare earth prices surge on Chinese curbs",
    "China says rare earth controls remain in force",
    "Carmakers warn of shutdowns as China's rare earth licences lag",
    "China denies plans to ease rare earth curbs",
    "Pentagon signs price-floor deal with MP Materials to cut reliance on China",
    "Myanmar rare earth mining disrupted by fighting",
    "India launches rare earth magnet incentive scheme",
    "US and Australia sign critical minerals deal worth $8.5 billion",
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


# A rumour, a deliberation or a condition (class C) may fire hedged, never as a break.
NOT_YET = [
    "Trump says trade deal with China is close",
    "US considers cutting tariffs on China to 50%",
    "Trump considering allowing Blackwell sales to China",
    "Trump says he may allow a scaled-down Blackwell for China",
    "Nvidia H20 licence approvals still pending at Commerce",
    "Nvidia shares rise after US signals it could allow H200 sales to China",
    "US considering easing chip tool curbs on China, sources say",
]


@pytest.mark.parametrize("title", NOT_YET)
def test_deliberations_and_conditions_never_break(default_engine: Engine, title: str) -> None:
    fired = [s.rule_id for s in default_engine.evaluate(item(title)) if s.effect != "confirms"]
    assert fired
    assert all(s.hedged for s in default_engine.evaluate(item(title)) if s.effect != "confirms")


# The story, not only the headline (classes F, G, A): an editorial or backward-looking title
# over a lead that carries the event; a lead whose approval is background breaks nothing.
STORIES = [
    (
        "The H20 saga: how Nvidia lost China",
        "Washington lifted its licence requirement for H20 exports to China on Monday.",
        "h20-ban",
    ),
    (
        "US halted H20 sales in April",
        "The Commerce Department has now granted Nvidia licences to resume H20 shipments to China.",
        "h20-ban",
    ),
    (
        "What was agreed in Geneva",
        "The US will cut tariffs on Chinese goods to 30% and China its levies to 10%.",
        "no-trade-deal",
    ),
    (
        "Rare earths: the leverage that moved Washington",
        "China suspended its October rare earth export controls for a year on Friday.",
        "rare-earth-leverage",
    ),
    (
        "What TSMC's guidance means for chip toolmakers",
        "TSMC raised its 2026 capital spending budget to a record, above expectations.",
        "wfe-controls",
    ),
    (
        "Why China's H20 ban is here to stay",
        "Beijing told firms to avoid the H20; Washington had lifted its own curbs in July.",
        None,
    ),
    (
        "China's H20 freeze explained",
        "Regulators told tech firms to stop buying the H20 weeks after Washington cleared it.",
        None,
    ),
    (
        "Nvidia's China problem, explained",
        "Nvidia's China revenue fell to zero; it may resume if licences are granted.",
        None,
    ),
    (
        "What the truce extension means",
        "The US and China extended their tariff truce by 90 days, keeping tariffs at 30% and 10%.",
        None,
    ),
    (
        "Trump-Xi call: what we know",
        "The leaders discussed trade and may meet in April; no agreement was announced.",
        None,
    ),
]


@pytest.mark.parametrize(("title", "summary", "leg"), STORIES)
def test_the_lead_carries_the_event_under_an_editorial_title(
    default_engine: Engine, title: str, summary: str, leg: str | None
) -> None:
    signals = default_engine.evaluate(item(title, summary))
    broken = {s.leg for s in signals if s.effect != "confirms" and not s.hedged}
    assert broken == ({leg} if leg else set())
