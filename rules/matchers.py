"""How one compiled expression matches an item's text: word occurrences, windows and guards.

The engine finds every phrase once per item (:class:`Text` ``occ``); an expression then only
looks up and combines occurrences. A position is a word number; summary words are offset by
:data:`GAP` so no window can join a title word to a summary word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain

from rules.itemtext import GAP, Occ, Text
from rules.model import Field, Node, Term

__all__ = [
    "AS_HEADLINE",
    "GAP",
    "Atoms",
    "ExprMatcher",
    "GuardMatcher",
    "Matcher",
    "Occ",
    "Text",
    "compile_expr",
    "required_groups",
    "window",
]

_MAX_REGEX_HITS = 8
_ONE = 1


def _in_field(pos: int, where: Field, lead: int = 0) -> bool:
    if where == "any":
        return True
    if where == "lead":
        return GAP <= pos < GAP + lead
    return (pos >= GAP) == (where == "summary")


class Matcher:
    def eval(self, text: Text) -> list[Occ] | None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _TermM(Matcher):
    atoms: tuple[int, ...]
    where: Field
    atom_set: frozenset[int] = frozenset()
    single: int = -1  # the atom of a term of one phrase: one dictionary lookup, no set made

    def eval(self, text: Text) -> list[Occ] | None:
        # The lists returned are shared with ``text.occ``: callers never mutate them.
        occ = text.occ
        if self.single >= 0:
            found = occ.get(self.single)
            if found is None:
                return None
        else:
            # A set intersection at C speed walks the smaller side: a vocabulary has hundreds
            # of inflected phrases, an item a few dozen; most terms find nothing and stop here.
            hits = self.atom_set & text.present
            if not hits:
                return None
            found = occ[next(iter(hits))] if len(hits) == 1 else [o for a in hits for o in occ[a]]
        where = self.where
        if where == "any":
            return found
        if where == "title":
            return [o for o in found if o[0] < GAP] or None
        if where == "summary":
            return [o for o in found if o[0] >= GAP] or None
        lead = text._lead  # the property's value once found: a property call costs a frame
        end = GAP + (text.lead if lead is None else lead)
        return [o for o in found if GAP <= o[0] < end] or None


# The common term shapes, each with an ``eval`` of its own (no tests of ``single`` and
# ``where`` per call). An atom's occurrences are listed by first word (rules/scan.py), so the
# title's are a prefix of its list. Several atoms' lists are joined in the order of a set of
# ints, as before: every caller either sorts them, makes a set of them, or checks each.
class _AnyTerm1(_TermM):
    __slots__ = ()

    def eval(self, text: Text) -> list[Occ] | None:
        return text.occ.get(self.single)


class _AnyTermN(_TermM):
    __slots__ = ()

    def eval(self, text: Text) -> list[Occ] | None:
        hits = self.atom_set & text.present
        if not hits:
            return None
        occ = text.occ
        if len(hits) == 1:
            return occ[next(iter(hits))]
        return list(chain.from_iterable(map(occ.__getitem__, hits)))


class _TitleTerm1(_TermM):
    __slots__ = ()

    def eval(self, text: Text) -> list[Occ] | None:
        found = text.occ.get(self.single)
        if found is None or found[0][0] >= GAP:
            return None
        if found[-1][0] < GAP:
            return found
        return [o for o in found if o[0] < GAP]


class _TitleTermN(_TermM):
    __slots__ = ()

    def eval(self, text: Text) -> list[Occ] | None:
        # ``in_title``: the atoms found in the title (of this view), usually fewer than present.
        hits = self.atom_set & text.in_title
        if not hits:
            return None
        occ = text.occ
        return [o for a in hits for o in occ[a] if o[0] < GAP]


def _term(atoms: tuple[int, ...], where: Field) -> _TermM:
    """The term matcher of these atoms in ``where``, of the class for its shape."""
    single = _single(atoms)
    kind: type[_TermM] = _TermM
    if where == "any":
        kind = _AnyTerm1 if single >= 0 else _AnyTermN
    elif where == "title":
        kind = _TitleTerm1 if single >= 0 else _TitleTermN
    return kind(atoms, where, frozenset(atoms), single)


@dataclass(frozen=True, slots=True)
class _RegexM(Matcher):
    pattern: re.Pattern[str]
    literal: int
    where: Field

    def eval(self, text: Text) -> list[Occ] | None:
        if self.literal not in text.literals:
            return None
        found: list[Occ] = []
        for index, canon in enumerate(text.canon):
            if not (_in_field(index * GAP, self.where) or (index and self.where == "lead")):
                continue
            for hit in self.pattern.finditer(canon):
                start = canon.count(" ", 0, hit.start()) + index * GAP
                end = canon.count(" ", 0, max(hit.end() - 1, hit.start())) + 1 + index * GAP
                if self.where == "lead" and not _in_field(start, "lead", text.lead):
                    break
                if text.bounds is not None and not text.bounds[0] <= start < text.bounds[1]:
                    continue
                found.append((start, end))
                if len(found) >= _MAX_REGEX_HITS:
                    break
        return found or None


def _single(atoms: Iterable[int]) -> int:
    """The atom of a term of one phrase, else -1."""
    only = set(atoms)
    return only.pop() if len(only) == 1 else -1


def window(lists: list[list[Occ]], within: int) -> list[Occ] | None:
    """Occurrences, one or more from each list, whose first words lie within ``within`` words."""
    if all(map(_ONE.__eq__, map(len, lists))):  # the usual case: each part found once
        starts = [occs[0][0] for occs in lists]
        return [occs[0] for occs in lists] if max(starts) - min(starts) <= within else None
    events = sorted([(o[0], i, o) for i, occs in enumerate(lists) for o in occs])
    counts = [0] * len(lists)
    have = left = 0
    for right, (start, i, _) in enumerate(events):
        counts[i] += 1
        have += counts[i] == 1
        while start - events[left][0] > within:
            j = events[left][1]
            counts[j] -= 1
            have -= counts[j] == 0
            left += 1
        if have == len(lists):
            return [e[2] for e in events[left : right + 1]]
    return None


@dataclass(frozen=True, slots=True)
class ExprMatcher(Matcher):
    all: tuple[Matcher, ...]
    any: tuple[Matcher, ...]
    none: tuple[Matcher, ...]
    regex: Matcher | None
    within: int | None
    # Groups of atoms of which each must be present for a match: checked first, at C speed.
    need: tuple[frozenset[int], ...] = ()
    # The ``any`` parts as one term, when all are terms of one field: the same occurrences
    # (some perhaps once instead of twice, which no caller counts) for one lookup.
    any_term: Matcher | None = None

    def eval(self, text: Text) -> list[Occ] | None:  # noqa: C901 (one frame, see below)
        # One frame: the parts are walked here, not in helpers (a call costs a frame each,
        # and this runs some 25 times per shipped item).
        need = self.need
        if need and any(map(text.present.isdisjoint, need)):
            return None
        found: list[Occ] | None
        if self.all:
            lists: list[list[Occ]] = []
            for part in self.all:
                got = part.eval(text)
                if got is None:
                    return None
                lists.append(got)
            if self.within is None:
                found = list(chain.from_iterable(lists))
            else:
                found = window(lists, self.within)
                if found is None:
                    return None
        else:
            found = []
        if self.any:
            if self.any_term is not None:
                got = self.any_term.eval(text)
                if got is None:
                    return None
                found += got
            else:
                hit = False
                for part in self.any:
                    got = part.eval(text)
                    if got is not None:
                        found += got
                        hit = True
                if not hit:
                    return None
        if self.regex is not None:
            got = self.regex.eval(text)
            if got is None:
                return None
            found += got
        for part in self.none:
            if part.eval(text) is not None:
                return None
        return found


@dataclass(frozen=True, slots=True)
class GuardMatcher:
    matcher: Matcher
    near: int | None

    def holds(self, text: Text, match: list[Occ]) -> list[Occ] | None:
        found = self.matcher.eval(text)
        if found is None:
            return None
        # A guard speaks through other words than the match's own: "halts" cannot both be
        # the blocking verb a rule matched and the easing verb that vetoes it. With ``near``,
        # it must also lie within ``near`` words of one of them (its gap: words between).
        near = -1 if self.near is None else self.near
        kept: list[Occ] = []
        for g in found:
            lo, hi = g
            close = near < 0
            for start, end in match:
                if lo < end and start < hi:
                    break  # overlaps the match
                if not close and max(lo - end, start - hi) <= near:
                    close = True
            else:
                if close:
                    kept.append(g)
        return kept or None


class Atoms:
    """Numbers each distinct phrase (word-bounded) and regex literal (anywhere)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[bool, str], int] = {}

    def get(self, text: str, *, literal: bool = False) -> int:
        return self.ids.setdefault((literal, text), len(self.ids))


