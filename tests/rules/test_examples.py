"""Each rule's examples run as tests: misses, unwanted matches and hedging are reported."""

from __future__ import annotations

from pathlib import Path

from rules import RuleSet, compile_ruleset, load_ruleset, run_examples

THESIS = (Path(__file__).parent / "data" / "thesis.yaml").read_text(encoding="utf-8")


def build(rules_yaml: str, **more: str) -> RuleSet:
    return load_ruleset({"thesis.yaml": THESIS, "rules.yaml": rules_yaml, **more})


RULES = """\
rules:
  - id: lift
    leg: h20-ban
    effect: breaks
    match: {all: [lift~, ban~], within: 3}
    hedge:
      - {any: [may]}
    examples:
      match:
        - China lifts ban
        - China eases ban
        - {title: China may lift ban, hedged: true}
        - {title: China may lift ban}
        - {title: Nothing here, summary: "but the summary lifts the ban", tier: blog}
      no_match:
        - China keeps ban
        - China lifts its beef ban
"""


def test_failures_name_rule_place_and_problem() -> None:
    failures = run_examples(compile_ruleset(build(RULES)))
    assert [str(f) for f in failures] == [
        "rules.yaml:11: rule lift: should match but did not: 'China eases ban'",
        "rules.yaml:13: rule lift: matched but was hedged "
        "(add 'hedged: true' if that is intended): 'China may lift ban'",
        "rules.yaml:17: rule lift: should not match: 'China lifts its beef ban'",
    ]
    assert [f.expected for f in failures] == ["match", "match", "no_match"]


def test_passing_examples_report_nothing() -> None:
    rules = (
        RULES.replace("        - China eases ban\n", "")
        .replace("        - {title: China may lift ban}\n", "")
        .replace("        - China lifts its beef ban\n", "")
    )
    assert run_examples(compile_ruleset(build(rules))) == ()


def test_example_tier_defaults_to_the_rule_s_first_tier() -> None:
    rules = RULES.split("    examples:")[0] + (
        "    tiers: [official]\n    examples:\n      match: [China lifts ban]\n"
    )
    assert run_examples(compile_ruleset(build(rules))) == ()
