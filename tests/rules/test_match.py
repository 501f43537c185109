"""Match expressions: words, phrases, inflections, windows, fields, regex, tiers, tickers, spans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from rules import Engine, Item, Tier

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MakeEngine = Callable[..., Engine]


def item(title: str, summary: str = "", *, tier: Tier = "wire") -> Item:
    return Item("k1", title, summary, "Example Wire", tier, "https://example.com/a", NOW)


def rule(match: str, extra: str = "", *, rid: str = "r1", effect: str = "breaks") -> str:
    return f"""\
  - id: {rid}
    leg: h20-ban
    effect: {effect}
    severity: high
    match: {match}
{extra}"""


def fires(engine: Engine, title: str, summary: str = "", tier: Tier = "wire") -> list[str]:
    return [s.rule_id for s in engine.evaluate(item(title, summary, tier=tier))]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("China LIFTS the Ban", ["r1"]),
        ("China lifts the ban.", ["r1"]),
        ("lift-ban talk", ["r1"]),
        ("Banking lift", []),  # "ban" is a word, not a prefix
        ("Bans lifted", []),  # no ~: no inflections
    ],
)
def test_words_are_whole_and_case_blind(
    make_engine: MakeEngine, title: str, expected: list[str]
) -> None:
    engine = make_engine("rules:\n" + rule("{all: [lift~, ban]}"))
    assert fires(engine, title) == expected


def test_tilde_adds_regular_inflections(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [lift~, ban~]}"))
    for title in ["Ban lifted", "lifting bans", "US lifts the banned chip", "banning lift"]:
        assert fires(engine, title) == ["r1"], title
    assert fires(engine, "Lifeguard bank") == []


def test_phrases_punctuation_quotes_acronyms_and_possessives(make_engine: MakeEngine) -> None:
    vocab = "vocabularies:\n  us: [US]\n  re: [rare earth, H20 chip]\n"
    engine = make_engine("rules:\n" + rule("{all: [$us, $re, don't]}"), **{"v.yaml": vocab})
    assert fires(engine, "U.S. says it don’t want rare‑earth talks") == ["r1"]
    assert fires(engine, "U.S.-China: we don't touch the “H20 chip's” sales") == ["r1"]
    assert fires(engine, "US rare earths") == []  # "rare earths" is another word, no ~


def test_digit_words_do_not_match_longer_ones(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [H20]}"))
    assert fires(engine, "Nvidia H200 approved") == []
    assert fires(engine, "Nvidia H20 approved") == ["r1"]


def test_any_all_none(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [china], any: [lift~, ease~], none: [beef]}"))
    assert fires(engine, "China eases") == ["r1"]
    assert fires(engine, "China lifts") == ["r1"]
    assert fires(engine, "China waits") == []
    assert fires(engine, "China lifts ban on beef") == []


def test_nested_list_means_any_of(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [china, [lift~, ease~]]}"))
    assert fires(engine, "China eases") == ["r1"]
    assert fires(engine, "China waits") == []


def test_within_counts_words_between_first_words(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [lift, ban], within: 3}"))
    assert fires(engine, "lift the ban") == ["r1"]
    assert fires(engine, "ban, then lift") == ["r1"]  # either order
    assert fires(engine, "lift one two three ban") == []
    assert fires(engine, "lift one two ban") == ["r1"]


def test_within_never_joins_title_and_summary(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [lift, ban], within: 5}"))
    assert fires(engine, "They lift", "ban stays") == []
    assert fires(engine, "x", "They lift the ban") == ["r1"]


def test_in_title_or_summary(make_engine: MakeEngine) -> None:
    rules = (
        "rules:\n" + rule("{in: title, all: [lift]}") + rule("{in: summary, all: [lift]}", rid="r2")
    )
    engine = make_engine(rules)
    assert fires(engine, "lift", "nothing") == ["r1"]
    assert fires(engine, "nothing", "lift") == ["r2"]


def test_inner_expression_narrows_field(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [china, {in: title, all: [lift]}]}"))
    assert fires(engine, "lift", "China") == ["r1"]
    assert fires(engine, "China", "lift") == []


def test_regex_escape_hatch_runs_on_normalised_text(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{regex: 'h2\\d{2} exports? (to|into) china'}"))
    assert fires(engine, "Nvidia's H200 Exports to China approved") == ["r1"]
    assert fires(engine, "H20 exports to China") == []
    assert fires(engine, "H200 sales in China") == []


def test_regex_combined_with_terms(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [nvidia], regex: 'b\\d+a chip'}"))
    assert fires(engine, "Nvidia B30A chip for China") == ["r1"]
    assert fires(engine, "AMD B30A chip") == []


def test_source_tier_condition(make_engine: MakeEngine) -> None:
    engine = make_engine("rules:\n" + rule("{all: [lift]}", "    tiers: [official, wire]\n"))
    assert fires(engine, "lift", tier="official") == ["r1"]
    assert fires(engine, "lift", tier="blog") == []


def test_tickers_follow_the_leg_unless_the_rule_says(make_engine: MakeEngine) -> None:
    rules = (
        "rules:\n"
        + rule("{all: [lift]}", rid="breaks")
        + rule("{all: [lift]}", rid="confirms", effect="confirms")
        + rule("{all: [lift]}", "    tickers: {AMD: bearish}\n", rid="own")
    )
    signals = {s.rule_id: s.ticker_map() for s in make_engine(rules).evaluate(item("lift"))}
    assert signals == {
        "breaks": {"NVDA": "bullish", "AMD": "bullish"},
        "confirms": {"NVDA": "bearish", "AMD": "bearish"},
        "own": {"AMD": "bearish"},
    }


def test_signal_carries_provenance_and_spans_into_the_original_text(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("rules:\n" + rule("{all: [lift~, H20 chip~]}", "    direction: easing\n"))
    title = "Beijing “quietly” LIFTS curbs on the H20-chips, sources say"
    [signal] = engine.evaluate(item(title, "Later: it lifted more."))
    assert (signal.leg, signal.effect, signal.direction, signal.severity) == (
        "h20-ban",
        "breaks",
        "easing",
        "high",
    )
    assert signal.ruleset_version == engine.ruleset.version
    assert (signal.item_key, signal.tier, signal.hedged) == ("k1", "wire", False)
    texts = [(s.field, s.text) for s in signal.spans]
    assert texts == [("title", "LIFTS"), ("title", "H20-chips"), ("summary", "lifted")]
    for span in signal.spans:
        source = title if span.field == "title" else "Later: it lifted more."
        assert source[span.start : span.end] == span.text


def test_same_item_twice_gives_the_same_signals(make_engine: MakeEngine) -> None:
    rules = "rules:\n" + rule("{all: [lift]}", rid="b") + rule("{all: [ban]}", rid="a")
    engine = make_engine(rules)
    first = engine.evaluate(item("lift the ban"))
    assert first == engine.evaluate(item("lift the ban"))
    assert [s.rule_id for s in first] == ["a", "b"]


def test_only_rules_whose_words_occur_fire_among_many(make_engine: MakeEngine) -> None:
    rules = "rules:\n" + "".join(
        rule(f"{{all: [word{n}, [alpha, beta]]}}", rid=f"r{n:04d}") for n in range(400)
    )
    engine = make_engine(rules)
    assert fires(engine, "word123 alpha and word7 beta, word399") == ["r0007", "r0123", "r0399"]
    assert fires(engine, "word123 gamma") == []
