"""Issue 9 item 6, second trial: would a lexical model, as a veto on the rules' breaks, lift
precision on news the rules were not written against?

    .venv/bin/python bench/veto_trial.py

The first trial (``rescuer_trial.py``) asked whether neighbours in an embedding space rescue
misses; they share a story's topic, not whether it happened. Here the question is narrower:
among the breaks the rules fire, can a linear model over words tell the real ones from the
near-misses (denials, offers, reactions, rumours)?

Leave one split out, each split scored with the rules as they stood *before* that split was
collected (so the fires are the fires of rules meeting new wording), the model trained on every
other non-frozen split. The frozen splits (``corpus/test.jsonl``, ``fresh*.jsonl``) are never
read. Per held-out split: precision, recall and traps of the rules alone, then with the veto at
each threshold, and at the threshold an inner leave-one-split-out on the training splits picks
(nested: the held-out split never picks its own).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules import compile_ruleset, load_ruleset  # noqa: E402
from rules.doubt import Doubt, train_doubt  # noqa: E402
from rules.model import Signal  # noqa: E402
from rules.records import LabelledItem, labelled_from_record  # noqa: E402
from rules.scores import POSITIVE  # noqa: E402

CORPUS = ROOT / "corpus"
DATA = ROOT / "tests" / "rules" / "data"
DEV = ROOT.parent / "shared" / "corpora" / "dev-events.jsonl"
# Held-out split -> the commit that added it: its parent's rules never saw it.
UNSEEN_AT = {
    "tune": "364e0d5",
    "tune2": "48bf946",
    "tune3": "88af16a",
    "tune4": "15ed90f",
}
TRAIN_ONLY = {
    "dev": DEV,
    "train": CORPUS / "train.jsonl",
    "holdout": DATA / "holdout.jsonl",
    "holdout2": DATA / "holdout2.jsonl",
    "holdout3": DATA / "holdout3.jsonl",
}
THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


@dataclass(frozen=True, slots=True)
class Row:
    split: str
    title: str
    summary: str
    positive: bool  # labelled a break or reversal of some leg
    trap: bool
    fired: bool  # the split's unseen rules fired an unhedged break


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 (fixed git subcommands)
        ["git", *args],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _engine_at(ref: str) -> Any:
    names = _git("ls-tree", "--name-only", f"{ref}:rules/default").split()
    files = {
        n: _git("show", f"{ref}:rules/default/{n}") for n in names if n.endswith((".yaml", ".yml"))
    }
    return compile_ruleset(load_ruleset(files))


def _engine_now() -> Any:
    files = {p.name: p.read_text() for p in (ROOT / "rules" / "default").glob("*.yaml")}
    return compile_ruleset(load_ruleset(files))


def scored(path: Path, engine: Any) -> Iterator[tuple[LabelledItem, tuple[Signal, ...]]]:
    """Each labelled line of ``path`` with what ``engine`` said about it."""
    for line in path.read_text().splitlines():
        if line.strip():
            lab = labelled_from_record(json.loads(line))
            yield lab, engine.evaluate(lab.item)


def load(split: str, path: Path, engine: Any) -> list[Row]:
    rows = []
    for lab, sig in scored(path, engine):
        rows.append(
            Row(
                split=split,
                title=lab.item.title,
                summary=lab.item.summary,
                positive=any(e.effect in POSITIVE for e in lab.entries),
                trap=lab.is_trap,
                fired=any(s.effect in POSITIVE and not s.hedged for s in sig),
            )
        )
    return rows


# -- the model: rules/doubt.py, as shipped -----------------------------------------------


def fit(rows: list[Row], l2: float, steps: int) -> Doubt:
    """Breaks against near-misses (traps), as ``thesiswatch rules doubt`` trains it."""
    return train_doubt(
        ((r.title, r.summary, r.positive) for r in rows if r.positive or r.trap),
        threshold=0.5,
        l2=l2,
        steps=steps,
    )


def predict(model: Doubt, rows: list[Row]) -> list[float]:
    return [model.score_text(r.title, r.summary) for r in rows]


# -- scoring --------------------------------------------------------------------------------


def tally(rows: list[Row], p: list[float] | None, threshold: float) -> tuple[int, int, int, int]:
    tp = fp = fn = traps = 0
    for n, r in enumerate(rows):
        fired = r.fired and (p is None or p[n] >= threshold)
        tp += fired and r.positive
        fp += fired and not r.positive
        fn += r.positive and not fired
        traps += fired and r.trap
    return tp, fp, fn, traps


def fmt(t: tuple[int, int, int, int], items: int) -> str:
    tp, fp, fn, traps = t
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    per100 = 100 * traps / items
    return f"P {prec:.2f} ({tp}/{tp + fp})  R {rec:.2f} ({tp}/{tp + fn})  traps/100 {per100:4.1f}"


def pick(rows: list[Row], l2: float, steps: int) -> float:
    """Inner leave-one-split-out: the highest threshold whose vetoes removed no true break
    and removed some false one."""
    splits = sorted({r.split for r in rows if r.split in UNSEEN_AT})
    scored = []
    for s in splits:
        test = [r for r in rows if r.split == s]
        scored.append((test, predict(fit([r for r in rows if r.split != s], l2, steps), test)))
    best = 0.0
    for th in THRESHOLDS:
        lost = gained = 0
        for test, p in scored:
            base, with_ = tally(test, None, 0.0), tally(test, p, th)
            lost += base[0] - with_[0]
            gained += base[1] - with_[1]
        if lost == 0 and gained > 0:
            best = th
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--l2", type=float, default=0.01)
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()
    now = _engine_now()
    rows: list[Row] = []
    for split, path in TRAIN_ONLY.items():
        rows += load(split, path, now)
    for split, ref in UNSEEN_AT.items():
        rows += load(split, CORPUS / f"{split}.jsonl", _engine_at(f"{ref}^"))
    print(f"{len(rows)} items; held-out splits scored with the rules before each was collected")
    pooled_base = [0, 0, 0, 0]
    pooled_pick = [0, 0, 0, 0]
    pooled_at: dict[float, list[int]] = {th: [0, 0, 0, 0] for th in THRESHOLDS}
    n_items = 0
    for split in UNSEEN_AT:
        test = [r for r in rows if r.split == split]
        train = [r for r in rows if r.split != split]
        p = predict(fit(train, args.l2, args.steps), test)
        th = pick(train, args.l2, args.steps)
        base = tally(test, None, 0.0)
        print(f"{split:6} {len(test):3} items  rules alone      {fmt(base, len(test))}")
        for t in THRESHOLDS[1:]:
            got = tally(test, p, t)
            print(f"{'':17}veto p < {t:.2f}   {fmt(got, len(test))}")
            pooled_at[t] = [a + b for a, b in zip(pooled_at[t], got, strict=True)]
        chosen = tally(test, p, th)
        print(f"{'':17}nested pick {th:.2f} {fmt(chosen, len(test))}")
        pooled_base = [a + b for a, b in zip(pooled_base, base, strict=True)]
        pooled_pick = [a + b for a, b in zip(pooled_pick, chosen, strict=True)]
        n_items += len(test)
    print(f"pooled {n_items} items  rules alone      {fmt(tuple(pooled_base), n_items)}")  # type: ignore[arg-type]
    for t in THRESHOLDS[1:]:
        print(f"{'':17}veto p < {t:.2f}   {fmt(tuple(pooled_at[t]), n_items)}")  # type: ignore[arg-type]
    print(f"{'':17}nested picks     {fmt(tuple(pooled_pick), n_items)}")  # type: ignore[arg-type]
    print(f"threshold for a model trained on all: {pick(rows, args.l2, args.steps):.2f}")


if __name__ == "__main__":
    main()
