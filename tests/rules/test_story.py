"""Reading the story, not only the headline: the lead pass, sentence scope, a later sentence
that reverses an earlier one, and package deals that signal every leg they move."""

from __future__ import annotations

from rules import Engine, Item, Signal
from tests.rules.conftest import MakeEngine, item

LIFTED = """\
  - id: h20-lifted
    leg: h20-ban
    effect: breaks
    severity: critical
    direction: easing
    match: {in: title, all: [[lift~, end~], [ban~, curbs]], within: 3}
    veto: [{any: [denies, deny, "not"], near: 3}]
    hedge: [{in: title, any: [may, could, reportedly]}]
"""
ORDERS = """\
  - id: h20-orders
    leg: h20-ban
    effect: breaks
    severity: high
    match: {in: title, all: [H20, [order~, orders, ordered]]}
    veto: [{any: [denies, deny], near: 4}]
    hedge: [{in: title, any: [may]}]
"""
HALTED = """\
  - id: h20-halted
    leg: h20-ban
    effect: confirms
    severity: medium
    direction: tightening
    match: {in: title, all: [H20, [halt~, block~]]}
    veto: [{any: [lift~, end~], near: 3}]
"""
NAIVE = """\
  - id: h20-curbs-named
    leg: h20-ban
    effect: confirms
    match: {in: title, all: [H20, curbs]}
"""
SWAP = """\
  - id: swap
    leg: rare-earth-leverage
    effect: reverses
    severity: high
    direction: easing
    match:
      in: title
      all: [suspend~, rare earth]
      any: [in exchange for, in return for]
    package:
      - leg: h20-ban
        effect: breaks
        when: {all: [[ease~, easing, lift~], [H20, chip curbs]], within: 3}
"""


def rules(*bodies: str) -> str:
    return "rules:\n" + "".join(bodies)


def fired(engine: Engine, it: Item) -> list[tuple[str, str, str, bool]]:
    return [(s.rule_id, s.leg, s.severity, s.hedged) for s in engine.evaluate(it)]


def only(engine: Engine, it: Item) -> Signal:
    (signal,) = engine.evaluate(it)
    return signal


EDITORIAL = "What Beijing's new stance means for Nvidia"


