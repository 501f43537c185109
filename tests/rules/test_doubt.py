"""The second stage (rules/doubt.py): training, review, loading from a rules folder."""

from __future__ import annotations

import json

import pytest

from rules import YamlError, compile_ruleset, load_ruleset
from rules.doubt import Doubt, DoubtError, doubt_from_mapping, features, train_doubt
from tests.rules.conftest import THESIS, item

RULES = """\
rules:
  - id: lift
    leg: h20-ban
    effect: breaks
    match: {all: [lift~, ban~], within: 3}
  - id: keep
    leg: h20-ban
    effect: confirms
    match: {all: [keep~, ban~], within: 3}
"""

# Breaks and their look-alikes: the same event words, told as a denial or a rumour.
EXAMPLES = [
    ("China lifts ban on Nvidia chips", "Beijing lifted the ban on Monday.", True),
    ("Beijing lifts ban on H20 purchases", "The ban was lifted.", True),
    ("China lifts its ban on chip imports", "", True),
    ("China denies it will lift ban on Nvidia chips", "A spokesman denied the report.", False),
    ("China denies report it lifts ban", "Officials denied it.", False),
    ("China denies plan to lift chip ban", "", False),
]


def model(threshold: float = 0.5) -> Doubt:
    return train_doubt(EXAMPLES, threshold=threshold, steps=200)


def test_features_are_title_words_pairs_and_the_lead_only() -> None:
    got = features("China lifts ban", "First sentence here. Second one ignored.")
    assert {"t:china", "t:lifts", "t:china_lifts", "t:lifts_ban", "s:first", "s:here"} <= got
    assert "s:second" not in got
    assert "s:ignored" not in got


def test_training_is_deterministic() -> None:
    assert model().to_mapping() == model().to_mapping()


def test_a_denial_is_doubted_and_a_plain_break_is_not() -> None:
    doubt = model()
    assert doubt.doubts(item("China denies it lifts ban on H20"))
    assert not doubt.doubts(item("China lifts ban on H20 chips"))
    assert "denies" in doubt.reasons(item("China denies it lifts ban on H20"))


def test_a_bare_headline_is_not_doubted_for_lacking_a_summary() -> None:
    # Trained with and without summaries: no lead words must not read as a near-miss.
    doubt = model()
    assert doubt.score(item("Beijing lifts ban on Nvidia H20")) > 0.5


def test_review_hedges_only_unhedged_breaks() -> None:
    engine = compile_ruleset(load_ruleset({"thesis.yaml": THESIS, "rules.yaml": RULES}))
    doubt = model()
    news = item("China denies it will lift ban, will keep ban on chips")
    signals = engine.evaluate(news)
    assert {s.rule_id: s.hedged for s in signals} == {"lift": False, "keep": False}
    reviewed = {s.rule_id: s.hedged for s in doubt.review(news, signals)}
    assert reviewed == {"lift": True, "keep": False}
    plain = item("China lifts ban on chips")
    assert doubt.review(plain, engine.evaluate(plain)) == engine.evaluate(plain)


def _folder(doubt: Doubt | str) -> dict[str, str]:
    text = doubt if isinstance(doubt, str) else json.dumps(doubt.to_mapping())
    return {"thesis.yaml": THESIS, "rules.yaml": RULES, "doubt.json": text}


def test_a_folder_with_doubt_json_hedges_what_the_model_doubts() -> None:
    ruleset = load_ruleset(_folder(model()))
    assert ruleset.doubt is not None
    engine = compile_ruleset(ruleset)
    denial = item("China denies it will lift ban on chips")
    assert [s.hedged for s in engine.evaluate(denial)] == [True]
    assert [s.hedged for s in engine.evaluate_rules(denial)] == [False]


def test_the_model_enters_the_version_and_its_absence_keeps_it() -> None:
    bare = load_ruleset({"thesis.yaml": THESIS, "rules.yaml": RULES})
    one, other = load_ruleset(_folder(model(0.5))), load_ruleset(_folder(model(0.3)))
    assert bare.doubt is None
    assert len({bare.version, one.version, other.version}) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "doubt.json:1:2: not JSON"),
        ("[1, 2]", "doubt.json:1:1: a doubt model is a mapping"),
        ('{"threshold": 0.2, "bias": 0}', "needs numeric threshold and bias and weights"),
        ('{"threshold": 2, "bias": 0, "weights": {}}', "threshold must be between 0 and 1"),
        ('{"threshold": 0.2, "bias": 0, "weights": {"t:a": "x"}}', "weights must map"),
    ],
)
def test_a_broken_model_file_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(YamlError) as exc:
        load_ruleset(_folder(text))
    assert message in str(exc.value)


def test_from_mapping_round_trips() -> None:
    doubt = model()
    again = doubt_from_mapping(json.loads(json.dumps(doubt.to_mapping())))
    assert again.to_mapping() == doubt.to_mapping()
    with pytest.raises(DoubtError):
        doubt_from_mapping({"threshold": True, "bias": 0, "weights": {"a": True}})
