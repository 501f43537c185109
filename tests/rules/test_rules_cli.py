"""`thesiswatch rules check|test|classify|eval` through the real argument parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli.rules import register

THESIS = (Path(__file__).parent / "data" / "thesis.yaml").read_text(encoding="utf-8")

GOOD_RULES = """\
rules:
  - id: lift
    leg: h20-ban
    effect: breaks
    match: {all: [lift~, ban~], within: 3}
    examples:
      match: [China lifts ban]
      no_match: [China keeps ban]
"""


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="thesiswatch")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "thesis.yaml").write_text(THESIS)
    (tmp_path / "rules.yaml").write_text(GOOD_RULES)
    return tmp_path


def test_check_default_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rules", "check"]) == 0
    assert capsys.readouterr().out.startswith("ok: 4 legs, ")


def test_check_lists_every_problem(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "rules.yaml").write_text(GOOD_RULES.replace("h20-ban", "nope") + "    x: 1\n")
    assert run(["rules", "check", str(folder)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{folder / 'rules.yaml'}:3:10: unknown leg 'nope' (legs: h20-ban, rare-earth-leverage)",
        f"{folder / 'rules.yaml'}:9:5: unknown key 'x' in rule",
    ]


def test_check_rejects_an_empty_file_naming_it(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "h20.yaml").write_text("")
    assert run(["rules", "check", str(folder)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{folder / 'h20.yaml'}:1:1: rules file is empty; delete the file to drop it"
    ]


def test_check_rejects_a_binary_file_naming_it(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "copy.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert run(["rules", "check", str(folder)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{folder / 'copy.yaml'}:1:1: not UTF-8 text (byte 0x89): is this a rules file?"
    ]


def test_check_counts_rules_per_leg_and_warns_of_a_leg_without_any(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["rules", "check", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "rules per leg: h20-ban 1, rare-earth-leverage 0" in captured.out.splitlines()
    assert captured.err.splitlines() == [
        "warning: leg 'rare-earth-leverage' has no rules (mark it allow_no_rules: true if meant)"
    ]


def test_check_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    assert run(["rules", "check", str(tmp_path / "absent")]) == 2


def test_test_shows_each_failure(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rules", "test", str(folder)]) == 0
    assert "2 examples in 1 rules, 0 failed" in capsys.readouterr().out
    (folder / "rules.yaml").write_text(GOOD_RULES.replace("China keeps ban", "China lifted bans"))
    assert run(["rules", "test", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "rule lift: should not match: 'China lifted bans'" in out
    assert "1 failed" in out


def test_classify_prints_one_json_line_per_item(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tmp_path / "items.jsonl"
    lines = [
        {"id": "a", "title": "China lifts ban", "source": "Wire", "tier": "wire"},
        {"id": "b", "title": "Nothing to see"},
    ]
    items.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n{bad\n")
    assert run(["rules", "classify", str(items), "--rules", str(folder)]) == 1
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert out == [
        {
            "id": "a",
            "signals": [
                {
                    "rule": "lift",
                    "leg": "h20-ban",
                    "effect": "breaks",
                    "direction": "none",
                    "severity": "medium",
                    "tickers": {"NVDA": "bullish", "AMD": "bullish"},
                    "hedged": False,
                }
            ],
        },
        {"id": "b", "signals": []},
    ]
    assert f"{items}:4: not JSON" in captured.err


def test_eval_reports_the_figures(dev_events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rules", "eval", str(dev_events)]) == 0
    out = capsys.readouterr().out
    assert "breaks/reverses: precision" in out
    assert "leg accuracy" in out
    assert "ticker recall" in out
    assert "distractors/near-misses firing a break: 0" in out


def test_rules_check_defaults_to_the_configured_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    folder = tmp_path / "desk-rules"
    folder.mkdir()
    (folder / "thesis.yaml").write_text("thesis: {name: t, legs: {}}\nbogus: 1\n")
    monkeypatch.setenv("THESISWATCH_RULES_DIR", str(folder))
    assert main(["rules", "check"]) == 1
    assert f"{folder / 'thesis.yaml'}:2:1:" in capsys.readouterr().out
