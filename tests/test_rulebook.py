"""The running rule set against real files: what an editor's save leaves, and garbage."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from bot.pipeline.rulebook import Rulebook
from rules import YamlError
from tests.helpers.db import T0

DEFAULT_RULES = Path(__file__).resolve().parents[1] / "rules" / "default"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEFAULT_RULES, tmp_path / "rules"))


def settle(book: Rulebook) -> object:
    """Two looks: the first sees the change, the second judges it once it held still."""
    assert book.refresh(T0) is None
    return book.refresh(T0)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_emptied_file_is_rejected_naming_it_and_every_rule_keeps_running(
    folder: Path,
) -> None:
    book = Rulebook(folder, T0)
    before = book.engine.ruleset
    assert any(rule.leg == "h20-ban" for rule in before.rules)
    (folder / "h20-ban.yaml").write_bytes(b"")

    report = settle(book)

    assert report is not None
    assert not report.ok
    assert report.problems == (
        f"{folder / 'h20-ban.yaml'}:1:1: rules file is empty; delete the file to drop it",
    )
    assert book.engine.ruleset is before


def test_a_leg_left_without_rules_is_refused_naming_the_file(folder: Path) -> None:
    book = Rulebook(folder, T0)
    before = book.engine.ruleset
    had = sum(rule.leg == "h20-ban" for rule in before.rules)
    (folder / "h20-ban.yaml").write_text("vocabularies:\n  china-imports: [import~]\n")

    report = settle(book)

    assert report is not None
    assert not report.ok
    [problem] = report.problems
    assert problem.startswith(
        f"{folder / 'h20-ban.yaml'}:1:1: leg 'h20-ban' would be left with no rules (it had {had},"
    )
    assert book.engine.ruleset is before


def test_a_save_caught_half_written_is_not_rejected_and_the_saved_text_is_picked_up(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    book = Rulebook(folder, T0)
    path = folder / "h20-ban.yaml"
    edited = path.read_text().replace("severity: critical", "severity: high", 1)
    caplog.set_level(logging.INFO, logger="bot.pipeline.rulebook")

    path.write_text(edited[: len(edited) // 2])  # the editor is still writing
    assert book.refresh(T0) is None
    path.write_text("")  # truncated again: a second save started
    assert book.refresh(T0) is None
    path.write_text(edited)  # the save is done
    report = settle(book)

    assert errors(caplog) == []
    assert report is not None
    assert report.ok
    assert report.changed
    assert book.last is report


def test_a_rejection_does_not_stick_when_the_fix_keeps_size_and_time(folder: Path) -> None:
    book = Rulebook(folder, T0)
    good_version = book.version
    path = folder / "h20-ban.yaml"
    good = path.read_text()
    stat = path.stat()
    path.write_text(good.replace("effect: breaks", "effect: brakes", 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    rejected = settle(book)
    assert rejected is not None
    assert not rejected.ok
    assert "effect must be one of confirms, breaks, reverses" in rejected.problems[0]

    fixed = good.replace("severity: critical", "severity: high    ", 1)  # same size
    assert len(fixed) == len(good)
    path.write_text(fixed)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = settle(book)

    assert report is not None
    assert report.ok
    assert report.changed
    assert book.version != good_version


def test_a_garbage_file_is_rejected_naming_it(folder: Path) -> None:
    book = Rulebook(folder, T0)
    before = book.engine.ruleset
    (folder / "notes.yaml").write_bytes(b"rules:\n  - id: x\xff\xfe\x00garbage\n")

    report = settle(book)

    assert report is not None
    assert report.problems == (
        f"{folder / 'notes.yaml'}:2:10: not UTF-8 text (byte 0xff): is this a rules file?",
    )
    assert book.engine.ruleset is before


def test_the_second_stage_reloads_with_the_rules_and_a_broken_one_is_rejected(
    folder: Path,
) -> None:
    book = Rulebook(folder, T0)
    shipped = book.engine.ruleset
    assert shipped.doubt is not None  # the copy of rules/default carries doubt.json
    model = folder / "doubt.json"
    model.write_text('{"threshold": 0.5, "bias": 0, "weights": {"t:denies": -3}}')

    report = settle(book)

    assert report is not None
    assert report.ok
    assert report.changed
    retrained = book.engine.ruleset
    assert retrained.doubt is not None
    assert retrained.doubt.weights == {"t:denies": -3.0}
    assert retrained.version != shipped.version
    model.write_text('{"threshold": 0.5, "bias": 0, "weights": [1, 2]}')

    report = settle(book)

    assert report is not None
    assert not report.ok
    assert report.problems == (f"{model}:1:1: weights must map feature names to numbers",)
    assert book.engine.ruleset is retrained


def test_a_forced_reload_judges_at_once(folder: Path) -> None:
    book = Rulebook(folder, T0)
    (folder / "h20-ban.yaml").write_bytes(b"")
    report = book.refresh(T0, force=True)
    assert report is not None
    assert not report.ok
    assert book.refresh(T0) is None  # judged already: not reported again


def test_an_empty_file_at_start_stops_the_start(folder: Path) -> None:
    (folder / "wfe-controls.yaml").write_bytes(b"\n")
    with pytest.raises(YamlError) as caught:
        Rulebook(folder, T0)
    assert str(caught.value) == (
        f"{folder / 'wfe-controls.yaml'}:1:1: rules file is empty; delete the file to drop it"
    )
