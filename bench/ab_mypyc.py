"""The hot modules compiled by mypyc against the same source run by CPython (a trial, not a build).

    .venv/bin/python bench/ab_mypyc.py [--rounds R] [--no-icount] [--no-time] [--gen5000]

Copies this checkout's HEAD twice into a scratch directory (``git archive``), compiles
:data:`MODULES` in one copy with ``mypyc`` (from the dev tools), and measures both copies:

- instructions (``valgrind --tool=callgrind``, counted only inside ``functools.reduce``, as
  bench/rules_icount.py does): per item of the shipped rules on the corpus items, per item of
  10 (and with ``--gen5000``, 5,000) generated rules, per headline of :class:`StoryIndex`
  grouping (headline, search, add) and per new entry of ``store_entries`` into a fresh SQLite
  WAL file (50 x 200 topical and varied entries, the upsert section of bench_ingest.py);
- CPU time per item (shipped rules) and per new entry (``store_entries``), in child
  processes of the two copies alternating within each round; the ratio is taken per round.

Both copies must give the same signals on every item (checked on a digest). The load average
is printed per round. Figures and what they meant: /work/runs/mypyc-bench.md (issue 10).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULES = (
    "rules/engine.py",
    "rules/groups.py",
    "rules/matchers.py",
    "rules/itemtext.py",
    "rules/scan.py",
    "rules/story.py",
    "rules/doubt.py",
    "rules/text.py",
    "storage/stories.py",
)
_COLLECTED = re.compile(r"Collected : (\d+)")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def prepare(scratch: Path) -> dict[str, Path]:
    """Two copies of HEAD (the corpora beside them, as in /work), one compiled."""
    trees = {"pure": scratch / "pure" / "tree", "mypyc": scratch / "mypyc" / "tree"}
    for tree in trees.values():
        tree.mkdir(parents=True)
        archive = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "archive", "HEAD"],  # noqa: S607
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)  # noqa: S603, S607
        shared = ROOT.parent / "shared"
        if shared.exists():
            (tree.parent / "shared").symlink_to(shared)
        for held in (ROOT / "corpus").glob("*.jsonl"):  # corpora not tracked by git
            if not (tree / "corpus" / held.name).exists():
                shutil.copy(held, tree / "corpus" / held.name)
    mypyc = Path(sys.executable).with_name("mypyc")
    started = time.perf_counter()
    subprocess.run(  # noqa: S603
        [str(mypyc), *MODULES], cwd=trees["mypyc"], check=True, capture_output=True, text=True
    )
    print(f"compiled {len(MODULES)} modules with mypyc in {time.perf_counter() - started:.0f} s")
    return trees


# ---------------------------------------------------------------------------------------------
# children: run inside one copy (its root first on sys.path)


def _rules_workload(tree: Path, workload: str) -> tuple[Any, list[Any]]:
    sys.path[:0] = [str(tree), str(tree / "bench")]
    import bench_rules as br

    # The copy's rules, as bench_rules imported it (bench_rules exports only main).
    from rules import load_ruleset

    batch = br.items()
    if workload == "shipped":
        files = {p.name: p.read_text() for p in sorted(br.SHIPPED.glob("*.yaml"))}
        return load_ruleset(files), batch
    rules = load_ruleset({"thesis.yaml": br.THESIS, **br.rules_files(int(workload), topical=True)})
    return rules, br.seeded(batch, rules)


def _upsert_feeds(corpus: str) -> list[Any]:
    """The upsert section's 50 feeds of 200 entries (bench/ must already be on sys.path)."""
    from feeds_gen import generate_feeds, generate_topical_feeds

    if corpus == "topical":
        return list(generate_topical_feeds(50, seed=2, entries=200))
    return list(generate_feeds(50, seed=2, min_entries=200, max_entries=200))


