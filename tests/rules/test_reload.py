"""A reload with a broken file keeps the last good rules; a good one swaps them."""

from __future__ import annotations

from pathlib import Path

from rules.reload import reload_rules

THESIS = (Path(__file__).parent / "data" / "thesis.yaml").read_text(encoding="utf-8")
RULES = """\
rules:
  - id: lift
    leg: h20-ban
    effect: breaks
    match: {all: [lift~, ban~]}
"""


def test_first_load_then_broken_edit_then_fix() -> None:
    first = reload_rules(None, {"thesis.yaml": THESIS, "rules.yaml": RULES})
    assert first.changed
    assert first.engine is not None
    broken = reload_rules(
        first.engine, {"thesis.yaml": THESIS, "rules.yaml": RULES + "  - id: [\n"}
    )
    assert broken.engine is first.engine
    assert not broken.changed
    assert [str(p).split(": ")[0] for p in broken.problems] == ["rules.yaml:7:1"]
    same = reload_rules(first.engine, {"thesis.yaml": THESIS, "rules.yaml": "# edited\n" + RULES})
    assert same.engine is first.engine
    assert not same.changed
    fixed = reload_rules(
        first.engine, {"thesis.yaml": THESIS, "rules.yaml": RULES.replace("lift~", "ease~")}
    )
    assert fixed.changed
    assert fixed.engine is not first.engine
    assert fixed.engine is not None
    assert fixed.engine.ruleset.version != first.engine.ruleset.version


def test_broken_first_load_has_no_engine() -> None:
    result = reload_rules(None, {"thesis.yaml": THESIS, "rules.yaml": "rules: {}\n"})
    assert result.engine is None
    assert result.problems


def test_a_reload_that_empties_a_leg_is_refused_naming_the_file() -> None:
    first = reload_rules(None, {"thesis.yaml": THESIS, "h20.yaml": RULES})
    assert first.engine is not None
    # Valid on its own (a file of vocabularies only), but the leg would lose its last rule.
    emptied = reload_rules(
        first.engine, {"thesis.yaml": THESIS, "h20.yaml": "vocabularies:\n  x: [y]\n"}
    )
    assert emptied.engine is first.engine
    assert not emptied.changed
    assert [str(p) for p in emptied.problems] == [
        "h20.yaml:1:1: leg 'h20-ban' would be left with no rules (it had 1, this file held "
        "them); if that is meant, set allow_no_rules: true on the leg in the thesis"
    ]


def test_a_leg_marked_allow_no_rules_may_lose_its_rules() -> None:
    first = reload_rules(None, {"thesis.yaml": THESIS, "h20.yaml": RULES})
    assert first.engine is not None
    marked = THESIS.replace(
        "      claim: China blocks the H20.\n",
        "      claim: China blocks the H20.\n      allow_no_rules: true\n",
    )
    assert marked != THESIS
    result = reload_rules(
        first.engine, {"thesis.yaml": marked, "h20.yaml": "vocabularies:\n  x: [y]\n"}
    )
    assert result.problems == ()
    assert result.changed
    assert result.engine is not None
    assert result.engine.ruleset.rules == ()


def test_an_emptied_file_is_refused_by_reload() -> None:
    first = reload_rules(None, {"thesis.yaml": THESIS, "h20.yaml": RULES})
    emptied = reload_rules(first.engine, {"thesis.yaml": THESIS, "h20.yaml": ""})
    assert emptied.engine is first.engine
    assert [str(p) for p in emptied.problems] == [
        "h20.yaml:1:1: rules file is empty; delete the file to drop it"
    ]
