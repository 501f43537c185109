"""Build first, swap second: a new rule set replaces the running one only if it is whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rules.book import load_book
from rules.engine import Engine, compile_ruleset
from rules.loader import load_ruleset
from rules.model import RuleSet
from rules.yamlsrc import Mark, Problem, YamlError

__all__ = ["BookReload", "Reload", "reload_book", "reload_rules"]


@dataclass(frozen=True, slots=True)
class Reload:
    """The engine to run from now on, whether it changed, and why a new one was refused."""

    engine: Engine | None
    changed: bool
    problems: tuple[Problem, ...]


def _emptied_legs(old: RuleSet, new: RuleSet) -> list[Problem]:
    """A leg that had rules and would have none: a file cut short by a save, most likely.

    Valid on its own, so the loader cannot see it; only the step from ``old`` shows it. The
    problem names the file that held the leg's first rule, the one to look at.
    """
    before = Counter(rule.leg for rule in old.rules)
    after = Counter(rule.leg for rule in new.rules)
    problems = []
    for leg in new.thesis.legs:
        if before[leg.id] and not after[leg.id] and not leg.allow_no_rules:
            first = next(rule for rule in old.rules if rule.leg == leg.id)
            file = first.where.rsplit(":", 1)[0] or "<rules>"
            problems.append(
                Problem(
                    Mark(file, 1, 1),
                    f"leg {leg.id!r} would be left with no rules (it had {before[leg.id]}, "
                    "this file held them); if that is meant, set allow_no_rules: true on the "
                    "leg in the thesis",
                )
            )
    return problems


def reload_rules(current: Engine | None, files: Mapping[str, str]) -> Reload:
    """Load and compile ``files``; on any problem keep ``current`` and return the problems.

    Besides the loader's problems, a reload is refused when it would take the last rule from
    a leg that had some, unless the leg is marked ``allow_no_rules``. An unchanged rule set
    (same version) keeps ``current`` too, so its compiled state is reused.
    """
    try:
        ruleset = load_ruleset(files)
    except YamlError as exc:
        return Reload(current, False, tuple(exc.problems))
    if current is not None:
        if current.ruleset.version == ruleset.version:
            return Reload(current, False, ())
        emptied = _emptied_legs(current.ruleset, ruleset)
        if emptied:
            return Reload(current, False, tuple(YamlError(emptied).problems))
    return Reload(compile_ruleset(ruleset), True, ())


@dataclass(frozen=True, slots=True)
class BookReload:
    """One engine per thesis to run from now on, what changed, and why a new book was refused."""

    engines: tuple[Engine, ...]
    changed: bool
    problems: tuple[Problem, ...]
    added: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()


def reload_book(current: Sequence[Engine], folders: Mapping[str, Mapping[str, str]]) -> BookReload:
    """Load every thesis folder; swap only if all of them are whole.

    A thesis whose version did not change keeps its compiled engine. A thesis whose folder
    appeared is added, one whose folder is gone is retired; a thesis still there is checked
    against its last good rules as :func:`reload_rules` does (no leg emptied by a save).
    """
    keep = tuple(current)
    try:
        book = load_book(folders)
    except YamlError as exc:
        return BookReload(keep, False, tuple(exc.problems))
    old = {e.ruleset.thesis.name: e for e in current}
    problems: list[Problem] = []
    for rs in book.rulesets:
        before = old.get(rs.thesis.name)
        if before is not None and before.ruleset.version != rs.version:
            problems += _emptied_legs(before.ruleset, rs)
    if problems:
        return BookReload(keep, False, tuple(YamlError(problems).problems))
    engines = tuple(
        old[rs.thesis.name]
        if rs.thesis.name in old and old[rs.thesis.name].ruleset.version == rs.version
        else compile_ruleset(rs)
        for rs in book.rulesets
    )
    changed = [e.ruleset.version for e in engines] != [e.ruleset.version for e in keep]
    names = set(book.names)
    return BookReload(
        engines if changed else keep,
        changed,
        (),
        added=tuple(n for n in book.names if n not in old),
        retired=tuple(n for n in old if n not in names),
    )
