"""`thesiswatch rules test|check|classify|eval` over several theses."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from bot.cli.rules import register

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = str(ROOT / "rules" / "default")
COPPER = str(ROOT / "rules" / "examples" / "copper-new-oil")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="thesiswatch")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_rules_test_runs_each_thesis_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rules", "test", DEFAULT, COPPER]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("copper-new-oil: ")
    assert lines[-1].endswith(" 0 failed")
    assert lines[-2].startswith("chip-for-rare-earth: ")


def test_a_failing_example_in_the_second_thesis_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copper"
    copy.mkdir()
    for f in Path(COPPER).iterdir():
        text = f.read_text()
        (copy / f.name).write_text(
            text.replace(
                "China's copper imports jump to record",
                "China's copper imports slump to record low",
            )
        )
    assert run(["rules", "test", f"{DEFAULT}{os.pathsep}{copy}"]) == 1
    out = capsys.readouterr().out
    assert "china-demand.yaml" in out
    assert "should not match" in out
    assert "copper-new-oil: 21 examples in 7 rules, 1 failed" in out


def test_classify_names_the_thesis_of_each_signal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text(json.dumps({"id": "1", "title": "US and China reach trade deal, cut tariffs"}))
    assert run(["rules", "classify", str(lines), "--rules", f"{DEFAULT}{os.pathsep}{COPPER}"]) == 0
    signals = json.loads(capsys.readouterr().out)["signals"]
    assert {(s["thesis"], s["leg"], s["effect"]) for s in signals} >= {
        ("chip-for-rare-earth", "no-trade-deal", "breaks"),
        ("copper-new-oil", "china-demand", "confirms"),
    }


def test_eval_scores_each_thesis_on_its_own_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.jsonl"
    rows = [
        # No thesis: the default thesis's label.
        {
            "id": "a",
            "title": "China lifts ban on Nvidia H20 purchases",
            "leg": "h20-ban",
            "effect": "breaks",
        },
        {
            "id": "b",
            "title": "ICSG sees refined copper surplus widening next year",
            "thesis": "copper-new-oil",
            "leg": "supply-deficit",
            "effect": "breaks",
        },
        {
            "id": "c",
            "title": "Copper miners rally as prices hit record",
            "thesis": "copper-new-oil",
            "effect": "neutral",
        },
    ]
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    rules = f"{DEFAULT}{os.pathsep}{COPPER}"
    assert run(["rules", "eval", str(labels), "--rules", rules, "--json"]) == 0
    reports = {r["thesis"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(reports) == {"chip-for-rare-earth", "copper-new-oil"}
    assert run(["rules", "eval", str(labels), "--rules", rules, "--thesis", "copper-new-oil"]) == 0
    assert "== thesis" not in capsys.readouterr().out
    # A label for a leg of the other thesis is an error: legs are per thesis.
    rows[1]["leg"] = "h20-ban"
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert run(["rules", "eval", str(labels), "--rules", rules]) == 1
    assert f"{labels}:2: unknown leg 'h20-ban'" in capsys.readouterr().err
    rows[1]["thesis"] = "nope"
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert run(["rules", "eval", str(labels), "--rules", rules]) == 1
    assert "unknown thesis 'nope'" in capsys.readouterr().err
