"""Loading the story-reading keys (`lead`, `scope`, `package`, example `legs`): what they
mean in the model, every mistake reported with its place, and the version they leave alone."""

from __future__ import annotations

import pytest

from rules import YamlError
from rules.model import TickerImpact
from tests.rules.conftest import MakeRules, build

RULE = """\
rules:
  - id: r1
    leg: rare-earth-leverage
    effect: reverses
    severity: high
    direction: easing
    match: {in: title, all: [suspend~, rare earth]}
"""


def problems(rules_yaml: str) -> list[str]:
    with pytest.raises(YamlError) as caught:
        build(rules_yaml)
    return [str(p) for p in caught.value.problems]


def test_story_keys_in_the_model(make_rules: MakeRules) -> None:
    text = RULE + (
        "    lead: true\n"
        "    scope: sentence\n"
        "    package:\n"
        "      - leg: h20-ban\n"
        "        when: {any: [H20]}\n"
        "      - leg: h20-ban\n"
        "        when: {any: [H20]}\n"
    )
    assert problems(text) == ["rules.yaml:13:14: package names leg 'h20-ban' twice"]
    (rule,) = make_rules(text.rsplit("      - leg: h20-ban\n", 1)[0]).rules
    assert (rule.lead, rule.scope) == ("medium", "sentence")
    (part,) = rule.package
    # A part inherits its rule's effect, direction and severity, and its own leg's tickers;
    # its `when` reads where the rule's match reads.
    assert (part.id, part.leg, part.effect, part.direction, part.severity) == (
        "r1.h20-ban",
        "h20-ban",
        "reverses",
        "easing",
        "high",
    )
    assert part.tickers == (TickerImpact("NVDA", "bullish"), TickerImpact("AMD", "bullish"))
    assert part.when.field == "title"


def test_a_part_can_say_its_own_effect_and_tickers(make_rules: MakeRules) -> None:
    text = RULE + (
        "    package:\n"
        "      - leg: h20-ban\n"
        "        effect: confirms\n"
        "        severity: low\n"
        "        when: {in: any, any: [H20]}\n"
    )
    (part,) = make_rules(text).rules[0].package
    assert (part.effect, part.severity, part.when.field) == ("confirms", "low", "any")
    assert part.tickers == (TickerImpact("NVDA", "bearish"), TickerImpact("AMD", "bearish"))
    text = text.replace("        severity: low\n", "        tickers: {NVDA: bullish}\n")
    (part,) = make_rules(text).rules[0].package
    assert part.tickers == (TickerImpact("NVDA", "bullish"),)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    lead: critical\n",
            "rules.yaml:8:11: lead severity critical is above the rule's high",
        ),
        (
            "    lead: sometimes\n",
            "rules.yaml:8:11: lead must be true, false or a severity "
            "(info, low, medium, high, critical); got 'sometimes'",
        ),
        (
            "    scope: paragraph\n",
            "rules.yaml:8:12: scope must be one of text, sentence (got 'paragraph')",
        ),
        (
            "    package:\n      - leg: nope\n        when: {any: [H20]}\n",
            "rules.yaml:9:14: unknown leg 'nope' (legs: h20-ban, rare-earth-leverage)",
        ),
        (
            "    package:\n      - leg: rare-earth-leverage\n        when: {any: [H20]}\n",
            "rules.yaml:9:14: package names leg 'rare-earth-leverage' twice",
        ),
        (
            "    package:\n      - leg: h20-ban\n",
            "rules.yaml:9:9: package entry is missing required key 'when'",
        ),
        (
            "    package:\n      - leg: h20-ban\n        when: {any: [H20]}\n        weight: 2\n",
            "rules.yaml:11:9: unknown key 'weight' in package entry",
        ),
        (
            "    package:\n      - leg: h20-ban\n        when: {none: [H20]}\n",
            "rules.yaml:10:15: package 'when' needs 'all', 'any' or 'regex' "
            "(something that must occur)",
        ),
        (
            "    package:\n      - leg: h20-ban\n        when: {any: [H20]}\n"
            "        tickers: {ZZZ: bullish}\n",
            "rules.yaml:11:19: unknown ticker 'ZZZ' (not named by any thesis leg)",
        ),
        (
            "    examples:\n      match:\n        - {title: China suspends rare, legs: [x]}\n",
            "rules.yaml:10:47: example legs: unknown leg 'x'",
        ),
    ],
)
def test_story_key_mistakes_are_reported_with_their_place(extra: str, expected: str) -> None:
    assert problems(RULE + extra) == [expected]


def test_a_package_signal_id_may_not_be_a_rule_id() -> None:
    text = RULE + (
        "    package:\n"
        "      - leg: h20-ban\n"
        "        when: {any: [H20]}\n"
        "  - id: r1.h20-ban\n"
        "    leg: h20-ban\n"
        "    effect: breaks\n"
        "    match: {any: [H20]}\n"
    )
    assert problems(text) == ["rules.yaml:2:5: package signal id 'r1.h20-ban' is also a rule id"]


def test_story_keys_change_the_version_only_when_used(make_rules: MakeRules) -> None:
    plain = make_rules(RULE).version
    assert make_rules(RULE + "    scope: text\n    lead: false\n").version == plain
    versions = {
        make_rules(RULE + extra).version
        for extra in (
            "    lead: true\n",
            "    lead: low\n",
            "    scope: sentence\n",
            "    package:\n      - leg: h20-ban\n        when: {any: [H20]}\n",
            "    package:\n      - leg: h20-ban\n        when: {any: [H200]}\n",
        )
    }
    assert plain not in versions
    assert len(versions) == 5
