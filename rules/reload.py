"""Build first, swap second: a new rule set replaces the running one only if it is whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rules.engine import Engine, compile_ruleset
from rules.loader import load_ruleset
from rules.yamlsrc import Problem, YamlError

__all__ = ["Reload", "reload_rules"]


@dataclass(frozen=True, slots=True)
class Reload:
    """The engine to run from now on, whether it changed, and why a new one was refused."""

    engine: Engine | None
    changed: bool
    problems: tuple[Problem, ...]


def reload_rules(current: Engine | None, files: Mapping[str, str]) -> Reload:
    """Load and compile ``files``; on any problem keep ``current`` and return the problems.

    An unchanged rule set (same version) keeps ``current`` too, so its compiled state is reused.
    """
    try:
        ruleset = load_ruleset(files)
    except YamlError as exc:
        return Reload(current, False, tuple(exc.problems))
    if current is not None and current.ruleset.version == ruleset.version:
        return Reload(current, False, ())
    return Reload(compile_ruleset(ruleset), True, ())
