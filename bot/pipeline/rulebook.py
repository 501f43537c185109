"""The running rule set: loaded from a folder, reloaded when its files change.

Build first, swap second: a broken edit is logged with every problem and the last good rule
set keeps running. An edit is judged only once it has settled: a file caught half-written by
an editor's save is not reported, and the next look reads what the save left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rules import Engine, compile_ruleset, load_ruleset
from rules.model import RuleSet
from rules.reload import reload_rules
from rules.yamlsrc import Problem, YamlError, decode_yaml

__all__ = ["ReloadReport", "Rulebook", "RulesFolderError", "read_rule_files"]

log = logging.getLogger(__name__)


class RulesFolderError(Exception):
    """The rules folder is missing or holds no YAML file."""


def _rule_paths(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def read_rule_files(folder: Path) -> dict[str, str]:
    """``{path: text}`` for every ``*.yaml``/``*.yml`` file directly in ``folder``.

    A file that is not UTF-8 text is a :class:`~rules.yamlsrc.YamlError` naming it and the
    place of its first bad byte (all such files at once).
    """
    if not folder.is_dir():
        raise RulesFolderError(f"no such rules folder: {folder}")
    paths = _rule_paths(folder)
    if not paths:
        raise RulesFolderError(f"no .yaml files in {folder}")
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for path in paths:
        try:
            texts[str(path)] = decode_yaml(path.read_bytes(), str(path))
        except YamlError as exc:
            problems += exc.problems
    if problems:
        raise YamlError(problems)
    return texts


@dataclass(frozen=True, slots=True)
class ReloadReport:
    at: datetime
    ok: bool
    changed: bool
    version: str
    problems: tuple[str, ...] = field(default=())
    previous: RuleSet | None = field(default=None, compare=False)  # what an accepted one replaced


# What one look at the folder found: its files' text, or why they could not be read.
_Snapshot = dict[str, str] | tuple[str, ...]


def _look(folder: Path) -> _Snapshot:
    try:
        return read_rule_files(folder)
    except YamlError as exc:
        return tuple(map(str, exc.problems))
    except (RulesFolderError, OSError) as exc:  # a folder emptied or unreadable mid-edit
        return (str(exc),)


class Rulebook:
    """Holds the compiled engine; :meth:`refresh` swaps in a changed, valid rule set."""

    def __init__(self, folder: Path, now: datetime) -> None:
        self.folder = folder
        # A broken rule set at start is fatal (YamlError): there is no last good one to keep.
        files = read_rule_files(folder)
        self.engine: Engine = compile_ruleset(load_ruleset(files))
        self.last = ReloadReport(now, True, True, self.version)
        self._judged: _Snapshot = files  # what the last load or reload was made of
        self._seen: _Snapshot = files  # what the previous look found

    @property
    def version(self) -> str:
        return self.engine.ruleset.version

    def refresh(self, now: datetime, *, force: bool = False) -> ReloadReport | None:
        """Reload if the files changed; None when there was nothing to do (yet).

        A change is judged when two looks in a row (two calls) find the same text, so a save
        in progress is never what gets rejected; ``force`` judges what is there now. The text
        is compared, not modification times: a save that keeps size and time is still seen.
        """
        snapshot = _look(self.folder)
        settled = snapshot == self._seen
        self._seen = snapshot
        if not force and (snapshot == self._judged or not settled):
            return None
        self._judged = snapshot
        if isinstance(snapshot, tuple):
            report = ReloadReport(now, False, False, self.version, snapshot)
        else:
            result = reload_rules(self.engine, snapshot)
            previous = self.engine.ruleset
            if result.engine is not None and result.changed:
                self.engine = result.engine
            problems = tuple(map(str, result.problems))
            report = ReloadReport(
                now, not problems, result.changed, self.version, problems, previous
            )
        if report.ok and report.changed:
            log.info("rules reloaded: version %s", report.version)
        elif not report.ok:
            log.error(
                "rules in %s rejected, keeping version %s:\n%s",
                self.folder,
                self.version,
                "\n".join(report.problems),
            )
        self.last = report
        return report
