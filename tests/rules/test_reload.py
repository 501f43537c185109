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
