"""One item's text as the compiled rules see it: its words, the phrases found, its sentences.

A position is a word number; summary words are offset by :data:`GAP` so no window can join a
title word to a summary word.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

__all__ = ["GAP", "REPORTED_MODALS", "Occ", "Text", "in_clause", "new_text", "spare_reported"]

# Word positions in the summary are offset by this much so no "within"/"near" window can join
# a title word to a summary word.
GAP = 1_000_000

Occ = tuple[int, int]  # (first word, word after the last)


@dataclass(slots=True)
class Text:
    """One item's text, as the compiled rules see it."""

    display: tuple[str, str]  # title and summary after NFKC, for span text
    folded: tuple[str, str]  # the same, folded: offsets match ``display``
    words: tuple[list[str], list[str]]
    occ: dict[int, list[Occ]] = field(default_factory=dict)
    literals: set[int] = field(default_factory=set)
    # Every atom seen: the keys of ``occ`` and the literals (filled by the phrase scan).
    present: set[int] = field(default_factory=set)
    in_title: set[int] = field(default_factory=set)  # the atoms of ``occ`` found in the title
    _canon: tuple[str, str] | None = None
    _lead: int | None = None
    # A view of one sentence (see :meth:`unit`): only positions in [lo, hi) are seen.
    bounds: tuple[int, int] | None = None
    _units: list[tuple[int, int]] | None = None
    _views: dict[int, Text] | None = None
    # The word count before each of the title's semicolons (see :meth:`clause_of`).
    _semis: list[int] | None = None

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
                occ.keys() | self.literals,
                set(occ) if lo < GAP else set(),  # unit 0 is the title, the rest summary
                self._canon,
                self.lead,
                (lo, hi),
            )
        return views[number]

    def clause_of(self, pos: int) -> int:
        """The semicolon-bounded clause of the title holding word position ``pos``."""
        if self._semis is None:
            self._semis = _semicolons(self.display[0], self.folded[0])
        return bisect.bisect_right(self._semis, pos)

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


def _semicolons(display: str, folded: str) -> list[int]:
    """The word count before each semicolon (the mark folds to a space, as a sentence's does)."""
    if ";" not in display:
        return []
    return [len(folded[:at].split()) for at, char in enumerate(display) if char == ";"]


def in_clause(text: Text, match: list[Occ], hedges: list[Occ]) -> list[Occ]:
    """The hedge words that qualify the match: a hedge in the headline's other semicolon clause
    speaks of another act ("Nvidia says H20 China sales approved; Samsung HBM supply expected
    to resume"). Only the headline is split so: a summary's clauses often share one subject
    ("experts call for a ban; the US has suspended controls"), and its hedges stay whole."""
    if not hedges or ";" not in text.display[0]:
        return hedges
    clauses = {text.clause_of(start) for start, _ in match if start < GAP}
    if not clauses:
        return hedges
    return [o for o in hedges if o[0] >= GAP or text.clause_of(o[0]) in clauses]


# The vocabulary of words that doubt a headline but only report in a lead ("officials said China
# is expected to postpone its controls"): a rule read in the lead pass is not hedged by them.
REPORTED_MODALS = "reported-modals"


def spare_reported(text: Text, hedges: list[Occ], phrases: frozenset[str]) -> list[Occ]:
    """``hedges`` less those in the summary that are one of ``phrases`` (for the lead pass)."""
    if not phrases or not hedges:
        return hedges
    words = text.words[1]
    return [
        o for o in hedges if o[0] < GAP or " ".join(words[o[0] - GAP : o[1] - GAP]) not in phrases
    ]


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


def new_text(
    display: tuple[str, str], folded: tuple[str, str], words: tuple[list[str], list[str]]
) -> Text:
    """``Text(display, folded, words)``, built without the dataclass ``__init__`` (a call
    through the type costs a frame of its own; this is once per item). ``Text.__new__`` is
    ``object.__new__`` here, and what a mypyc-compiled ``Text`` accepts (bench/ab_mypyc.py)."""
    text = Text.__new__(Text)
    text.display, text.folded, text.words = display, folded, words
    text.occ, text.literals, text.present, text.in_title = {}, set(), set(), set()
    text._canon = text._lead = text.bounds = text._units = text._views = text._semis = None
    return text