def test_the_lead_carries_the_news_when_the_headline_is_editorial(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(rules(LIFTED + "    lead: true\n"))
    story = item(EDITORIAL, "China lifted its ban on H20 purchases on Tuesday. Orders follow.")
    signal = only(engine, story)
    assert (signal.rule_id, signal.severity, signal.hedged) == ("h20-lifted", "high", False)
    assert [(s.field, s.text) for s in signal.spans] == [("summary", "lifted"), ("summary", "ban")]
    # Without `lead` the rule reads the headline only, as before.
    assert make_engine(rules(LIFTED)).evaluate(story) == ()


def test_the_lead_severity_can_be_set(make_engine: MakeEngine) -> None:
    engine = make_engine(rules(LIFTED + "    lead: medium\n"))
    assert fired(engine, item(EDITORIAL, "China lifted its ban on H20.")) == [
        ("h20-lifted", "h20-ban", "medium", False)
    ]


def test_only_the_lead_is_read_not_later_sentences(make_engine: MakeEngine) -> None:
    engine = make_engine(rules(LIFTED + "    lead: true\n"))
    assert fired(engine, item(EDITORIAL, "Analysts are split. China lifted its ban on H20.")) == []


def test_vetoes_and_hedges_apply_to_the_lead(make_engine: MakeEngine) -> None:
    engine = make_engine(rules(LIFTED + "    lead: true\n"))
    assert fired(engine, item(EDITORIAL, "China has not lifted its ban on H20 chips.")) == []
    # The title's hedge reads the lead in the lead pass: two steps below critical.
    assert fired(engine, item(EDITORIAL, "China may lift its ban on H20 chips soon.")) == [
        ("h20-lifted", "h20-ban", "medium", True)
    ]


def test_a_headline_that_already_says_it_wins(make_engine: MakeEngine) -> None:
    engine = make_engine(rules(LIFTED + "    lead: true\n", ORDERS + "    lead: true\n"))
    story = item("China lifts H20 ban", "Tencent ordered H20 chips on Tuesday.")
    # The title's break stands at full severity; the lead's break on the same leg adds nothing.
    assert fired(engine, story) == [("h20-lifted", "h20-ban", "critical", False)]


def test_a_rumour_in_the_headline_does_not_stand_for_a_fact_in_the_lead(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(rules(LIFTED + "    lead: true\n", ORDERS + "    lead: true\n"))
    story = item("China may lift H20 ban", "Tencent ordered H20 chips on Tuesday.")
    assert fired(engine, story) == [
        ("h20-lifted", "h20-ban", "high", True),
        ("h20-orders", "h20-ban", "medium", False),
    ]
    # A hedged lead adds nothing to a hedged headline.
    story = item("China may lift H20 ban", "Tencent may have ordered H20 chips.")
    assert fired(engine, story) == [("h20-lifted", "h20-ban", "high", True)]


def test_a_headline_that_denies_is_not_overruled_by_its_lead(make_engine: MakeEngine) -> None:
    engine = make_engine(rules(LIFTED + "    lead: true\n", ORDERS + "    lead: true\n"))
    story = item(
        "China denies it will lift H20 ban", "Tencent has ordered H20 chips, a report said."
    )
    # h20-lifted matched the headline and was vetoed: no rule of that leg and side reads the
    # lead in its place.
    assert fired(engine, story) == []
    trace = {t.rule_id: t for t in engine.trace(story, ["h20-lifted", "h20-orders"])}
    assert trace["h20-lifted"].outcome == "vetoed"
    assert trace["h20-orders"].outcome == "dropped"
    assert trace["h20-orders"].detail == "the headline vetoed a breaks reading of h20-ban"


def test_a_later_sentence_that_reverses_an_earlier_one_wins(make_engine: MakeEngine) -> None:
    engine = make_engine(rules(LIFTED + "    lead: true\n", HALTED))
    backward = "US halted H20 sales to China in April"
    story = item(backward, "Washington lifted the ban on Monday, clearing the sales.")
    assert fired(engine, story) == [("h20-lifted", "h20-ban", "high", False)]
    (trace,) = engine.trace(story, ["h20-halted"])
    assert (trace.outcome, trace.detail) == ("dropped", "h20-lifted reverses it in the lead")
    # A hedged lead does not reverse anything: both readings stand.
    rumour = item(backward, "Washington may lift the ban soon.")
    assert fired(engine, rumour) == [
        ("h20-halted", "h20-ban", "medium", False),
        ("h20-lifted", "h20-ban", "medium", True),
    ]
    # A later sentence than the lead is background, never a reversal.
    background = item(backward, "Sales had stalled. Washington lifted the ban in 2024.")
    assert fired(engine, background) == [("h20-halted", "h20-ban", "medium", False)]


SENTENCE_RULE = """\
  - id: re-tightened
    leg: rare-earth-leverage
    effect: confirms
    match: {all: [rare earth, [controls, curbs]], any: [tighten~, expand~, new]}
    veto: [{any: [suspend~, lift~]}]
"""


def test_sentence_scope_keeps_vetoes_in_their_sentence(make_engine: MakeEngine) -> None:
    story = item(
        "China expands rare earth controls",
        "Earlier curbs on rare earth magnets were suspended in May.",
    )
    # Read as one text, the background "suspended" vetoes the news in the headline.
    assert fired(make_engine(rules(SENTENCE_RULE)), story) == []
    engine = make_engine(rules(SENTENCE_RULE + "    scope: sentence\n"))
    assert fired(engine, story) == [("re-tightened", "rare-earth-leverage", "medium", False)]


def test_sentence_scope_needs_the_whole_match_in_one_sentence(make_engine: MakeEngine) -> None:
    story = item("Rare earth stocks jump", "China expands its export regime. Controls cover more.")
    assert fired(make_engine(rules(SENTENCE_RULE)), story) != []
    engine = make_engine(rules(SENTENCE_RULE + "    scope: sentence\n"))
    assert fired(engine, story) == []
    # Any sentence will do, the summary's too.
    later = item("Markets wrap", "Stocks rose. China expands rare earth controls to magnets.")
    assert fired(engine, later) == [("re-tightened", "rare-earth-leverage", "medium", False)]


def test_sentence_scope_prefers_an_unhedged_sentence(make_engine: MakeEngine) -> None:
    body = SENTENCE_RULE + "    scope: sentence\n    hedge: [{any: [may]}]\n"
    engine = make_engine(rules(body))
    story = item(
        "China may expand rare earth controls",
        "Officials said new rare earth controls take effect Monday.",
    )
    assert fired(engine, story) == [("re-tightened", "rare-earth-leverage", "medium", False)]


def test_a_package_deal_signals_every_leg_it_moves_with_its_tickers(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(rules(SWAP))
    deal = item("China suspends rare earth curbs in exchange for US easing H20 curbs")
    signals = {s.rule_id: s for s in engine.evaluate(deal)}
    assert sorted(signals) == ["swap", "swap.h20-ban"]
    assert (signals["swap"].leg, signals["swap"].effect) == ("rare-earth-leverage", "reverses")
    assert signals["swap"].ticker_map() == {"MP": "bearish"}
    part = signals["swap.h20-ban"]
    assert (part.leg, part.effect, part.severity, part.direction) == (
        "h20-ban",
        "breaks",
        "high",
        "easing",
    )
    assert part.ticker_map() == {"NVDA": "bullish", "AMD": "bullish"}
    assert [s.text for s in part.spans] == [
        "suspends",
        "rare earth",
        "in exchange for",
        "easing",
        "H20",
    ]
    # A deal whose other side is not a leg moves one leg only.
    other = item("China suspends rare earth curbs in exchange for soybean purchases")
    assert [s.rule_id for s in engine.evaluate(other)] == ["swap"]


def test_a_package_deal_overrules_single_leg_misreadings(make_engine: MakeEngine) -> None:
    deal = item("China suspends rare earth curbs in exchange for US easing H20 curbs")
    # Read alone, a naive rule sees "H20 curbs" and confirms the leg the deal eases.
    assert [s.rule_id for s in make_engine(rules(NAIVE)).evaluate(deal)] == ["h20-curbs-named"]
    engine = make_engine(rules(SWAP, NAIVE))
    assert [s.rule_id for s in engine.evaluate(deal)] == ["swap", "swap.h20-ban"]
    (trace,) = engine.trace(deal, ["h20-curbs-named"])
    assert trace.outcome == "dropped"
    assert trace.detail == "package deal swap.h20-ban reads its sentence as a whole"


def test_a_package_deal_in_the_lead(make_engine: MakeEngine) -> None:
    engine = make_engine(rules(SWAP + "    lead: true\n"))
    story = item(
        "The chips-for-minerals bargain, explained",
        "China suspends rare earth curbs in exchange for US easing H20 curbs. More to come.",
    )
    assert fired(engine, story) == [
        ("swap", "rare-earth-leverage", "medium", False),
        ("swap.h20-ban", "h20-ban", "medium", False),
    ]


DEAL = """\
  - id: deal
    leg: rare-earth-leverage
    effect: breaks
    severity: critical
    match: {in: title, all: [deal, China]}
    package:
      - leg: h20-ban
        when:
          any:
            - H20
            - {in: lead, all: [H20, [lift~, ease~]], within: 6, none: [stays, nothing]}
"""


def test_a_package_term_named_only_in_the_lead_moves_its_leg(make_engine: MakeEngine) -> None:
    """The headline names the deal, the lead its terms (the White House fact sheet's form):
    the term's leg moves, beside what the lead's own rules read, never instead of it."""
    engine = make_engine(rules(DEAL, LIFTED + "    lead: true\n"))
    story = item("Trump strikes deal with China", "China will lift its ban on H20 purchases.")
    assert sorted(fired(engine, story)) == [
        ("deal", "rare-earth-leverage", "critical", False),
        ("deal.h20-ban", "h20-ban", "critical", False),
        ("h20-lifted", "h20-ban", "high", False),
    ]
    # A later sentence is background, and a lead that keeps the ban moves nothing.
    later = item("Trump strikes deal with China", "Talks went well. China will lift its H20 ban.")
    kept = item("Trump strikes deal with China", "The H20 ban stays; nothing was lifted.")
    for story in (later, kept):
        assert [s.rule_id for s in engine.evaluate(story)] == ["deal"], story.summary


def test_examples_can_name_the_legs_a_package_moves(make_engine: MakeEngine) -> None:
    from rules import run_examples

    good = SWAP + (
        "    examples:\n"
        "      match:\n"
        "        - title: China suspends rare earth curbs in exchange for US easing H20 curbs\n"
        "          legs: [rare-earth-leverage, h20-ban]\n"
        "        - title: China suspends rare earth curbs in exchange for soybean deal\n"
        "          legs: [rare-earth-leverage, h20-ban]\n"
        "      no_match: [China keeps rare earth curbs]\n"
    )
    failures = [str(f) for f in run_examples(make_engine(rules(good)))]
    assert len(failures) == 1
    assert failures[0].endswith(
        "rule swap: moved rare-earth-leverage, not h20-ban, rare-earth-leverage: "
        "'China suspends rare earth curbs in exchange for soybean deal'"
    )


def test_rules_without_story_keys_read_as_before(make_engine: MakeEngine) -> None:
    """The story resolution only touches rule sets that use it."""
    plain = make_engine(rules(LIFTED, HALTED))
    story = item("US halted H20 sales to China in April", "Washington lifted the ban on Monday.")
    assert fired(plain, story) == [("h20-halted", "h20-ban", "medium", False)]


def test_a_headline_veto_reads_the_real_headline_in_the_lead_pass(
    make_engine: MakeEngine,
) -> None:
    """``in: title`` is the lead when the lead is read as the headline; ``in: headline`` stays
    the headline, so a headline about talks keeps the lead's lifting as background."""
    talks = "Nvidia CEO talks with officials on China strategy"
    lead = "The US lifted the H20 ban in July."
    by_title = make_engine(rules(LIFTED + "    lead: true\n"))
    assert [s[0] for s in fired(by_title, item(talks, lead))] == ["h20-lifted"]
    guarded = LIFTED.replace(
        "    veto: [", "    veto: [{in: headline, any: [talks], none: [lift~]}, "
    )
    by_headline = make_engine(rules(guarded + "    lead: true\n"))
    assert fired(by_headline, item(talks, lead)) == []
    # As written, the headline is the title: a headline that says it itself still fires.
    said = "US lifts H20 ban after talks"
    assert [s[0] for s in fired(by_headline, item(said, ""))] == ["h20-lifted"]
    assert [s[0] for s in fired(by_headline, item(EDITORIAL, lead))] == ["h20-lifted"]
