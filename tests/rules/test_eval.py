"""`rules eval`: several files, per-leg and per-rule figures, leg confusion, diagnosed misses,
JSON output, and unlabelled input refused. Rules and labelled items written inline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli.rules import register
from rules import Engine, evaluate_labelled, labelled_from_record
from tests.rules.conftest import MakeEngine, item, rules_folder

RULES = """\
vocabularies:
  licences: [licence~, license~]
rules:
  - id: h20-lifted
    leg: h20-ban
    effect: breaks
    severity: high
    match: {in: title, all: [[lift~, end~], [ban~, curbs]], within: 3}
    veto: [{any: [denies, "not"], near: 2}]
    hedge: [{in: title, any: [may, reportedly]}]
  - id: h20-orders
    leg: h20-ban
    effect: breaks
    match: {in: title, all: [H20, [order~, buy~]]}
  - id: h20-held
    leg: h20-ban
    effect: confirms
    match: {all: [H20, [ban~, block~]]}
    veto: [{any: [lift~, end~]}]
  - id: re-suspended
    leg: rare-earth-leverage
    effect: reverses
    tiers: [official, wire]
    match: {in: title, all: [suspend~, rare earth, controls]}
"""

H20, RE = "h20-ban", "rare-earth-leverage"
RECORDS: list[dict[str, Any]] = [
    {"id": "a", "title": "China lifts H20 ban", "leg": H20, "effect": "breaks"},
    {
        "id": "b",
        "title": "China denies it will lift H20 ban",
        "leg": H20,
        "effect": "neutral",
        "note": "NEAR-MISS: a denial",
    },
    {"id": "c", "title": "China may lift H20 ban", "leg": H20, "effect": "breaks"},
    {"id": "d", "title": "Tencent orders H20 chips", "leg": H20, "effect": "breaks"},
    {"id": "e", "title": "ByteDance places H20 purchase", "leg": H20, "effect": "breaks"},
    {
        "id": "f",
        "title": "China suspends rare earth controls",
        "leg": RE,
        "effect": "reverses",
        "tier": "wire",
    },
    {"id": "g", "title": "Beijing blocks H20 purchases", "leg": H20, "effect": "confirms"},
    {
        "id": "h",
        "title": "Blog: Tencent orders H20 chips",
        "leg": H20,
        "effect": "neutral",
        "trap": "near-miss",
    },
    {
        "id": "i",
        "title": "China suspends rare earth controls, US lifts H20 curbs",
        "tier": "official",
        "leg": RE,
        "effect": "reverses",
        "tickers": ["MP", "NVDA"],
        "legs": [
            {"leg": RE, "effect": "reverses", "tickers": ["MP"]},
            {"leg": H20, "effect": "breaks", "tickers": ["NVDA"]},
        ],
    },
    {"id": "j", "title": "Beijing waives magnet export licences", "leg": RE, "effect": "breaks"},
]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="thesiswatch")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def row(out: str, first: str) -> list[str]:
    """The cells after ``first`` on the first table row that starts with it."""
    for line in out.splitlines():
        if line.startswith(f"  {first} "):
            return line.split()[len(first.split()) :]
    raise AssertionError(f"no row {first!r} in:\n{out}")


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return rules_folder(tmp_path, RULES)


@pytest.fixture
def engine(make_engine: MakeEngine) -> Engine:
    return make_engine(RULES)


def test_figures_per_leg_and_per_rule(engine: Engine) -> None:
    report = evaluate_labelled(engine, [labelled_from_record(r) for r in RECORDS])
    assert (report.true_pos, report.false_pos, report.false_neg) == (4, 1, 3)
    legs = {s.leg: (s.true_pos, s.false_pos, s.false_neg) for s in report.legs}
    # The package deal (i) counts on both legs it moves.
    assert legs == {H20: (3, 1, 2), RE: (2, 0, 1)}
    rules = {
        s.rule_id: (s.fired, s.right, s.hedged, s.traps, s.labelled, s.wrong) for s in report.rules
    }
    assert rules == {
        "h20-orders": (2, 1, 0, 1, 5, ("h",)),
        "h20-held": (1, 1, 0, 0, 1, ()),
        "h20-lifted": (2, 2, 1, 0, 5, ()),
        "re-suspended": (2, 2, 0, 0, 3, ()),
    }
    # The noisiest rule comes first.
    assert report.rules[0].rule_id == "h20-orders"
    assert report.rules[0].precision == 0.5
    assert [t.key for t in report.trap_fires] == ["h"]
    assert report.hits_leg_right == 4


def test_tickers_on_hits_count_what_the_breaks_name(engine: Engine) -> None:
    """Of the caught breaks, the labelled tickers the unhedged break signals name; a ticker
    that only a confirmation beside the break names is not what the alert says."""
    records: list[dict[str, Any]] = [
        # h20-lifted names NVDA and AMD; MP belongs to no signal.
        {
            "id": "a",
            "title": "China lifts H20 ban",
            "leg": H20,
            "effect": "breaks",
            "tickers": ["NVDA", "AMD", "MP"],
        },
        # Caught on the rare-earth leg: MP is named, NVDA (labelled) is not.
        {
            "id": "f",
            "title": "China suspends rare earth controls",
            "leg": RE,
            "effect": "reverses",
            "tier": "wire",
            "tickers": ["MP", "NVDA"],
        },
        # Not caught (hedged): its tickers are not counted at all.
        {
            "id": "c",
            "title": "China may lift H20 ban",
            "leg": H20,
            "effect": "breaks",
            "tickers": ["NVDA"],
        },
        # A confirmation names NVDA, but nothing broke: no hit, nothing counted.
        {
            "id": "g",
            "title": "Beijing blocks H20 purchases",
            "leg": H20,
            "effect": "confirms",
            "tickers": ["NVDA"],
        },
    ]
    report = evaluate_labelled(engine, [labelled_from_record(r) for r in records])
    assert (report.hits_tickers_found, report.hits_tickers_total) == (3, 5)
    assert report.hits_ticker_recall == 0.6
    mixed = evaluate_labelled(
        engine,
        [
            labelled_from_record(
                {
                    "id": "m",
                    "title": "China lifts H20 ban on H20 blocks",
                    "leg": H20,
                    "effect": "breaks",
                    "tickers": ["NVDA"],
                }
            )
        ],
    )
    assert mixed.true_pos == 1
    assert (mixed.hits_tickers_found, mixed.hits_tickers_total) == (1, 1)


def test_leg_confusion(engine: Engine) -> None:
    report = evaluate_labelled(engine, [labelled_from_record(r) for r in RECORDS])
    assert set(report.confusion) == {
        (H20, H20, 4),  # a, c (its top signal is hedged but on the right leg), d, g
        (H20, "nothing", 1),  # e
        (RE, RE, 2),  # f, i
        (RE, "nothing", 1),  # j
        ("neutral", "nothing", 1),  # b
        ("neutral", H20, 1),  # h
    }


def test_misses_are_grouped_by_the_nearest_rule(engine: Engine) -> None:
    report = evaluate_labelled(engine, [labelled_from_record(r) for r in RECORDS])
    groups = {(g.leg, g.rule_id): [m.key for m in g.lines] for g in report.miss_groups}
    assert groups == {(H20, "h20-lifted"): ["c"], (H20, "h20-orders"): ["e"], (RE, None): ["j"]}
    by_key = {m.key: m for g in report.miss_groups for m in g.lines}
    assert by_key["c"].reason == "hedged by {in: title, any: [may, reportedly]} on 'may'"
    assert by_key["e"].reason == "1/2 parts; missing [order~, buy~]"
    assert by_key["j"].reason == "no rule of rare-earth-leverage matched any part of its match"
    assert by_key["j"].vocabularies == ("$licences",)


def test_trace_says_what_stopped_a_rule(engine: Engine) -> None:
    vetoed, tier, partial = engine.trace(
        item("China has not lifted H20 ban", tier="press"),
        ["h20-lifted", "re-suspended", "h20-held"],
    )
    assert (vetoed.outcome, vetoed.detail) == ("vetoed", "{any: [denies, not], near: 2} on 'not'")
    assert tier.outcome == "silent"
    assert partial.outcome == "vetoed"  # h20-held: "lifted" vetoes the confirmation
    (tier,) = engine.trace(
        item("China suspends rare earth controls", tier="press"), ["re-suspended"]
    )
    assert tier.outcome == "tier"
    assert tier.reason() == "matched, but the rule reads only official, wire sources, not press"
    (within,) = engine.trace(item("China lifts its long-standing H20 ban"), ["h20-lifted"])
    assert within.outcome == "partial"
    assert within.missing == ("its parts within 3 words of each other",)


def test_eval_takes_several_files_and_reports_each(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path / "first.jsonl", RECORDS[:5])
    second = write(tmp_path / "second.jsonl", RECORDS[5:])
    assert run(["rules", "eval", str(first), str(second), "--rules", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("items: 10\nbreaks/reverses: precision 0.80 (4/5), recall 0.57 (4/7)\n")
    assert "per file:" in out
    assert row(out, str(first)) == ["5", "1.00", "(2/2)", "0.50", "(2/4)", "0"]
    assert row(out, str(second)) == ["5", "0.67", "(2/3)", "0.67", "(2/3)", "1"]
    assert row(out, H20) == ["0.75", "(3/4)", "0.60", "(3/5)"]
    assert row(out, RE) == ["1.00", "(2/2)", "0.67", "(2/3)"]
    assert row(out, "h20-orders") == [H20, "breaks", "2", "1", "0.50", "0.20", "(1/5)", "0", "1"]
    assert row(out, "labelled \\") == ["top", "signal", H20, RE, "nothing"]
    assert row(out, "neutral") == ["1", ".", "1"]
    assert "  h20-orders: h" in out
    assert "  (no rule of rare-earth-leverage came near) [rare-earth-leverage]: 1" in out
    assert "vocabularies: $licences" in out


def test_eval_json(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "items.jsonl", RECORDS)
    assert run(["rules", "eval", str(path), "--rules", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["items"] == 10
    assert report["precision"] == {"value": 0.8, "of": 4, "total": 5}
    assert report["legs"][RE]["recall"] == {"value": 2 / 3, "of": 2, "total": 3}
    assert report["rules"]["h20-orders"]["wrong"] == ["h"]
    assert report["files"][str(path)]["traps_fired"] == 1
    # Only the package deal (i) labels tickers among the hits: MP and NVDA, both named.
    assert report["hits_ticker_recall"] == {"value": 1.0, "of": 2, "total": 2}
    assert {"labelled": "neutral", "top": H20, "items": 1} in report["confusion"]
    assert [(m["leg"], m["rule"]) for m in report["misses"]] == [
        (H20, "h20-lifted"),
        (H20, "h20-orders"),
        (RE, None),
    ]


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ({"id": "x", "title": "China lifts H20 ban"}, "not labelled: 'effect' is missing"),
        ({"id": "x", "title": "t", "effect": "broke", "leg": H20}, "'effect' must be one of"),
        ({"id": "x", "title": "t", "effect": "breaks"}, "'effect' 'breaks' needs a 'leg'"),
        ({"id": "x", "title": "t", "effect": "breaks", "leg": "h2O-ban"}, "unknown leg 'h2O-ban'"),
        (
            {"id": "x", "title": "t", "effect": "breaks", "leg": H20, "legs": [{"leg": H20}]},
            "legs[1] 'effect' is missing",
        ),
        ({"id": "x", "title": "t", "effect": "neutral", "trap": "yes"}, "'trap' must be one of"),
    ],
)
def test_unlabelled_or_mislabelled_input_is_an_error(
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record: dict[str, Any],
    error: str,
) -> None:
    good = write(tmp_path / "good.jsonl", RECORDS)
    bad = write(tmp_path / "bad.jsonl", [RECORDS[0], record])
    assert run(["rules", "eval", str(good), str(bad), "--rules", str(folder)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}:2: " in captured.err
    assert error in captured.err
    assert "no figures computed" in captured.err
    assert "recall" not in captured.out  # never a figure from part of the input


def test_a_file_of_unlabelled_items_is_refused(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `rules classify` reads is not something `rules eval` can score."""
    path = write(tmp_path / "items.jsonl", [{"id": "a", "title": "China lifts H20 ban"}])
    assert run(["rules", "eval", str(path), "--rules", str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}:1: not labelled" in captured.err
    empty = write(tmp_path / "empty.jsonl", [])
    assert run(["rules", "eval", str(empty), "--rules", str(folder)]) == 1
    assert f"{empty}: no labelled items" in capsys.readouterr().err


def test_ratios_without_a_denominator_read_n_a(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "items.jsonl", [RECORDS[6]])  # one confirmation, nothing to break
    assert run(["rules", "eval", str(path), "--rules", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "breaks/reverses: precision n/a (0/0), recall n/a (0/0)" in out
