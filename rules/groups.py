"""Numbered groups of atoms, so a rule's cheap checks are one subset test of small ints.

A rule may only match if each of its required groups has an atom in the text (or the title).
Testing each group against the text's atoms (``any(map(present.isdisjoint, groups))``) walks
the text's set once per group: about 1,500 instructions a check, some 36 checks per shipped
item. Instead the groups are numbered once per rule set, and once per item the numbers of the
groups that have an atom present are gathered from each present atom's groups; a rule's check
is then ``its group numbers <= those``, exactly the same test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import repeat

from rules.matchers import Atoms
from rules.model import Expr, Field, Term

__all__ = ["GroupNumbers", "groups_found", "title_groups"]


class GroupNumbers:
    """Numbers each distinct group of atoms; then, per atom, the groups that hold it."""

    def __init__(self) -> None:
        self._ids: dict[frozenset[int], int] = {}

    def number(self, groups: Iterable[frozenset[int]]) -> frozenset[int]:
        """The numbers of ``groups``."""
        return frozenset(self._ids.setdefault(g, len(self._ids)) for g in groups)

    def by_atom(self) -> dict[int, tuple[int, ...]]:
        """Each atom's groups, by number (atoms in no group are left out)."""
        out: dict[int, list[int]] = {}
        for group, number in self._ids.items():
            for atom in group:
                out.setdefault(atom, []).append(number)
        return {atom: tuple(numbers) for atom, numbers in out.items()}


_NONE: tuple[int, ...] = ()


def groups_found(by_atom: Mapping[int, tuple[int, ...]], atoms: set[int]) -> set[int]:
    """The numbers of the groups that have one of ``atoms`` (at C speed: a union of tuples)."""
    return set().union(*map(by_atom.get, atoms, repeat(_NONE)))


def title_groups(expr: Expr | Term, atoms: Atoms, where: Field = "any") -> list[frozenset[int]]:
    """Groups of atoms such that ``expr`` can only match if each group has one in the title.

    Most shipped rules read the headline only, and an item's summary often holds their words:
    a check at C speed against the title's atoms spares them a full evaluation."""
    if isinstance(expr, Term):
        return [frozenset(atoms.get(p) for p in expr.phrases)] if where == "title" else []
    where = expr.field if expr.field != "any" else where
    groups = [g for part in expr.all for g in title_groups(part, atoms, where)]
    if expr.any:
        union: set[int] = set()
        for part in expr.any:
            inner = title_groups(part, atoms, where)
            if not inner:
                return groups
            union |= min(inner, key=len)  # any one necessary group of a part will do
        groups.append(frozenset(union))
    return groups
