"""`thesiswatch rules doubt` trains the second stage; `rules eval --no-doubt`, `rules test`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.pipeline.rulebook import read_rule_files
from tests.rules.conftest import rules_folder
from tests.rules.test_doubt import EXAMPLES, RULES
from tests.rules.test_rules_cli import run


def _line(title: str, summary: str, positive: bool) -> str:
    label = (
        {"leg": "h20-ban", "effect": "breaks", "direction": "easing"}
        if positive
        else {"leg": None, "effect": "neutral", "trap": "near-miss"}
    )
    return json.dumps({"id": title, "title": title, "summary": summary} | label)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return rules_folder(tmp_path, RULES)


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(_line(*e) for e in EXAMPLES) + "\n")
    return path


def test_doubt_writes_the_model_into_the_folder_and_the_folder_reads_it(
    folder: Path, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", "doubt", str(labelled), "--rules", str(folder)]) == 0
    written = json.loads((folder / "doubt.json").read_text())
    assert written["breaks"] == 3
    assert written["near_misses"] == 3
    assert written["threshold"] == 0.2
    assert written["weights"]
    assert "from 3 breaks and 3 near-misses" in capsys.readouterr().out
    assert str(folder / "doubt.json") in read_rule_files(folder)


def test_a_bad_line_writes_nothing(
    folder: Path, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled.write_text(labelled.read_text() + '{"title": "unlabelled"}\n')
    assert run(["rules", "doubt", str(labelled), "--rules", str(folder)]) == 1
    assert f"{labelled}:7:" in capsys.readouterr().err
    assert not (folder / "doubt.json").exists()


def test_breaks_alone_cannot_train_a_doubt(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only = tmp_path / "only.jsonl"
    only.write_text("\n".join(_line(*e) for e in EXAMPLES if e[2]) + "\n")
    assert run(["rules", "doubt", str(only), "--rules", str(folder)]) == 1
    assert "need both breaks and near-misses" in capsys.readouterr().err


def _eval_probe(folder: Path, tmp_path: Path, title: str, positive: bool, *flags: str) -> list[str]:
    """``rules eval`` on one labelled headline, with ``flags``; its argv, ready to run."""
    probe = tmp_path / "probe.jsonl"
    probe.write_text(_line(title, "", positive) + "\n")
    return ["rules", "eval", *flags, "--rules", str(folder), str(probe)]


def test_eval_scores_with_the_model_unless_told_not_to(
    folder: Path, labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", "doubt", str(labelled), "--rules", str(folder)]) == 0
    title = "China denies it lifts ban on Nvidia chips"
    capsys.readouterr()
    assert run(_eval_probe(folder, tmp_path, title, False, "--json")) == 0
    assert json.loads(capsys.readouterr().out)["traps_fired"] == 0
    assert run(_eval_probe(folder, tmp_path, title, False, "--json", "--no-doubt")) == 0
    assert json.loads(capsys.readouterr().out)["traps_fired"] == 1


def test_rules_test_lists_the_examples_the_model_would_hedge(
    folder: Path, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "rules.yaml").write_text(
        RULES.replace(
            "within: 3}\n  - id: keep",
            "within: 3}\n    examples:\n      match: [China denies it lifts ban]\n  - id: keep",
        )
    )
    assert run(["rules", "doubt", str(labelled), "--rules", str(folder)]) == 0
    capsys.readouterr()
    assert run(["rules", "test", str(folder)]) == 0  # a note, not a failure
    out = capsys.readouterr().out
    assert "1 example(s) the second stage (doubt.json) would hedge:" in out
    assert "lift: 'China denies it lifts ban'" in out


def test_eval_says_a_miss_was_hedged_by_the_second_stage_and_on_which_words(
    folder: Path, labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", "doubt", str(labelled), "--rules", str(folder)]) == 0
    capsys.readouterr()
    title = "China denies it lifts ban on Nvidia chips"
    assert run(_eval_probe(folder, tmp_path, title, True)) == 0
    out = capsys.readouterr().out
    assert "hedged by the second stage (doubt.json) on " in out
    assert "'denies'" in out.split("hedged by the second stage", 1)[1].splitlines()[0]
