"""Instructions per item of a rules engine, counted by ``valgrind --tool=callgrind``.

Wall and CPU times on a shared machine move with the load; an instruction count does not.
The workload (a pickled rule set and items) is evaluated once to warm up and then once more
inside ``functools.reduce``, in a child process under callgrind, which counts only while that
C function runs (``--toggle-collect``): start-up, unpickling and compiling are not counted,
so one run per engine will do. Where the interpreter has no symbols to toggle on (the count
is then 0), a run with no counted pass is taken from one with one pass instead.

    .venv/bin/python bench/rules_icount.py WORKLOAD.pickle {new|main} PASSES   (the child)
"""

from __future__ import annotations

import functools
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["instructions_per_item"]

ROOT = Path(__file__).resolve().parents[1]
_COLLECTED = re.compile(r"Collected : (\d+)")
_TOGGLE = ["--collect-atstart=no", "--toggle-collect=functools_reduce"]


def _count(workload: Path, engine: str, passes: int, toggle: bool) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--icount needs valgrind on PATH")
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += _TOGGLE if toggle else []
    command += [sys.executable, __file__, str(workload), engine, str(passes)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def instructions_per_item(workload: Path, engine: str, items: int) -> float:
    """Instructions one evaluation of an item costs, on average over the ``items`` items."""
    counted = _count(workload, engine, 1, toggle=True)
    if counted == 0:  # no symbol to toggle on: subtract a run with no pass from one with one
        counted = _count(workload, engine, 1, toggle=False)
        counted -= _count(workload, engine, 0, toggle=False)
    return counted / items


def _child(workload: Path, engine: str, passes: int) -> None:
    sys.path.insert(0, str(ROOT))
    from rules import compile_ruleset
    from tests.helpers.refrules import Engine as Reference

    ruleset, items = pickle.loads(workload.read_bytes())  # noqa: S301 (our own file)
    evaluator = compile_ruleset(ruleset) if engine == "new" else Reference(ruleset)
    for item in items:  # warm
        evaluator.evaluate(item)
    evaluate = evaluator.evaluate
    for _ in range(passes):
        functools.reduce(lambda _, item: evaluate(item), items, None)


if __name__ == "__main__":
    _child(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
