"""Instructions per item of a rules engine, counted by ``valgrind --tool=callgrind``.

Wall and CPU times on a shared machine move with the load; an instruction count does not.
The workload (a pickled rule set and items) is evaluated once to warm up and then ``passes``
more times, in a child process under callgrind; the count of a run with no pass is taken from
one with one pass, so start-up, unpickling and compiling cancel out.

    .venv/bin/python bench/rules_icount.py WORKLOAD.pickle {new|main} PASSES   (the child)
"""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["instructions_per_item"]

ROOT = Path(__file__).resolve().parents[1]
_COLLECTED = re.compile(r"Collected : (\d+)")


def _count(workload: Path, engine: str, passes: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--icount needs valgrind on PATH")
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, __file__, str(workload), engine, str(passes)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def instructions_per_item(workload: Path, engine: str, items: int) -> float:
    """Instructions one evaluation of an item costs, on average over the ``items`` items."""
    return (_count(workload, engine, 1) - _count(workload, engine, 0)) / items


def _child(workload: Path, engine: str, passes: int) -> None:
    sys.path.insert(0, str(ROOT))
    from rules import compile_ruleset
    from tests.helpers.refrules import Engine as Reference

    ruleset, items = pickle.loads(workload.read_bytes())  # noqa: S301 (our own file)
    evaluator = compile_ruleset(ruleset) if engine == "new" else Reference(ruleset)
    for _ in range(passes + 1):
        for item in items:
            evaluator.evaluate(item)


if __name__ == "__main__":
    _child(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
