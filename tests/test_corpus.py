"""The labelled corpus (corpus/): well formed, labels valid, splits disjoint, test split frozen.

No floor on rule quality here: the corpus measures the rules, this file only keeps the corpus
itself honest (see corpus/README.md and corpus/GUIDE.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rules import Engine, compile_ruleset, evaluate_labelled, labelled_from_record, load_ruleset

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SPLITS = {
    "test": CORPUS / "test.jsonl",
    "train": CORPUS / "train.jsonl",
    "fresh": CORPUS / "fresh.jsonl",
    "tune": CORPUS / "tune.jsonl",
    "tune2": CORPUS / "tune2.jsonl",
    "fresh2": CORPUS / "fresh2.jsonl",
    "fresh3": CORPUS / "fresh3.jsonl",
    "tune3": CORPUS / "tune3.jsonl",
    "tune4": CORPUS / "tune4.jsonl",
    "fresh4": CORPUS / "fresh4.jsonl",
    "tune5": CORPUS / "tune5.jsonl",
    "fresh5": CORPUS / "fresh5.jsonl",
    "tune6": CORPUS / "tune6.jsonl",
    "tune7": CORPUS / "tune7.jsonl",
    "fresh6": CORPUS / "fresh6.jsonl",
    "fresh7": CORPUS / "fresh7.jsonl",
    "fresh8": CORPUS / "fresh8.jsonl",
    "tune8": CORPUS / "tune8.jsonl",
    "tune9": CORPUS / "tune9.jsonl",
    "tune10": CORPUS / "tune10.jsonl",
}
DEV_EVENTS = ROOT.parent / "shared" / "corpora" / "dev-events.jsonl"
HOLDOUTS = sorted((ROOT / "tests" / "rules" / "data").glob("holdout*.jsonl"))

# The frozen splits: changing a line of one is a deliberate act (a relabelling noted in
# corpus/README.md), never a side effect of tuning rules. `fresh` is the second held-out split,
# frozen before the rule changes it measures (see corpus/README.md). `fresh2` is the third,
# collected after the tune2 fixes and not yet scored: it is read once, at the end. `fresh3` is the
# fourth, collected blind (no rule run on it) and pinned here before it is first scored; `fresh4`
# the fifth, `fresh5` the sixth, `fresh6` the seventh, `fresh7` the eighth and `fresh8` the ninth,
# collected and pinned the same way.
FROZEN_SHA256 = {
    "test": "8b41becdff595294bce657ae1e024ce74b87698e80e4210b753823ff03283cd9",
    "fresh": "2cab87dbb1df89bc6911471f0f2fca543ba9e5d17e5acd9d2e97ab2212c23de9",
    "fresh2": "3c42612bf3dd794a58af3658026a3ebb77f6a5d25c20d96f8dc8d311784585c2",
    "fresh3": "d33f05363f82cb4f1c74a07e9fd6797d22c4ea7848ad2980ea589824bc8d7ec9",
    "fresh4": "c0b60c1dbe7e44121fd9dfad90517843b7e4156e531a8101abb567b6eafadba1",
    "fresh5": "41f368a0a45fa327f81d99976431fa1457fcd6f96430640cec6cb2bbda3b550c",
    "fresh6": "75845462329965300961eb82b0986fbf63974e03d71a112fb441b10b6fbd195e",
    "fresh7": "6088e23993ed8471fa8db981e7fa2d0c2ce1d9d95f09f17a91c53230c000363c",
    "fresh8": "765e9550b4758052af55e2d0a68b1342dd73e210fdcb52131e148d2d8d65adbb",
}

FIELDS = {
    "id": str,
    "date": str,
    "source": str,
    "url": str,
    "title": str,
    "summary": str,
    "effect": str,
    "direction": str,
    "tickers": list,
    "note": str,
    "split": str,
    "event": str,
    "tier": str,
    "title_from": str,
    "date_from": str,
}
OPTIONAL = {"leg", "trap", "legs"}
EFFECTS = {"confirms", "breaks", "reverses", "neutral"}
POSITIVE = {"breaks", "reverses"}
DIRECTIONS = {"tightening", "easing", "none"}
TRAPS = {None, "near-miss", "distractor"}
TIERS = {"official", "wire", "press", "blog"}
TITLE_FROM = {"headline", "lead", "url"}
DATE_FROM = {"page", "url", "inferred"}
STRENGTH = {"neutral": 0, "confirms": 1, "breaks": 2, "reverses": 3}


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _title_key(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict[str, Any]]]:
    return {name: _read(path) for name, path in SPLITS.items()}


@pytest.fixture(scope="module")
def engine() -> Engine:
    folder = ROOT / "rules" / "default"
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.yaml"))}
    return compile_ruleset(load_ruleset(files))


def _records(corpus: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, record) for name, records in corpus.items() for record in records]


def test_every_line_has_the_fields_with_their_types(
    corpus: dict[str, list[dict[str, Any]]],
) -> None:
    problems = []
    for name, record in _records(corpus):
        where = f"{name}:{record.get('id')}"
        missing = set(FIELDS) - set(record)
        unknown = set(record) - set(FIELDS) - OPTIONAL
        problems += [f"{where}: missing {f}" for f in sorted(missing)]
        problems += [f"{where}: unknown {f}" for f in sorted(unknown)]
        for field, kind in FIELDS.items():
            if field in record and not isinstance(record[field], kind):
                problems.append(f"{where}: {field} is not {kind.__name__}")
        for field in ("id", "title", "summary", "source", "url", "note", "event"):
            if not str(record.get(field, "")).strip():
                problems.append(f"{where}: empty {field}")
        if not str(record.get("url", "")).startswith(("http://", "https://")):
            problems.append(f"{where}: url is not http(s)")
    assert problems == []


def test_labels_are_valid_for_the_shipped_thesis(
    corpus: dict[str, list[dict[str, Any]]], engine: Engine
) -> None:
    thesis = engine.ruleset.thesis
    legs = {leg.id for leg in thesis.legs}
    problems = []
    for name, record in _records(corpus):
        where = f"{name}:{record['id']}"
        if record.get("leg") not in legs | {None}:
            problems.append(f"{where}: leg {record.get('leg')!r}")
        if record["effect"] not in EFFECTS:
            problems.append(f"{where}: effect {record['effect']!r}")
        if record["direction"] not in DIRECTIONS:
            problems.append(f"{where}: direction {record['direction']!r}")
        if record.get("leg") is None and record["effect"] != "neutral":
            problems.append(f"{where}: no leg but effect {record['effect']}")
        outside = set(record["tickers"]) - thesis.tickers
        if outside:
            problems.append(f"{where}: tickers not in the thesis {sorted(outside)}")
        if len(set(record["tickers"])) != len(record["tickers"]):
            problems.append(f"{where}: repeated ticker")
        if record["effect"] in POSITIVE and not record["tickers"]:
            problems.append(f"{where}: a break names no ticker")
        if record["tier"] not in TIERS:
            problems.append(f"{where}: tier {record['tier']!r}")
        if record["title_from"] not in TITLE_FROM or record["date_from"] not in DATE_FROM:
            problems.append(f"{where}: provenance {record['title_from']}/{record['date_from']}")
        published = date.fromisoformat(record["date"])
        if not date(2024, 1, 1) <= published <= date(2026, 12, 31):
            problems.append(f"{where}: date {published} outside 2024-2026")
    assert problems == []


def test_trap_markers_agree_with_the_note_and_never_expect_a_break(
    corpus: dict[str, list[dict[str, Any]]],
) -> None:
    # rules eval reads the note's markers; the trap field must say the same thing, and a trap
    # is an item on which any firing break is wrong.
    problems = []
    for name, record in _records(corpus):
        where = f"{name}:{record['id']}"
        trap, note = record.get("trap"), record["note"]
        if trap not in TRAPS:
            problems.append(f"{where}: trap {trap!r}")
        marked = "near-miss" if "NEAR-MISS" in note else None
        marked = "distractor" if note.startswith("DISTRACTOR") else marked
        if marked != trap:
            problems.append(f"{where}: trap {trap!r} but the note marks {marked!r}")
        if trap is not None and record["effect"] in POSITIVE:
            problems.append(f"{where}: a {trap} labelled {record['effect']}")
    assert problems == []


def test_package_deals_keep_the_plain_fields_valid(
    corpus: dict[str, list[dict[str, Any]]], engine: Engine
) -> None:
    legs = {leg.id for leg in engine.ruleset.thesis.legs}
    problems = []
    packages = 0
    for name, record in _records(corpus):
        if "legs" not in record:
            continue
        packages += 1
        where = f"{name}:{record['id']}"
        entries = record["legs"]
        if not isinstance(entries, list) or len(entries) < 2:
            problems.append(f"{where}: legs must list at least two legs")
            continue
        if any(set(e) != {"leg", "effect", "direction", "tickers"} for e in entries):
            problems.append(f"{where}: a legs entry has other keys")
            continue
        names = [e["leg"] for e in entries]
        if len(set(names)) != len(names) or not set(names) <= legs:
            problems.append(f"{where}: legs {names}")
        primary = [e for e in entries if e["leg"] == record["leg"]]
        if not primary or (primary[0]["effect"], primary[0]["direction"]) != (
            record["effect"],
            record["direction"],
        ):
            problems.append(f"{where}: the plain leg/effect/direction is not a legs entry")
        union = {t for e in entries for t in e["tickers"]}
        if union - set(record["tickers"]):
            problems.append(f"{where}: tickers miss {sorted(union - set(record['tickers']))}")
        if any(e["effect"] not in EFFECTS or STRENGTH[e["effect"]] == 0 for e in entries):
            problems.append(f"{where}: a legs entry that moves nothing")
    assert problems == []
    assert packages > 0


def test_ids_urls_and_titles_are_unique_across_all_splits(
    corpus: dict[str, list[dict[str, Any]]],
) -> None:
    records = [record for _, record in _records(corpus)]
    for key in ("id", "url"):
        repeated = [k for k, n in Counter(r[key] for r in records).items() if n > 1]
        assert repeated == [], key
    titles = Counter(_title_key(r["title"]) for r in records)
    assert [t for t, n in titles.items() if n > 1] == []


def test_each_file_holds_only_its_own_split(corpus: dict[str, list[dict[str, Any]]]) -> None:
    for name, records in corpus.items():
        assert {r["split"] for r in records} == {name}


@pytest.mark.parametrize("source", ["dev", "holdouts"])
def test_disjoint_from_dev_and_holdouts(
    corpus: dict[str, list[dict[str, Any]]], source: str
) -> None:
    if source == "dev":
        if not DEV_EVENTS.exists():
            pytest.skip("the shared corpora are not present")
        others = _read(DEV_EVENTS)
    else:
        assert HOLDOUTS, "tests/rules/data/holdout*.jsonl not found"
        others = [record for path in HOLDOUTS for record in _read(path)]
    urls = {r["url"] for r in others}
    titles = {_title_key(r["title"]) for r in others}
    clashes = [
        r["id"] for _, r in _records(corpus) if r["url"] in urls or _title_key(r["title"]) in titles
    ]
    assert clashes == []


def test_split_sizes_meet_issue_9(corpus: dict[str, list[dict[str, Any]]]) -> None:
    test, train, fresh = corpus["test"], corpus["train"], corpus["fresh"]
    assert len(test) >= 100
    assert sum(r["effect"] in POSITIVE for r in test) >= 30
    assert sum(r.get("trap") == "near-miss" for r in test) >= 25
    assert sum(r.get("trap") == "distractor" for r in test) >= 15
    assert len(train) >= 200
    assert len(fresh) >= 60
    assert sum(r["effect"] in POSITIVE for r in fresh) >= 20
    assert sum(r.get("trap") is not None for r in fresh) >= 10
    tune = corpus["tune"]
    assert len(tune) >= 120
    assert sum(r.get("trap") is not None for r in tune) >= 20
    tune2 = corpus["tune2"]
    assert len(tune2) >= 120
    assert sum(r["effect"] in POSITIVE for r in tune2) >= 60
    assert sum(r.get("trap") == "near-miss" for r in tune2) >= 25
    assert sum(r.get("trap") == "distractor" for r in tune2) >= 15
    fresh2 = corpus["fresh2"]
    assert len(fresh2) >= 110
    assert sum(r["effect"] in POSITIVE for r in fresh2) >= 45
    assert sum(r.get("trap") == "near-miss" for r in fresh2) >= 25
    assert sum(r.get("trap") == "distractor" for r in fresh2) >= 15
    # Not mostly the trade leg: each other leg carries its own breaks and reversals.
    for leg in ("h20-ban", "wfe-controls", "rare-earth-leverage"):
        assert sum(r["leg"] == leg and r["effect"] in POSITIVE for r in fresh2) >= 8, leg
    # The fourth round's splits, near-miss heavy: (items, breaks/reversals, near-misses,
    # distractors) at least.
    for name, least in {
        "fresh3": (110, 30, 40, 15),
        "tune3": (120, 50, 50, 0),
        "tune4": (90, 25, 60, 0),
        # The fifth blind split: issue 9's sizes for a frozen split.
        "fresh4": (100, 30, 25, 15),
        # The sixth tune split, near-miss heavy with breaks in varied wording.
        "tune5": (110, 40, 40, 10),
        # The sixth blind split: issue 9's sizes for a frozen split.
        "fresh5": (100, 30, 25, 15),
        # The seventh tune split, biased to near-misses and breaks in varied wording.
        "tune6": (110, 40, 40, 10),
        # The eighth tune split, near-misses and breaks in varied wording, mostly English pages.
        "tune7": (110, 40, 40, 10),
        # The seventh blind split: issue 9's sizes for a frozen split.
        "fresh6": (100, 30, 25, 15),
        # The eighth blind split: issue 9's sizes for a frozen split.
        "fresh7": (100, 30, 25, 15),
        # The ninth blind split: issue 9's sizes for a frozen split.
        "fresh8": (100, 30, 25, 15),
        # The ninth tune split, near-misses and breaks in varied wording, mostly English pages.
        "tune8": (110, 40, 40, 10),
        # The tenth tune split, near-misses around approvals and breaks in varied wording.
        "tune9": (110, 40, 40, 10),
        # The eleventh tune split, breaks in varied wording on all four legs, mostly English pages.
        "tune10": (110, 40, 40, 10),
    }.items():
        split = corpus[name]
        got = (
            len(split),
            sum(r["effect"] in POSITIVE for r in split),
            sum(r.get("trap") == "near-miss" for r in split),
            sum(r.get("trap") == "distractor" for r in split),
        )
        assert all(g >= n for g, n in zip(got, least, strict=True)), (name, got, least)
    for records in corpus.values():
        assert {r.get("leg") for r in records} >= {
            "h20-ban",
            "wfe-controls",
            "rare-earth-leverage",
            "no-trade-deal",
        }


@pytest.mark.parametrize("name", sorted(FROZEN_SHA256))
def test_held_out_splits_are_frozen(name: str) -> None:
    digest = hashlib.sha256(SPLITS[name].read_bytes()).hexdigest()
    assert digest == FROZEN_SHA256[name], f"corpus/{name}.jsonl changed: see corpus/README.md"


def test_rules_eval_reads_every_line(
    corpus: dict[str, list[dict[str, Any]]], engine: Engine
) -> None:
    # The format extension (split, trap, event, legs, provenance) must not break the reader
    # that `thesiswatch rules eval` uses; this checks the corpus is scorable, not the score.
    for records in corpus.values():
        labelled = [labelled_from_record(r) for r in records]
        report = evaluate_labelled(engine, labelled)
        assert report.items == len(records)
        wanted = sum(r["effect"] in POSITIVE for r in records)
        assert report.true_pos + report.false_neg == wanted
