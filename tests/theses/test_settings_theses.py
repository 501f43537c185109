"""THESISWATCH_RULES_DIR: one folder as before, or several separated by os.pathsep."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import DEFAULT_RULES, Settings

COPPER = DEFAULT_RULES.parent / "examples" / "copper-new-oil"


def test_default_is_the_shipped_thesis_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THESISWATCH_RULES_DIR", raising=False)
    assert Settings(_env_file=None).rules_dir == (DEFAULT_RULES,)  # type: ignore[call-arg]


def test_several_folders_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THESISWATCH_RULES_DIR", f"{DEFAULT_RULES}{os.pathsep}{COPPER}")
    assert Settings(_env_file=None).rules_dir == (DEFAULT_RULES, COPPER)  # type: ignore[call-arg]


def test_a_missing_folder_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("THESISWATCH_RULES_DIR", f"{DEFAULT_RULES}{os.pathsep}{tmp_path / 'gone'}")
    with pytest.raises(ValidationError, match=r"no such folder: .*gone"):
        Settings(_env_file=None)  # type: ignore[call-arg]
