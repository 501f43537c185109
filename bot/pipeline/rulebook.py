"""The running rule set: loaded from a folder, reloaded when its files change.

Build first, swap second: a broken edit is logged with every problem and the last good rule
set keeps running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rules import Engine, compile_ruleset, load_ruleset
from rules.reload import reload_rules

__all__ = ["ReloadReport", "Rulebook", "RulesFolderError", "read_rule_files"]

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


class RulesFolderError(Exception):
    """The rules folder is missing or holds no YAML file."""


def read_rule_files(folder: Path) -> dict[str, str]:
    """``{path: text}`` for every ``*.yaml``/``*.yml`` file directly in ``folder``."""
    if not folder.is_dir():
        raise RulesFolderError(f"no such rules folder: {folder}")
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not paths:
        raise RulesFolderError(f"no .yaml files in {folder}")
    return {str(p): p.read_text(encoding="utf-8") for p in paths}


@dataclass(frozen=True, slots=True)
class ReloadReport:
    at: datetime
    ok: bool
    changed: bool
    version: str
    problems: tuple[str, ...] = field(default=())


def _fingerprint(folder: Path) -> Fingerprint:
    stats = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            st = path.stat()
        except OSError:
            continue
        stats.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(stats)


class Rulebook:
    """Holds the compiled engine; :meth:`refresh` swaps in a changed, valid rule set."""

    def __init__(self, folder: Path, now: datetime) -> None:
        self.folder = folder
        self._stamp = _fingerprint(folder)
        # A broken rule set at start is fatal (YamlError): there is no last good one to keep.
        self.engine: Engine = compile_ruleset(load_ruleset(read_rule_files(folder)))
        self.last = ReloadReport(now, True, True, self.version)

    @property
    def version(self) -> str:
        return self.engine.ruleset.version

    def refresh(self, now: datetime, *, force: bool = False) -> ReloadReport | None:
        """Reload if the files changed (or ``force``); None when there was nothing to do."""
        stamp = _fingerprint(self.folder)
        if stamp == self._stamp and not force:
            return None
        self._stamp = stamp
        try:
            files = read_rule_files(self.folder)
        except Exception as exc:  # a folder emptied or unreadable mid-edit
            report = ReloadReport(now, False, False, self.version, (str(exc),))
        else:
            result = reload_rules(self.engine, files)
            if result.engine is not None and result.changed:
                self.engine = result.engine
            problems = tuple(map(str, result.problems))
            report = ReloadReport(now, not problems, result.changed, self.version, problems)
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
