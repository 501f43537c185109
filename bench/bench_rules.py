"""Rules engine cost per item, against main's engine (the baseline) in the same run.

    .venv/bin/python bench/bench_rules.py [--rounds R] [--worst] [--icount]

Three workloads (issue 10 goal 4): 10 and 5,000 generated topical rules on the corpus items
(a quarter of them seeded with one rule's words, so rules fire), and the shipped rules
(rules/default) on the real headlines and summaries: ../shared/corpora/dev-events.jsonl,
corpus/train.jsonl and corpus/test.jsonl. Each is run by this branch's engine and by main's
(tests/helpers/refrules, frozen at 87ca9a4), alternating within each round; the figures are
medians of the rounds (wall and this process's CPU time), the ratio the median of per-round
ratios. ``--worst`` adds 5,000 rules whose every group has everyday words. ``--icount`` also
counts instructions per item under ``valgrind --tool=callgrind`` (noise-free on a shared machine:
only one pass over the items is counted, after a warm one; see bench/rules_icount.py). No
timing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.helpers.refrules, main's engine
sys.path.insert(0, str(ROOT / "bench"))  # when imported from elsewhere (tests)

from benchlib import Samples, load_average, log, timed  # noqa: E402
from rules_icount import instructions_per_item  # noqa: E402

from rules import Item, RuleSet, Signal, compile_ruleset, load_ruleset  # noqa: E402
from rules.model import Expr, Term  # noqa: E402
from rules.records import item_from_record  # noqa: E402
from tests.helpers.refrules import Engine as Reference  # noqa: E402

__all__ = ["main"]

CORPORA = (
    ROOT.parent / "shared" / "corpora" / "dev-events.jsonl",
    ROOT / "corpus" / "train.jsonl",
    ROOT / "corpus" / "test.jsonl",
)
SHIPPED = ROOT / "rules" / "default"
# Goal 4 of issue 10, in microseconds per item.
TARGETS = {"10 generated": None, "5000 generated": 30.0, "shipped": 150.0}
COMMON = (
    "china us beijing washington nvidia h20 chip chips ban lifts lifted eases export controls "
    "curbs rare earth magnets tariffs deal truce asml tools licence approval suspends halts "
    "production sales orders market shares record demand talks trade officials says report"
).split()

THESIS = """\
thesis:
  name: bench
  legs:
    leg-a: {claim: a, tickers: {AAA: bullish}}
    leg-b: {claim: b, tickers: {BBB: bearish}}
vocabularies:
  neg: [not, "no", denies, "has not", "no plans"]
  hedge: [may, could, reportedly, considering]
"""


def _invented(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghiklmnoprstuvwz") for _ in range(rng.randint(4, 9)))


def _group(rng: random.Random, common: float) -> str:
    terms = []
    for _ in range(rng.randint(2, 5)):
        words = [
            rng.choice(COMMON) if rng.random() < common else _invented(rng)
            for _ in range(rng.randint(1, 2))
        ]
        terms.append(" ".join(words) + ("~" if rng.random() < 0.3 else ""))
    return "[" + ", ".join(terms) + "]"


def rules_files(count: int, *, topical: bool, seed: int = 7, per_file: int = 500) -> dict[str, str]:
    """``count`` generated rules, ``per_file`` to a YAML file as a trader would split them.

    ``topical``: like real rules, each has one group of words of its own (its topic: "H20",
    "rare earth") besides groups of everyday words; otherwise every group mixes in everyday
    words (a worst case where many rules wake on, and fire for, ordinary news).
    """
    rng = random.Random(seed)
    files: dict[str, str] = {}
    for first in range(0, count, per_file):
        numbers = range(first, min(count, first + per_file))
        files[f"gen-{first:05d}.yaml"] = _rules_yaml(rng, numbers, topical)
    return files


def _rules_yaml(rng: random.Random, numbers: range, topical: bool) -> str:
    out = ["rules:"]
    for n in numbers:
        parts = [_group(rng, 0.0 if topical else 0.15)]
        parts += [_group(rng, 0.5 if topical else 0.15) for _ in range(rng.randint(1, 2))]
        groups = ", ".join(parts)
        out += [
            f"  - id: gen-{n:05d}",
            f"    leg: {rng.choice(['leg-a', 'leg-b'])}",
            f"    effect: {rng.choice(['confirms', 'breaks', 'reverses'])}",
            f"    match: {{in: {rng.choice(['title', 'any'])}, all: [{groups}], within: 8}}",
            "    veto: [{any: [$neg], near: 2}]",
            "    hedge: [{in: title, any: [$hedge]}]",
        ]
    return "\n".join(out) + "\n"


def items() -> list[Item]:
    """The corpus items: title and summary of every record (generated text if absent)."""
    out: list[Item] = []
    for path in CORPORA:
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            out += [item_from_record(json.loads(line)) for line in lines if line.strip()]
    if out:
        return out
    rng, now = random.Random(3), datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(300):
        title = " ".join(rng.choice(COMMON) for _ in range(12)).capitalize()
        summary = " ".join(rng.choice(COMMON) for _ in range(45))
        out.append(Item(f"g{n}", title, summary, "Bench Wire", "wire", "", now))
    return out


def _phrases(part: Term | Expr) -> tuple[str, ...]:
    """The phrases of a group: a term, or a nested list (an ``any`` of terms)."""
    if isinstance(part, Term):
        return part.phrases
    return tuple(p for t in part.any if isinstance(t, Term) for p in t.phrases)


def seeded(batch: list[Item], ruleset: RuleSet, share: float = 0.25) -> list[Item]:
    """``batch`` with one phrase of each group of a random rule added to a ``share`` of titles,
    so every rule set under test has items it fires on."""
    rng = random.Random(11)
    out = []
    for subject in batch:
        if rng.random() < share:
            rule = rng.choice(ruleset.rules)
            words = [rng.choice(_phrases(part)) for part in rule.match.all if _phrases(part)]
            subject = dataclasses.replace(subject, title=f"{subject.title}: {' '.join(words)}")
        out.append(subject)
    return out


def workloads(batch: list[Item], worst: bool) -> dict[str, tuple[RuleSet, list[Item]]]:
    """Each workload's rule set and items."""
    out: dict[str, tuple[RuleSet, list[Item]]] = {}
    shapes = [("10 generated", 10, True), ("5000 generated", 5000, True)]
    if worst:
        shapes.append(("5000 worst case", 5000, False))
    for name, count, topical in shapes:
        started = time.perf_counter()
        ruleset = load_ruleset({"thesis.yaml": THESIS, **rules_files(count, topical=topical)})
        log(f"{name}: loaded in {time.perf_counter() - started:.1f} s")
        out[name] = (ruleset, seeded(batch, ruleset))
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(SHIPPED.glob("*.yaml"))}
    out["shipped"] = (load_ruleset(files), batch)
    return out


