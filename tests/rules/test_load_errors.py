"""Every class of load error, each reported with its exact place; all of a load, not the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import RuleSet, YamlError, load_ruleset

THESIS = (Path(__file__).parent / "data" / "thesis.yaml").read_text(encoding="utf-8")


def build(rules_yaml: str, **more: str) -> RuleSet:
    return load_ruleset({"thesis.yaml": THESIS, "rules.yaml": rules_yaml, **more})


RULE = """\
rules:
  - id: r1
    leg: h20-ban
    effect: breaks
    match: {all: [lift, ban]}
"""


def problems(rules_yaml: str, **more: str) -> list[str]:
    with pytest.raises(YamlError) as caught:
        build(rules_yaml, **more)
    return [str(p) for p in caught.value.problems]


def test_a_valid_rule_set_loads() -> None:
    ruleset = build(RULE)
    assert [r.id for r in ruleset.rules] == ["r1"]
    assert [leg.id for leg in ruleset.thesis.legs] == ["h20-ban", "rare-earth-leverage"]


def test_yaml_syntax_error_has_line_and_column() -> None:
    assert problems("rules:\n  - id: r1\n    leg: [h20-ban\n") == [
        "rules.yaml:4:1: expected ',' or ']', but got '<stream end>'"
    ]


def test_duplicate_key() -> None:
    text = RULE + "    leg: rare-earth-leverage\n"
    assert problems(text) == ["rules.yaml:6:5: duplicate key 'leg' (first at line 3)"]


def test_unknown_key_in_rule() -> None:
    assert problems(RULE + "    severty: high\n") == [
        "rules.yaml:6:5: unknown key 'severty' in rule; did you mean 'severity'?"
    ]


def test_unknown_key_in_match() -> None:
    text = RULE.replace("{all: [lift, ban]}", "{all: [lift, ban], near: 3}")
    assert problems(text) == ["rules.yaml:5:31: unknown key 'near' in rule 'r1' match"]


def test_missing_required_key() -> None:
    text = "rules:\n  - id: r1\n    leg: h20-ban\n    effect: breaks\n"
    assert problems(text) == ["rules.yaml:2:5: rule is missing required key 'match'"]


def test_unknown_leg() -> None:
    found = problems(RULE.replace("leg: h20-ban", "leg: h2O-ban"))
    assert found == [
        "rules.yaml:3:10: unknown leg 'h2O-ban' (legs: h20-ban, rare-earth-leverage); "
        "did you mean 'h20-ban'?"
    ]


def test_unknown_vocabulary() -> None:
    text = RULE.replace("[lift, ban]", "[lift, $bans]")
    assert problems(text) == ["rules.yaml:5:25: unknown vocabulary '$bans'"]


def test_unknown_vocabulary_inside_a_vocabulary() -> None:
    vocab = "vocabularies:\n  ease: [lift~, $relax]\n"
    assert problems(RULE, **{"vocab.yaml": vocab}) == [
        "vocab.yaml:2:17: unknown vocabulary '$relax'"
    ]


def test_vocabulary_that_includes_itself() -> None:
    vocab = "vocabularies:\n  a: [x, $b]\n  b: [y, $a]\n"
    assert problems(RULE, **{"vocab.yaml": vocab}) == [
        "vocab.yaml:3:10: vocabulary 'b' includes itself via '$a'"
    ]


def test_unknown_ticker() -> None:
    text = RULE + "    tickers: {NVDA: bullish, TSLA: bearish}\n"
    assert problems(text) == [
        "rules.yaml:6:30: unknown ticker 'TSLA' (not named by any thesis leg)"
    ]


def test_bad_ticker_move() -> None:
    text = RULE + "    tickers: {NVDA: up}\n"
    assert problems(text) == ["rules.yaml:6:21: ticker NVDA: move must be bullish or bearish"]


def test_bad_enum_values() -> None:
    text = RULE.replace("effect: breaks", "effect: broke") + "    severity: huge\n"
    assert problems(text) == [
        "rules.yaml:4:13: effect must be one of confirms, breaks, reverses (got 'broke')",
        "rules.yaml:6:15: severity must be one of info, low, medium, high, critical (got 'huge')",
    ]


def test_invalid_regex() -> None:
    text = RULE.replace("{all: [lift, ban]}", "{regex: 'lift (ban'}")
    assert problems(text) == [
        "rules.yaml:5:20: invalid regex: missing ), unterminated subpattern at position 5"
    ]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(ban+)+ lifted", "nested quantifiers"),
        ("(ban|bans)+ lifted", "repeated alternation"),
        ("lift.*.*ban", "two unbounded repeats"),
        ("(lift) \\1", "backreferences"),
    ],
)
def test_regex_that_can_backtrack_catastrophically(pattern: str, why: str) -> None:
    text = RULE.replace("{all: [lift, ban]}", f"{{regex: '{pattern}'}}")
    [found] = problems(text)
    assert found.startswith("rules.yaml:5:20: ")
    assert why in found


def test_regex_without_a_literal_to_prefilter_on() -> None:
    text = RULE.replace("{all: [lift, ban]}", "{regex: '\\w+ \\d+'}")
    [found] = problems(text)
    assert found.startswith("rules.yaml:5:20: regex must contain a plain piece of text")


def test_match_with_only_none_is_refused() -> None:
    text = RULE.replace("{all: [lift, ban]}", "{none: [ban]}")
    assert problems(text) == [
        "rules.yaml:5:12: rule 'r1' match needs 'all', 'any' or 'regex' (something that must occur)"
    ]


def test_within_needs_all_with_two_parts() -> None:
    text = RULE.replace("{all: [lift, ban]}", "{any: [lift, ban], within: 3}")
    assert problems(text) == ["rules.yaml:5:39: 'within' applies to 'all', which is missing"]


def test_term_without_words() -> None:
    text = RULE.replace("[lift, ban]", "[lift, '--']")
    assert problems(text) == ["rules.yaml:5:25: term '--' has no words"]


def test_bad_always_hedged_flag() -> None:
    assert problems(RULE + "    hedged: maybe\n") == [
        "rules.yaml:6:13: hedged must be true or false"
    ]


def test_bad_duration() -> None:
    assert problems(RULE + "    cooldown: soon\n") == [
        "rules.yaml:6:15: cooldown must be a duration like 90m, 6h or 2d"
    ]


def test_duplicate_rule_id_across_files() -> None:
    assert problems(RULE, **{"more.yaml": RULE}) == [
        "rules.yaml:2:9: rule id 'r1' already used at more.yaml:2"
    ]


def test_thesis_defined_twice() -> None:
    # Files are read in name order, so the second definition is the one in thesis.yaml.
    assert problems(RULE + THESIS) == ["thesis.yaml:2:1: thesis already defined at rules.yaml:7"]


def test_no_thesis_at_all() -> None:
    with pytest.raises(YamlError) as caught:
        load_ruleset({"rules.yaml": RULE})
    assert [str(p) for p in caught.value.problems] == ["rules.yaml:1:1: no file defines the thesis"]


def test_unknown_top_level_key_and_non_mapping_file() -> None:
    found = problems(RULE + "rulez: []\n", **{"list.yaml": "- a\n- b\n"})
    assert found == [
        "list.yaml:1:1: a rules file must be a mapping (thesis:, rules:, ...)",
        "rules.yaml:6:1: unknown key 'rulez' in rules file; did you mean 'rules'?",
    ]


def test_confirmation_policy_is_validated() -> None:
    policy = (
        "confirmation:\n  official: -1\n  half_life: 2 days\n"
        "  tier_weights: {gossip: 1}\n  quorum: 3\n"
    )
    assert problems(RULE, **{"policy.yaml": policy}) == [
        "policy.yaml:2:13: official must be a whole number from 0 to 100",
        "policy.yaml:3:14: half_life must be a duration like 90m, 6h or 2d",
        "policy.yaml:4:18: tier must be one of official, wire, press, blog",
        "policy.yaml:5:3: unknown key 'quorum' in confirmation",
    ]


def test_confirmation_policy_values_are_kept() -> None:
    policy = "confirmation:\n  official: 2\n  publishers: 3\n  half_life: 12h\n"
    ruleset = build(RULE, **{"policy.yaml": policy})
    assert (ruleset.confirmation.official, ruleset.confirmation.publishers) == (2, 3)
    assert ruleset.confirmation.half_life.total_seconds() == 12 * 3600


def test_every_problem_of_a_load_is_reported_in_file_order() -> None:
    text = """\
