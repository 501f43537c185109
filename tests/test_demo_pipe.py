"""`thesiswatch demo | head`: the reader leaving ends the demo quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("lines", [4])  # mid-alerts: the console deliverer is writing
def test_demo_piped_into_head_exits_quietly(tmp_path: Path, lines: int) -> None:
    exe = Path(sys.executable).parent / "thesiswatch"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}  # each line a write: the pipe breaks mid-run
    with subprocess.Popen(
        [str(exe), "demo"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        got = [proc.stdout.readline() for _ in range(lines)]
        proc.stdout.close()  # what head does once it has its lines
        err = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert got[0].startswith(b"thesiswatch demo:")
    assert err == b""
    assert code == 0
