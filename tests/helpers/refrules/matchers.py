"""How one compiled expression matches an item's text: word occurrences, windows and guards.

The engine finds every phrase once per item (:class:`Text` ``occ``); an expression then only
looks up and combines occurrences. A position is a word number; summary words are offset by
:data:`GAP` so no window can join a title word to a summary word.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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

# Word positions in the summary are offset by this much so no "within"/"near" window can join
# a title word to a summary word.
GAP = 1_000_000
_MAX_REGEX_HITS = 8

Occ = tuple[int, int]  # (first word, word after the last)


@dataclass(slots=True)
class Text:
    """One item's text, as the compiled rules see it."""

    display: tuple[str, str]  # title and summary after NFKC, for span text
    folded: tuple[str, str]  # the same, folded: offsets match ``display``
    words: tuple[list[str], list[str]]
    occ: dict[int, list[Occ]] = field(default_factory=dict)
    literals: set[int] = field(default_factory=set)
    _canon: tuple[str, str] | None = None
    _lead: int | None = None
    # A view of one sentence (see :meth:`unit`): only positions in [lo, hi) are seen.
    bounds: tuple[int, int] | None = None
    _units: list[tuple[int, int]] | None = None
    _views: dict[int, Text] | None = None

    @property
    def units(self) -> list[tuple[int, int]]:
        """The sentences as word ranges: the title (unit 0), then each summary sentence (unit 1
        is the lead). Found only when a rule reads the story."""
        if self._units is None:
            self._units = [(0, len(self.words[0]))] + [
                (GAP + lo, GAP + hi) for lo, hi in _sentences(self.display[1], self.folded[1])
            ]
        return self._units

    def unit_of(self, pos: int) -> int:
        """The sentence unit holding word position ``pos``."""
        if pos < GAP:
            return 0
        units = self.units
        return max(bisect.bisect_right(units, (pos, GAP * 2), 1) - 1, 1)

    def unit(self, number: int) -> Text:
        """This text as seen from one sentence unit only (cached per item)."""
        views = self._views if self._views is not None else {}
        self._views = views
        if number not in views:
            lo, hi = self.units[number]
            occ = {
                atom: kept
                for atom, occs in self.occ.items()
                if (kept := [o for o in occs if lo <= o[0] < hi])
            }
            views[number] = Text(
                self.display,
                self.folded,
                self.words,
                occ,
                self.literals,
                self._canon,
                self.lead,
                (lo, hi),
            )
        return views[number]

    @property
    def lead(self) -> int:
        """Words in the summary's first sentence (found only for rules that read the lead)."""
        if self._lead is None:
            self._lead = _lead_words(self.display[1], self.folded[1])
        return self._lead

    @property
    def canon(self) -> tuple[str, str]:
        """Title and summary in canonical form (built only for regexes and literals)."""
        if self._canon is None:
            self._canon = (" ".join(self.words[0]), " ".join(self.words[1]))
        return self._canon


# A sentence ends at . ! or ? followed by a space and a capital or a quote, or at the end of
# the text; "U.S. Commerce", "No. 61", "Mr. Xi" and "Nov. 10" do not end one.
# The mark comes first so the look-behinds run only at a mark, not at every character.
_SENTENCE_END = re.compile(
    r"[.!?](?<!\b[A-Z].)(?<!\b[A-Z][a-z].)(?<!\b[A-Z][a-z]{2}.)(?=\s+[\"'A-Z]|\s*$)"
)


def _lead_words(display: str, folded: str) -> int:
    """How many words of the summary its first sentence holds (all of them if it has one)."""
    end = _SENTENCE_END.search(display)
    return len(folded[: end.start()].split()) if end else len(folded.split())