def required_groups(expr: Node, atoms: Atoms) -> list[frozenset[int]]:
    """Groups of atoms such that ``expr`` can only match if each group has one that occurs."""
    if isinstance(expr, Term):
        return [frozenset(atoms.get(p) for p in expr.phrases)]
    groups: list[frozenset[int]] = []
    if expr.regex is not None:
        groups.append(frozenset({atoms.get(expr.regex.literal, literal=True)}))
    for part in expr.all:
        groups += required_groups(part, atoms)
    if expr.any:
        union: set[int] = set()
        for part in expr.any:
            inner = required_groups(part, atoms)
            if not inner:
                break
            union |= min(inner, key=len)  # any one necessary group of a part will do
        else:
            groups.append(frozenset(union))
    return groups


# Reading the summary's lead as if it were the headline: what the title (or the whole text)
# would be searched for is searched for in the lead.
AS_HEADLINE: Mapping[Field, Field] = {"title": "lead", "any": "lead"}


def _field(where: Field, retarget: Mapping[Field, Field] | None) -> Field:
    # ``headline`` is the title in every reading: the lead pass retargets the title to the
    # lead, but a guard may need the real headline ("a headline about talks, over a lead that
    # mentions an approval as background").
    where = retarget.get(where, where) if retarget else where
    return "title" if where == "headline" else where


