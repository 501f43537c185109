"""Two rule folders on this engine, the same items: CPU per item, alternating, and instructions.

    .venv/bin/python bench/ab_rules.py BASE_FOLDER [NEW_FOLDER] [--rounds R] [--icount]

What a round of rule edits costs (issue 9: "the shipped rules cost no more per item than
today"). BASE_FOLDER is typically the round's starting rules, checked out with
``git archive <commit> rules/default | tar -x -C /tmp/base``; NEW_FOLDER defaults to
rules/default. The items are bench_rules.py's (dev-events, train, test). Each round times both
rule sets once, alternating, in this process; the ratio printed is the median of the per-round
ratios (the machine is shared: only in-run ratios compare).
``--icount`` also counts instructions per item under callgrind (bench/rules_icount.py), which a
noisy machine does not move. No timing is asserted.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rules import SHIPPED, items  # noqa: E402
from benchlib import load_average  # noqa: E402
from rules_icount import instructions_per_item  # noqa: E402

from bot.pipeline.rulebook import read_rule_files  # noqa: E402
from rules import Engine, Item, RuleSet, compile_ruleset, load_ruleset  # noqa: E402


def ruleset(folder: Path) -> RuleSet:
    """The folder's rules as the bot loads them, its doubt.json included."""
    return load_ruleset(read_rule_files(folder))


def cpu_per_item(engine: Engine, workload: list[Item]) -> float:
    start = time.process_time()
    for it in workload:
        engine.evaluate(it)
    return (time.process_time() - start) / len(workload) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=SHIPPED)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--icount", action="store_true")
    args = parser.parse_args()
    workload = items()
    sets = {"base": ruleset(args.base), "new": ruleset(args.new)}
    engines = {name: compile_ruleset(rs) for name, rs in sets.items()}
    for engine in engines.values():  # warm
        cpu_per_item(engine, workload)
    times: dict[str, list[float]] = {"base": [], "new": []}
    print(f"{len(workload)} items, {args.rounds} rounds ({load_average()})")
    for _ in range(args.rounds):
        for name, engine in engines.items():
            times[name].append(cpu_per_item(engine, workload))
    ratios = [n / b for b, n in zip(times["base"], times["new"], strict=True)]
    base, new = statistics.median(times["base"]), statistics.median(times["new"])
    print(f"CPU per item: base {base:.1f} us, new {new:.1f} us")
    print(
        f"new/base: median of per-round ratios {statistics.median(ratios):.3f}"
        f" (range {min(ratios):.3f}-{max(ratios):.3f})"
    )
    if args.icount:
        with tempfile.TemporaryDirectory() as tmp:
            for name, rs in sets.items():
                path = Path(tmp) / f"{name}.pickle"
                path.write_bytes(pickle.dumps((rs, workload)))
                count = instructions_per_item(path, "new", len(workload))
                print(f"instructions per item, {name}: {count:,.0f}")
    print(f"after: {load_average()}")


if __name__ == "__main__":
    main()
