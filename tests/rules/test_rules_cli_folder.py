"""`thesiswatch rules ...`: one way to name the folder, `rules vocab`, cross-leg examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rules.test_rules_cli import GOOD_RULES, THESIS, run

OTHER_LEG = """\
  - id: re-eased
    leg: rare-earth-leverage
    effect: breaks
    match: {all: [$easing, [rare earth~]]}
    examples:
      match: [China eases rare earth curbs]
"""
VOCAB = "vocabularies:\n  easing: [lift~, ease~, suspend~]\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "thesis.yaml").write_text(THESIS)
    (tmp_path / "vocab.yaml").write_text(VOCAB)
    # The lift rule's example "China lifts ban on rare earth exports" fires re-eased too.
    rules = GOOD_RULES.replace(
        "match: [China lifts ban]",
        "match: [China lifts ban, China lifts ban on rare earth exports]",
    )
    (tmp_path / "rules.yaml").write_text(rules + OTHER_LEG)
    return tmp_path


@pytest.mark.parametrize("sub", ["check", "test", "vocab easing"])
def test_every_subcommand_takes_the_folder_as_rules(
    sub: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", *sub.split(), "--rules", str(folder)]) == 0
    assert "re-eased" in capsys.readouterr().out or sub == "check"


def test_classify_and_eval_take_the_same_flag(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "1", "title": "China eases rare earth curbs"}) + "\n")
    assert run(["rules", "classify", str(items), "--rules", str(folder)]) == 0
    assert '"rule": "re-eased"' in capsys.readouterr().out


def test_dir_and_rules_must_agree(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rules", "check", str(folder), "--rules", str(folder)]) == 0
    assert run(["rules", "check", str(folder), "--rules", "/elsewhere"]) == 2
    assert "disagree" in capsys.readouterr().err


def test_vocab_shows_what_it_matches_and_who_uses_it(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", "vocab", "$easing", "--rules", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"$easing ({folder / 'vocab.yaml'}:2): ")
    assert "  lifted" in out
    assert "  suspending" in out
    assert out[-1] == "used by 1 rule(s): re-eased"
    assert run(["rules", "vocab", "easeing", "--rules", str(folder)]) == 1
    assert capsys.readouterr().err == (
        "thesiswatch rules: no vocabulary 'easeing'; did you mean 'easing'?\n"
    )


def test_rules_test_lists_other_legs_rules_firing_on_an_example(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", "test", "--rules", str(folder)]) == 0  # not a failure
    out = capsys.readouterr().out
    assert "1 example(s) also fire rules of other legs:" in out
    assert (
        "lift example 'China lifts ban on rare earth exports' also fires "
        "re-eased (rare-earth-leverage breaks)"
    ) in out