def compile_expr(
    expr: Node,
    atoms: Atoms,
    where: Field,
    retarget: Mapping[Field, Field] | None = None,
    checked: frozenset[frozenset[int]] = frozenset(),
    *,
    flatten: bool = True,
) -> Matcher:
    """The matcher of ``expr`` read in ``where``; ``retarget`` maps fields to others (see
    :data:`AS_HEADLINE`), applied after inheritance so nested ``in:`` keep their meaning.
    ``checked``: groups of atoms known present whenever this matcher runs (its parents').
    ``flatten``: an expression that only wraps one part (or an ``any`` of terms) may become
    that part; a rule's own match stays an :class:`ExprMatcher` (rules/diagnose.py reads it)."""
    if isinstance(expr, Term):
        atom_ids = tuple(sorted({atoms.get(p) for p in expr.phrases}))
        field = _field(where, retarget)
        return _term(atom_ids, field)
    where = expr.field if expr.field != "any" else where
    wraps = (*expr.all, *expr.any)
    if flatten and len(wraps) == 1 and not (expr.none or expr.regex) and expr.within is None:
        return compile_expr(wraps[0], atoms, where, retarget, checked)

    need = tuple(g for g in dict.fromkeys(required_groups(expr, atoms)) if g not in checked)
    # A lone group is what the first term looks up anyway.
    need = need if len(need) > 1 or (need and not expr.all) else ()
    inner = checked | frozenset(need)

    def parts(nodes: Iterable[Node], known: frozenset[frozenset[int]]) -> tuple[Matcher, ...]:
        return tuple(compile_expr(n, atoms, where, retarget, known) for n in nodes)

    regex = None
    if expr.regex is not None:
        literal = atoms.get(expr.regex.literal, literal=True)
        field = _field(where, retarget)
        regex = _RegexM(re.compile(expr.regex.pattern), literal, field)
    any_parts = parts(expr.any, inner)
    any_term = None
    if len(any_parts) > 1 and all(isinstance(p, _TermM) for p in any_parts):
        fields = {p.where for p in any_parts if isinstance(p, _TermM)}
        if len(fields) == 1:
            union = frozenset(a for p in any_parts if isinstance(p, _TermM) for a in p.atoms)
            any_term = _term(tuple(sorted(union)), fields.pop())
    if flatten and any_term is not None and not (expr.all or expr.none or regex):
        return any_term
    all_parts, none_parts = parts(expr.all, inner), parts(expr.none, checked)
    return ExprMatcher(all_parts, any_parts, none_parts, regex, expr.within, need, any_term)