def _sentences(display: str, folded: str) -> list[tuple[int, int]]:
    """Each sentence of a summary as a range of word numbers (none for an empty summary)."""
    out: list[tuple[int, int]] = []
    start = words = 0
    for end in _SENTENCE_END.finditer(display):
        # The mark folds to a space, so no word straddles it: counting piecewise is exact.
        count = len(folded[start : end.start()].split())
        if count:
            out.append((words, words + count))
            words += count
        start = end.start()
    rest = len(folded[start:].split())
    if rest:
        out.append((words, words + rest))
    return out


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

    def _found(self, occ: dict[int, list[Occ]]) -> list[Occ]:
        # Walk the shorter side: a vocabulary has hundreds of inflected phrases, an item a
        # few dozen distinct ones (occurrence order does not matter to any caller).
        if len(self.atoms) > len(occ):
            atom_set = self.atom_set
            return [o for a, occs in occ.items() if a in atom_set for o in occs]
        return [o for a in self.atoms for o in occ.get(a, ())]

    def eval(self, text: Text) -> list[Occ] | None:
        where = self.where
        if where == "any":
            return self._found(text.occ) or None
        if where == "lead":
            lead = text.lead
            return [o for o in self._found(text.occ) if _in_field(o[0], where, lead)] or None
        return [o for o in self._found(text.occ) if _in_field(o[0], where)] or None


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


def window(lists: list[list[Occ]], within: int) -> list[Occ] | None:
    """Occurrences, one or more from each list, whose first words lie within ``within`` words."""
    events = sorted((o[0], i, o) for i, occs in enumerate(lists) for o in occs)
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

    def eval(self, text: Text) -> list[Occ] | None:
        found: list[Occ] = []
        if self.all:
            lists: list[list[Occ]] = []
            for part in self.all:
                got = part.eval(text)
                if got is None:
                    return None
                lists.append(got)
            if self.within is not None:
                near = window(lists, self.within)
                if near is None:
                    return None
                found += near
            else:
                found += [o for occs in lists for o in occs]
        if self.any:
            hits = [got for part in self.any if (got := part.eval(text)) is not None]
            if not hits:
                return None
            found += [o for occs in hits for o in occs]
        if self.regex is not None:
            got = self.regex.eval(text)
            if got is None:
                return None
            found += got
        if any(part.eval(text) is not None for part in self.none):
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
        # the blocking verb a rule matched and the easing verb that vetoes it.
        found = [g for g in found if not any(_overlaps(g, m) for m in match)]
        if self.near is not None:
            near = self.near
            found = [g for g in found if any(_gap(g, m) <= near for m in match)]
        return found or None


def _overlaps(a: Occ, b: Occ) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _gap(a: Occ, b: Occ) -> int:
    """Words between two occurrences (0 if adjacent or overlapping)."""
    return max(a[0] - b[1], b[0] - a[1], 0)


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
    expr: Node, atoms: Atoms, where: Field, retarget: Mapping[Field, Field] | None = None
) -> Matcher:
    """The matcher of ``expr`` read in ``where``; ``retarget`` maps fields to others (see
    :data:`AS_HEADLINE`), applied after inheritance so nested ``in:`` keep their meaning."""
    if isinstance(expr, Term):
        atom_ids = tuple(sorted({atoms.get(p) for p in expr.phrases}))
        field = _field(where, retarget)
        return _TermM(atom_ids, field, frozenset(atom_ids))
    where = expr.field if expr.field != "any" else where

    def parts(nodes: Iterable[Node]) -> tuple[Matcher, ...]:
        return tuple(compile_expr(n, atoms, where, retarget) for n in nodes)

    regex = None
    if expr.regex is not None:
        literal = atoms.get(expr.regex.literal, literal=True)
        field = _field(where, retarget)
        regex = _RegexM(re.compile(expr.regex.pattern), literal, field)
    return ExprMatcher(parts(expr.all), parts(expr.any), parts(expr.none), regex, expr.within)


def own_clause(text: Text, match: list[Occ], hedges: list[Occ]) -> list[Occ]:
    """The hedge words in a semicolon clause of the title that holds a match word; a hedge in
    the summary, or any hedge when the match has no title word, is kept (rules/itemtext.py's
    ``in_clause``, written plainly)."""
    title, folded = text.display[0], text.folded[0]
    cuts = [len(folded[:at].split()) for at, char in enumerate(title) if char == ";"]

    def clause(pos: int) -> int:
        return sum(1 for cut in cuts if cut <= pos)

    mine = {clause(start) for start, _ in match if start < GAP}
    if not mine:
        return hedges
    return [o for o in hedges if o[0] >= GAP or clause(o[0]) in mine]
