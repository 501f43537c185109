"""Several theses side by side: one rule set per thesis folder, loaded and checked together.

A thesis folder is what a rules folder always was (``thesis.yaml``, ``vocabularies.yaml``, one
file per leg); its leg, rule and vocabulary ids need only be unique inside it. Two folders may
not name the same thesis. A leg is named ``thesis/leg`` across theses; a bare leg name is
enough where only one thesis has such a leg. Pure: it takes ``{folder: {file: text}}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from rules.loader import load_ruleset
from rules.model import Leg, RuleSet
from rules.yamlsrc import Mark, Problem, YamlError

__all__ = ["Book", "LegLookupError", "load_book", "split_leg_ref"]


class LegLookupError(LookupError):
    """A leg reference that names no leg, or several (the message says which)."""


def split_leg_ref(ref: str) -> tuple[str | None, str]:
    """``"thesis/leg"`` -> ``("thesis", "leg")``; ``"leg"`` -> ``(None, "leg")``."""
    thesis, sep, leg = ref.partition("/")
    return (thesis, leg) if sep else (None, ref)


@dataclass(frozen=True, slots=True)
class Book:
    """Every thesis the bot watches, in the order its folders were given: the first is the
    default (what an eval label, a command or a stored row without a thesis means)."""

    rulesets: tuple[RuleSet, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rs.thesis.name for rs in self.rulesets)

    @property
    def default(self) -> RuleSet:
        return self.rulesets[0]

    @property
    def version(self) -> str:
        """One thesis: its own version (so a one-thesis bot keeps the version it had)."""
        if len(self.rulesets) == 1:
            return self.rulesets[0].version
        joined = ";".join(f"{rs.thesis.name}:{rs.version}" for rs in self.rulesets)
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def ruleset(self, name: str | None) -> RuleSet:
        """The rule set of the thesis with this name (None: the default); KeyError if none."""
        if name is None:
            return self.default
        for rs in self.rulesets:
            if rs.thesis.name == name:
                return rs
        raise KeyError(name)

    def find_leg(self, ref: str) -> tuple[RuleSet, Leg]:
        """The thesis and leg ``ref`` names: ``thesis/leg``, or a leg name only one thesis has."""
        thesis, leg_id = split_leg_ref(ref)
        if thesis is not None:
            try:
                rs = self.ruleset(thesis)
            except KeyError:
                raise LegLookupError(
                    f"no thesis {thesis!r} (theses: {', '.join(self.names)})"
                ) from None
            candidates = [rs]
        else:
            candidates = list(self.rulesets)
        found = [(rs, leg) for rs in candidates for leg in rs.thesis.legs if leg.id == leg_id]
        if len(found) == 1:
            return found[0]
        if found:
            both = ", ".join(f"{rs.thesis.name}/{leg.id}" for rs, leg in found)
            raise LegLookupError(f"leg {leg_id!r} is in several theses: say which ({both})")
        known = ", ".join(self.qualified_legs() if len(candidates) > 1 else self.legs_of(thesis))
        raise LegLookupError(f"no leg {ref!r} (legs: {known})")

    def legs_of(self, thesis: str | None) -> tuple[str, ...]:
        return tuple(leg.id for leg in self.ruleset(thesis).thesis.legs)

    def leg_refs(self) -> frozenset[str]:
        """Every way to name a leg (a feed's topics): the bare leg name, and with several
        theses ``thesis/leg`` too; a bare name two theses share names both."""
        bare = frozenset(leg.id for rs in self.rulesets for leg in rs.thesis.legs)
        return bare | frozenset(self.qualified_legs()) if len(self.rulesets) > 1 else bare

    def qualified_legs(self) -> tuple[str, ...]:
        """Every leg as ``thesis/leg``, thesis by thesis."""
        return tuple(f"{rs.thesis.name}/{leg.id}" for rs in self.rulesets for leg in rs.thesis.legs)


def load_book(folders: Mapping[str, Mapping[str, str]]) -> Book:
    """One rule set per folder (``{folder: {file name: YAML text}}``), in the given order.

    Raises :class:`~rules.yamlsrc.YamlError` with every problem of every folder, and one for
    each thesis name already used by an earlier folder.
    """
    problems: list[Problem] = []
    rulesets: list[RuleSet] = []
    if not folders:
        raise YamlError([Problem(Mark("<rules>", 1, 1), "no thesis folders")])
    for files in folders.values():
        try:
            rulesets.append(load_ruleset(files))
        except YamlError as exc:
            problems += exc.problems
    first: dict[str, RuleSet] = {}
    for rs in rulesets:
        name = rs.thesis.name
        if name in first:
            file, line, col = rs.thesis.place
            there = first[name].thesis.place
            problems.append(
                Problem(
                    Mark(file, line, col),
                    f"thesis {name!r} already defined at {there[0]}:{there[1]}; "
                    "each thesis needs its own name",
                )
            )
        first.setdefault(name, rs)
    if problems:
        raise YamlError(problems)
    return Book(tuple(rulesets))