rules:
  - id: r1
    leg: nowhere
    effect: breaks
    match: {all: [$nothing]}
  - id: r2
    leg: h20-ban
    effect: breaks
    match: {regex: '(a+)+ban'}
    colour: red
"""
    found = problems(text, **{"bad.yaml": "rules: [\n"})
    assert [f.split(": ")[0] for f in found] == [
        "bad.yaml:2:1",
        "rules.yaml:3:10",
        "rules.yaml:5:19",
        "rules.yaml:9:20",
        "rules.yaml:10:5",
    ]


def test_error_text_is_one_problem_per_line() -> None:
    text = RULE.replace("leg: h20-ban", "leg: nope") + "    extra: 1\n"
    with pytest.raises(YamlError) as caught:
        build(text)
    assert str(caught.value).splitlines() == [
        "rules.yaml:3:10: unknown leg 'nope' (legs: h20-ban, rare-earth-leverage)",
        "rules.yaml:6:5: unknown key 'extra' in rule",
    ]


def test_version_ignores_layout_but_not_meaning() -> None:
    same = (
        "# a comment\nrules:\n\n"
        "  - {id: r1, leg: h20-ban, effect: breaks, match: {all: [lift, ban]}}\n"
    )
    assert build(RULE).version == build(same).version
    assert build(RULE).version != build(RULE.replace("lift", "ease")).version


# -- files an editor or a stray copy leaves behind --------------------------------------------


@pytest.mark.parametrize("text", ["", "  \n\n", "\t\n \n"])
def test_an_empty_file_is_an_error_naming_it(text: str) -> None:
    assert problems(RULE, **{"h20.yaml": text}) == [
        "h20.yaml:1:1: rules file is empty; delete the file to drop it"
    ]


def test_a_file_of_comments_only_is_an_error_naming_it() -> None:
    # The header survives when a save is caught after it; the rules below it do not.
    text = "# Leg h20-ban: China keeps blocking the H20.\n#\n"
    assert problems(RULE, **{"h20.yaml": text}) == [
        "h20.yaml:1:1: rules file has only comments; delete the file to drop it"
    ]


def test_an_emptied_thesis_file_says_so_and_nothing_misleading() -> None:
    with pytest.raises(YamlError) as caught:
        load_ruleset({"thesis.yaml": "", "rules.yaml": RULE})
    assert [str(p) for p in caught.value.problems] == [
        "thesis.yaml:1:1: rules file is empty; delete the file to drop it"
    ]


def test_a_control_character_is_placed_exactly() -> None:
    assert problems(RULE.replace("id: r1", "id: r\x001")) == [
        "rules.yaml:2:10: character #x0000 is not allowed in YAML (is this a rules file?)"
    ]


@pytest.mark.parametrize("depth", [150, 20_000])
def test_nesting_past_the_limit_is_an_error_not_a_crash(depth: int) -> None:
    # 150 levels compose but would overflow a deep caller's stack; 20,000 overflow PyYAML's.
    text = "rules: " + "[" * depth + "]" * depth + "\n"
    assert problems(text) == ["rules.yaml:1:107: nested more than 100 levels deep"]


def test_garbage_text_names_its_file() -> None:
    assert problems(RULE, **{"notes.yaml": "just some words here\n"}) == [
        "notes.yaml:1:1: a rules file must be a mapping (thesis:, rules:, ...)"
    ]


def test_allow_no_rules_must_be_a_boolean() -> None:
    leg = "      tickers: {MP: bearish}\n"
    thesis = THESIS.replace(leg, leg + "      allow_no_rules: maybe\n")
    assert thesis != THESIS
    with pytest.raises(YamlError) as caught:
        load_ruleset({"thesis.yaml": thesis, "rules.yaml": RULE})
    assert [str(p) for p in caught.value.problems] == [
        "thesis.yaml:11:23: allow_no_rules must be true or false"
    ]
