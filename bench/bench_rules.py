"""Per-item evaluation cost with 10 and with 5,000 generated rules, and the ratio, in one run;
then the shipped rules (rules/default) against the 10 generated rules on the same items.

    .venv/bin/python bench/bench_rules.py [--items N] [--repeat R]

Rules are generated like real ones: two or three groups of phrases that must occur within a
few words, a negation veto and a hedge. Items are the dev corpus headlines and summaries when
../shared/corpora is present, otherwise generated news-like text. No timing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

from rules import Engine, Item, RuleSet, compile_ruleset, load_ruleset
from rules.model import Expr, Term

__all__ = ["main"]

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "dev-events.jsonl"
SHIPPED = Path(__file__).resolve().parents[1] / "rules" / "default"
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


def items(limit: int) -> list[Item]:
    """The dev corpus items (or generated text), repeated up to ``limit``."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    texts: list[tuple[str, str]] = []
    if CORPUS.exists():
        for line in CORPUS.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts.append((record["title"], record.get("summary") or ""))
    else:
        rng = random.Random(3)
        for _ in range(40):
            title = " ".join(rng.choice(COMMON) for _ in range(12))
            texts.append((title.capitalize(), " ".join(rng.choice(COMMON) for _ in range(45))))
    return [
        Item(f"i{n}", *texts[n % len(texts)], "Bench Wire", "wire", "https://example.com", now)
        for n in range(limit)
    ]


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


def per_item_us(engine: Engine, batch: list[Item], repeat: int) -> float:
    """Best of ``repeat`` passes over ``batch``, in microseconds per item (GC off, as timeit)."""
    for subject in batch[:50]:
        engine.evaluate(subject)  # warm caches and the automaton
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for subject in batch:
                engine.evaluate(subject)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    batch = items(args.items)
    chars = sum(len(i.title) + len(i.summary) for i in batch) / len(batch)
    print(f"{len(batch)} items, {chars:.0f} characters each on average, best of {args.repeat}")
    for topical in (True, False):
        name = "topical rules" if topical else "worst case: every group has everyday words"
        print(f"-- {name}")
        runs: dict[int, tuple[Engine, list[Item]]] = {}
        for count in (10, 5000):
            started = time.perf_counter()
            files = {"thesis.yaml": THESIS, **rules_files(count, topical=topical)}
            engine = compile_ruleset(load_ruleset(files))
            built = time.perf_counter() - started
            mixed = seeded(batch, engine.ruleset)
            runs[count] = (engine, mixed)
            fired = sum(len(engine.evaluate(i)) for i in mixed) / len(mixed)
            print(f"{count:>5} rules: load+compile {built:.1f} s, {fired:.2f} signals per item")
        # Alternate the two so a busy machine slows both alike; keep each one's best pass.
        results = {count: float("inf") for count in runs}
        for _ in range(args.repeat):
            for count, (engine, mixed) in runs.items():
                results[count] = min(results[count], per_item_us(engine, mixed, 1))
        for count, best in results.items():
            print(f"{count:>5} rules: {best:7.1f} us/item")
        print(f"   ratio 5000/10: {results[5000] / results[10]:.2f}x")
    shipped(batch, args.repeat)


def shipped(batch: list[Item], repeat: int) -> None:
    """The shipped rules' cost per item, against 10 generated topical rules in the same run."""
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(SHIPPED.glob("*.yaml"))}
    engines = {
        "shipped": compile_ruleset(load_ruleset(files)),
        "10 generated": compile_ruleset(
            load_ruleset({"thesis.yaml": THESIS, **rules_files(10, topical=True)})
        ),
    }
    count = len(engines["shipped"].ruleset.rules)
    print(f"-- shipped rules ({SHIPPED.name}, {count} rules) on the same items, unseeded")
    results = {name: float("inf") for name in engines}
    for _ in range(repeat):
        for name, engine in engines.items():
            results[name] = min(results[name], per_item_us(engine, batch, 1))
    for name, best in results.items():
        print(f"{name:>12}: {best:7.1f} us/item")
    print(f"   ratio shipped/10 generated: {results['shipped'] / results['10 generated']:.2f}x")


if __name__ == "__main__":
    main()