def _store_workload(tree: Path, corpus: str) -> tuple[Callable[[Any, Any], None], list[Any]]:
    sys.path[:0] = [str(tree), str(tree / "bench")]
    from datetime import UTC, datetime

    from ingest_store import new_entry
    from sqlmodel import Session

    from storage.db import open_database
    from storage.feeds import sync_feeds
    from storage.items import StoryCache, store_entries
    from storage.records import FeedDef

    gen = _upsert_feeds(corpus)
    batches = [[new_entry(e, f"upsert-{f.index}") for e in f.entries] for f in gen]
    engine = open_database(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    defs = [FeedDef(f"u-{i}", f"https://x.invalid/{i}", "press", 300) for i in range(50)]
    with Session(engine) as session, session.begin():
        ids = sync_feeds(session, defs, deactivate_others=False)
    now, cache = datetime.now(UTC), StoryCache()

    def one(_: Any, pair: tuple[int, list[Any]]) -> None:
        with Session(engine) as session, session.begin():
            store_entries(
                session, feed_id=pair[0], tier="press", entries=pair[1], now=now, stories=cache
            )

    return one, list(zip(ids, batches, strict=True))


def _group_workload(tree: Path, corpus: str) -> tuple[Callable[[Any, Any], None], list[Any]]:
    sys.path[:0] = [str(tree), str(tree / "bench")]
    from ingest_store import new_entry

    from storage.stories import StoryIndex, micros

    gen = _upsert_feeds(corpus)
    entries = [new_entry(e, "x") for f in gen for e in f.entries]
    index = StoryIndex()

    def one(_: Any, e: Any) -> None:
        head = index.headline(e.title_sig, e.published_at)
        hit = index.search(head)
        if hit is None:
            index.add(index.max_id + 1, e.title_sig, e.published_at, head=head)
        else:
            index.move(hit[1], micros(e.published_at))

    return one, entries


def _child(kind: str, tree: Path, what: str, passes: int) -> None:
    """One workload in this copy: ``passes`` timed passes (0: one pass under callgrind)."""
    step: Callable[[Any, Any], None]
    work: list[Any]
    if kind == "rules":
        ruleset, items = _rules_workload(tree, what)
        from rules import compile_ruleset

        engine = compile_ruleset(ruleset)
        signals = repr([engine.evaluate(i) for i in items])  # warm, and what both must agree on

        def evaluate_one(_: Any, item: Any) -> None:
            engine.evaluate(item)

        step, work = evaluate_one, items
        digest = hashlib.sha256(signals.encode()).hexdigest()[:16]
    else:
        step, work = (_store_workload if kind == "store" else _group_workload)(tree, what)
        digest = ""
    import rules.engine

    cpu: list[float] = []
    for _ in range(max(passes, 1)):
        if kind == "store" and cpu:
            step, work = _store_workload(tree, what)  # a fresh database per pass
        started = time.process_time()
        functools.reduce(step, work, None)
        units = sum(len(b) for _, b in work) if kind == "store" else len(work)
        cpu.append((time.process_time() - started) / units)
    compiled = str(rules.engine.__file__).endswith(".so")
    print(json.dumps({"cpu": statistics.median(cpu), "compiled": compiled, "digest": digest}))


# ---------------------------------------------------------------------------------------------
# the parent


def _run(tree: Path, args: list[str], valgrind: bool = False) -> tuple[dict[str, Any], int]:
    command = [sys.executable, __file__, "--child", *args]
    if valgrind:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            *command,
        ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)  # noqa: S603
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    counted = _COLLECTED.search(done.stderr)
    return json.loads(done.stdout.splitlines()[-1]), int(counted.group(1)) if counted else 0


UNITS = {"rules": "item", "group": "headline", "store": "new entry"}


def icount(trees: dict[str, Path], gen5000: bool) -> None:
    print("instructions (callgrind, one counted pass):")
    cases = [("rules", "shipped", 385), ("rules", "10", 385)]
    cases += [("rules", "5000", 385)] if gen5000 else []
    cases += [(k, c, 10_000) for k in ("group", "store") for c in ("topical", "varied")]
    for kind, what, _ in cases:
        got = {}
        for name, tree in trees.items():
            out, count = _run(tree, [kind, str(tree), what, "0"], valgrind=True)
            assert out["compiled"] == (name == "mypyc"), (name, out)
            got[name] = (out, count)
        if kind == "rules":
            assert got["pure"][0]["digest"] == got["mypyc"][0]["digest"], "signals differ"
        n = {"rules": 0, "group": 10_000, "store": 10_000}[kind]
        if kind == "rules":
            n = _items(trees["pure"], what)
        pure, comp = got["pure"][1] / n, got["mypyc"][1] / n
        print(
            f"  {kind} {what:<8} pure {pure:>10,.0f}  mypyc {comp:>10,.0f} per {UNITS[kind]}"
            f"  pure/mypyc {pure / comp:.2f}x",
            flush=True,
        )


@functools.cache
def _items(tree: Path, workload: str) -> int:
    code = (
        f"import sys; sys.path[:0] = [{str(tree)!r}, {str(tree / 'bench')!r}]; "
        "import bench_rules as br; print(len(br.items()))"
    )
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return int(out.stdout)


def timing(trees: dict[str, Path], rounds: int) -> None:
    print(f"CPU time per unit, {rounds} rounds, the two copies alternating:")
    for kind, what, passes in (("rules", "shipped", "5"), ("store", "topical", "1")):
        samples: dict[str, list[float]] = {"pure": [], "mypyc": []}
        ratios = []
        for r in range(rounds):
            order = ["pure", "mypyc"] if r % 2 else ["mypyc", "pure"]
            got = {n: _run(trees[n], [kind, str(trees[n]), what, passes])[0] for n in order}
            if kind == "rules":
                assert got["pure"]["digest"] == got["mypyc"]["digest"], "signals differ"
            for n in order:
                samples[n].append(got[n]["cpu"] * 1e6)
            ratios.append(got["pure"]["cpu"] / got["mypyc"]["cpu"])
            print(
                f"  {kind} {what} round {r + 1}: pure {samples['pure'][-1]:.1f} us, mypyc "
                f"{samples['mypyc'][-1]:.1f} us; load {_load()}",
                flush=True,
            )
        print(
            f"  {kind} {what}: pure {statistics.median(samples['pure']):.1f} us CPU per "
            f"{UNITS[kind]}, mypyc {statistics.median(samples['mypyc']):.1f}; pure/mypyc median "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-icount", action="store_true")
    parser.add_argument("--no-time", action="store_true")
    parser.add_argument("--gen5000", action="store_true", help="also 5,000 rules (slow icount)")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "TREE", "WHAT", "PASSES"))
    args = parser.parse_args()
    if args.child:
        kind, tree, what, passes = args.child
        _child(kind, Path(tree), what, int(passes))
        return
    print(f"ab_mypyc: Python {sys.version.split()[0]}; before: load {_load()}")
    with tempfile.TemporaryDirectory(prefix="ab-mypyc-") as tmp:
        trees = prepare(Path(tmp))
        if not args.no_icount:
            icount(trees, args.gen5000)
        if not args.no_time:
            timing(trees, args.rounds)
    print(f"after: load {_load()}")


if __name__ == "__main__":
    main()
