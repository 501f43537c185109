"""`thesiswatch rules doubt FILE...`: train the second stage (rules/doubt.py) on labelled lines.

Its examples are the lines that break or reverse a leg against the near-misses and
distractors (``trap``): the model learns what tells a real break from its look-alikes, not
which stories are on topic. The weights go to ``doubt.json`` in the thesis folder, where the
next load (or the running bot's reload) picks them up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rules import RecordError, labelled_from_record
from rules.doubt import train_doubt
from rules.loader import DOUBT_FILE
from rules.scores import POSITIVE

__all__ = ["add_doubt_parser", "cmd_doubt"]

# Chosen by leave-one-split-out on the corpora the rules had not seen (bench/veto_trial.py):
# the highest threshold that hedged no true break while hedging false ones.
DEFAULT_THRESHOLD = 0.20


def _examples(paths: list[str]) -> tuple[list[tuple[str, str, bool]], list[str]]:
    examples: list[tuple[str, str, bool]] = []
    errors: list[str] = []
    for path in paths:
        with open(path, encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    lab = labelled_from_record(json.loads(line))
                except (json.JSONDecodeError, RecordError) as exc:
                    errors.append(f"{path}:{number}: {exc}")
                    continue
                positive = any(e.effect in POSITIVE for e in lab.entries)
                if positive or lab.is_trap:
                    examples.append((lab.item.title, lab.item.summary, positive))
    return examples, errors


def cmd_doubt(args: argparse.Namespace) -> int:
    """Train on FILEs and write the model; exit 1 (nothing written) on any bad line."""
    examples, errors = _examples(args.files)
    breaks = sum(y for _, _, y in examples)
    if not errors and (breaks == 0 or breaks == len(examples)):
        errors.append("need both breaks and near-misses (trap) among the labelled lines")
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        print(f"{len(errors)} problem(s): no model written", file=sys.stderr)
        return 1
    model = train_doubt(examples, threshold=args.threshold)
    out = Path(args.out) if args.out else Path(args.rules[0].split(":")[0]) / DOUBT_FILE
    trained_on = [Path(p).name for p in args.files]
    body = {"trained_on": trained_on, "breaks": breaks, "near_misses": len(examples) - breaks}
    out.write_text(json.dumps(body | model.to_mapping(), indent=1) + "\n", encoding="utf-8")
    print(
        f"{out}: {len(model.weights)} weights from {breaks} breaks and"
        f" {len(examples) - breaks} near-misses; threshold {model.threshold}"
    )
    return 0


def add_doubt_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "doubt", help="train the second stage that hedges breaks worded like near-misses"
    )
    p.add_argument("files", nargs="+", metavar="FILE.jsonl", help="labelled items")
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"hedge a break scoring under this (default {DEFAULT_THRESHOLD})",
    )
    p.add_argument("--out", metavar="PATH", help=f"where to write (default: DIR/{DOUBT_FILE})")
    return p