class _Engine(Protocol):
    """What this branch's engine and main's (tests/helpers/refrules) have in common."""

    def evaluate(self, item: Item) -> tuple[Signal, ...]: ...


def measure(
    name: str, ruleset: RuleSet, batch: list[Item], rounds: int
) -> tuple[Samples, Samples, float]:
    """Both engines over ``batch``, alternating, ``rounds`` times; and signals per item."""
    engines: dict[str, _Engine] = {"new": compile_ruleset(ruleset), "main": Reference(ruleset)}
    signals = 0
    for subject in batch:  # warm, and check they agree (tests/rules/test_engine_identity.py)
        got = engines["new"].evaluate(subject)
        if got != engines["main"].evaluate(subject):
            raise SystemExit(f"{name}: the engines disagree on {subject.key}")
        signals += len(got)
    samples = {key: Samples() for key in engines}
    for r in range(rounds):
        log(f"  {name}: round {r + 1}/{rounds} ({load_average()})")
        for key, engine in engines.items():
            with timed(samples[key]):
                for subject in batch:
                    engine.evaluate(subject)
    return samples["new"], samples["main"], signals / len(batch)


def _us(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worst", action="store_true", help="add the worst-case 5,000 rules")
    parser.add_argument("--icount", action="store_true", help="count instructions (valgrind)")
    args = parser.parse_args()
    batch = items()
    chars = sum(len(i.title) + len(i.summary) for i in batch) / len(batch)
    print(f"{len(batch)} corpus items, {chars:.0f} characters each; {args.rounds} rounds")
    print(f"before: {load_average()}")
    loads = workloads(batch, args.worst)
    print(
        "us per item, median of rounds: wall (CPU of this process); main = main's engine\n"
        f"{'workload':<16} {'rules':>5} {'sig/item':>8} {'new wall':>9} {'new CPU':>8} "
        f"{'main wall':>9} {'main CPU':>8} {'main/new':>9}  target"
    )
    cpu_new: dict[str, float] = {}
    for name, (ruleset, subjects) in loads.items():
        new, main_, fired = measure(name, ruleset, subjects, args.rounds)
        n = len(subjects)
        each = [m / s for m, s in zip(main_.cpu, new.cpu, strict=True)]
        cpu_new[name] = new.median_cpu / n * 1e6
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            verdict = f"<= {target:.0f} CPU: {'met' if cpu_new[name] <= target else 'MISSED'}"
        print(
            f"{name:<16} {len(ruleset.rules):>5} {fired:>8.2f} {_us(new.median, n):>9} "
            f"{_us(new.median_cpu, n):>8} {_us(main_.median, n):>9} {_us(main_.median_cpu, n):>8}"
            f" {statistics.median(each):>8.2f}x  {verdict}",
            flush=True,
        )
    scale = cpu_new["5000 generated"] / cpu_new["10 generated"]
    print(f"5000/10 generated rules, new engine CPU: {scale:.2f}x (target <= 3x)")
    print(f"after: {load_average()}")
    if args.icount:
        icount(loads)


def icount(loads: dict[str, tuple[RuleSet, list[Item]]]) -> None:
    """Instructions per item of each engine on each workload, under callgrind."""
    print("instructions per item (valgrind --tool=callgrind, one counted pass after a warm one)")
    with tempfile.TemporaryDirectory() as tmp:
        # The shipped rules first: 5,000 rules take minutes to compile under valgrind.
        for name in sorted(loads, key=lambda n: (n != "shipped", n)):
            ruleset, subjects = loads[name]
            path = Path(tmp) / "workload.pickle"
            path.write_bytes(pickle.dumps((ruleset, subjects)))
            n = len(subjects)
            counts = {key: instructions_per_item(path, key, n) for key in ("new", "main")}
            print(
                f"{name:<16} new {counts['new']:>10,.0f}  main {counts['main']:>10,.0f}"
                f"  main/new {counts['main'] / counts['new']:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
