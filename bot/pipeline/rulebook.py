"""The running rule sets: one per thesis folder, reloaded when their files change.

The rules setting lists folders (separated by ``os.pathsep``). A folder with YAML files in it
is one thesis; a folder without, whose subfolders hold YAML files, is a shelf of theses, one
per subfolder: adding or deleting a subfolder adds or retires a thesis at the next reload.

Build first, swap second: a broken edit is logged with every problem and the last good rule
set keeps running. An edit is judged only once it has settled: a file caught half-written by
an editor's save is not reported, and the next look reads what the save left.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rules import Engine, compile_ruleset
from rules.book import Book, load_book
from rules.loader import DOUBT_FILE
from rules.reload import reload_book
from rules.yamlsrc import Problem, YamlError, decode_yaml

__all__ = [
    "ReloadReport",
    "Rulebook",
    "RulesFolderError",
    "read_book_files",
    "read_rule_files",
    "thesis_folders",
]

log = logging.getLogger(__name__)


class RulesFolderError(Exception):
    """The rules folder is missing or holds no YAML file."""


def _rule_paths(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def read_rule_files(folder: Path) -> dict[str, str]:
    """``{path: text}`` for every ``*.yaml``/``*.yml`` file directly in ``folder``, and its
    ``doubt.json`` (the second stage's weights, rules/doubt.py) when there is one.

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
    model = folder / DOUBT_FILE
    if model.is_file():
        try:
            texts[str(model)] = decode_yaml(model.read_bytes(), str(model))
        except YamlError as exc:
            problems += exc.problems
    if problems:
        raise YamlError(problems)
    return texts


def thesis_folders(roots: Sequence[Path]) -> list[Path]:
    """Each thesis folder: a root with YAML files, or each subfolder of a root without."""
    out: list[Path] = []
    for root in roots:
        if not root.is_dir():
            raise RulesFolderError(f"no such rules folder: {root}")
        if _rule_paths(root):
            out.append(root)
            continue
        subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
        if not subs:
            raise RulesFolderError(f"no .yaml files in {root}")
        out += subs
    return out


def read_book_files(roots: Sequence[Path]) -> dict[str, dict[str, str]]:
    """``{thesis folder: {path: text}}``; every undecodable file of every folder at once."""
    book: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    for folder in thesis_folders(roots):
        try:
            book[str(folder)] = read_rule_files(folder)
        except YamlError as exc:
            problems += exc.problems
    if problems:
        raise YamlError(problems)
    return book


@dataclass(frozen=True, slots=True)
class ReloadReport:
    at: datetime
    ok: bool
    changed: bool
    version: str
    problems: tuple[str, ...] = field(default=())
    previous: Book | None = field(default=None, compare=False)  # what an accepted one replaced


# What one look at the folder found: its files' text, or why they could not be read.
_Snapshot = dict[str, dict[str, str]] | tuple[str, ...]


def _look(folders: Sequence[Path]) -> _Snapshot:
    try:
        return read_book_files(folders)
    except YamlError as exc:
        return tuple(map(str, exc.problems))
    except (RulesFolderError, OSError) as exc:  # a folder emptied or unreadable mid-edit
        return (str(exc),)


class Rulebook:
    """Holds one compiled engine per thesis; :meth:`refresh` swaps in a changed, valid book."""

    def __init__(self, folders: Path | Sequence[Path], now: datetime) -> None:
        self.folders: tuple[Path, ...] = (folders,) if isinstance(folders, Path) else tuple(folders)
        self.folder = self.folders[0]
        # A broken rule set at start is fatal (YamlError): there is no last good one to keep.
        files = read_book_files(self.folders)
        self.engines: tuple[Engine, ...] = tuple(
            compile_ruleset(rs) for rs in load_book(files).rulesets
        )
        self.last = ReloadReport(now, True, True, self.version)
        self._judged: _Snapshot = files  # what the last load or reload was made of
        self._seen: _Snapshot = files  # what the previous look found

    @property
    def engine(self) -> Engine:
        """The default thesis's engine (the first folder's)."""
        return self.engines[0]

    @property
    def book(self) -> Book:
        return Book(tuple(e.ruleset for e in self.engines))

    def engine_of(self, thesis: str | None) -> Engine:
        """The engine of the thesis with this name (None: the default); KeyError if none."""
        if thesis is None:
            return self.engine
        for engine in self.engines:
            if engine.ruleset.thesis.name == thesis:
                return engine
        raise KeyError(thesis)

    @property
    def version(self) -> str:
        return self.book.version

    def refresh(self, now: datetime, *, force: bool = False) -> ReloadReport | None:
        """Reload if the files changed; None when there was nothing to do (yet).

        A change is judged when two looks in a row (two calls) find the same text, so a save
        in progress is never what gets rejected; ``force`` judges what is there now. The text
        is compared, not modification times: a save that keeps size and time is still seen.
        """
        snapshot = _look(self.folders)
        settled = snapshot == self._seen
        self._seen = snapshot
        if not force and (snapshot == self._judged or not settled):
            return None
        self._judged = snapshot
        if isinstance(snapshot, tuple):
            report = ReloadReport(now, False, False, self.version, snapshot)
        else:
            previous = self.book
            result = reload_book(self.engines, snapshot)
            if result.changed:
                self.engines = result.engines
            for name in result.added:
                log.info("thesis %s added", name)
            for name in result.retired:
                log.info("thesis %s retired", name)
            problems = tuple(map(str, result.problems))
            report = ReloadReport(
                now, not problems, result.changed, self.version, problems, previous
            )
        if report.ok and report.changed:
            log.info("rules reloaded: version %s", report.version)
        elif not report.ok:
            log.error(
                "rules in %s rejected, keeping version %s:\n%s",
                ", ".join(map(str, self.folders)),
                self.version,
                "\n".join(report.problems),
            )
        self.last = report
        return report
