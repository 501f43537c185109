"""The compiled rule set: one word trie over every phrase, rules woken only by what they need.

Evaluating an item costs a walk of the trie over its words plus the rules whose anchor
phrases occur in it, so the cost hardly depends on how many rules there are.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import ahocorasick

from rules.model import (
    SEVERITIES,
    Field,
    Item,
    Node,
    Rule,
    RuleSet,
    Severity,
    Signal,
    Span,
    Term,
)
from rules.text import fold

__all__ = ["Engine", "compile_ruleset"]

# Word positions in the summary are offset by this much so no "within"/"near" window can join
# a title word to a summary word.
_GAP = 1_000_000
_MAX_REGEX_HITS = 8

_WORDS = re.compile(r"\S+")
_Occ = tuple[int, int]  # (first word, word after the last)


@dataclass(slots=True)
class _TrieNode:
    """Atoms of the phrase ending at this word, and the words that may follow."""

    atoms: tuple[int, ...] = ()
    next: dict[str, _TrieNode] = field(default_factory=dict)


@dataclass(slots=True)
class _Text:
    """One item's text, as the compiled rules see it."""

    display: tuple[str, str]  # title and summary after NFKC, for span text
    folded: tuple[str, str]  # the same, folded: offsets match ``display``
    words: tuple[list[str], list[str]]
    occ: dict[int, list[_Occ]] = field(default_factory=dict)
    literals: set[int] = field(default_factory=set)
    _canon: tuple[str, str] | None = None
    _lead: int | None = None

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


def _in_field(pos: int, where: Field, lead: int = 0) -> bool:
    if where == "any":
        return True
    if where == "lead":
        return _GAP <= pos < _GAP + lead
    return (pos >= _GAP) == (where == "summary")


class _Matcher:
    def eval(self, text: _Text) -> list[_Occ] | None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _TermM(_Matcher):
    atoms: tuple[int, ...]
    where: Field

    def eval(self, text: _Text) -> list[_Occ] | None:
        where = self.where
        if where == "lead":
            lead = text.lead
            return [
                o for a in self.atoms for o in text.occ.get(a, ()) if _in_field(o[0], where, lead)
            ] or None
        found = [o for a in self.atoms for o in text.occ.get(a, ()) if _in_field(o[0], where)]
        return found or None


@dataclass(frozen=True, slots=True)
class _RegexM(_Matcher):
    pattern: re.Pattern[str]
    literal: int
    where: Field

    def eval(self, text: _Text) -> list[_Occ] | None:
        if self.literal not in text.literals:
            return None
        found: list[_Occ] = []
        for index, canon in enumerate(text.canon):
            if not (_in_field(index * _GAP, self.where) or (index and self.where == "lead")):
                continue
            for hit in self.pattern.finditer(canon):
                start = canon.count(" ", 0, hit.start()) + index * _GAP
                end = canon.count(" ", 0, max(hit.end() - 1, hit.start())) + 1 + index * _GAP
                if self.where == "lead" and not _in_field(start, "lead", text.lead):
                    break
                found.append((start, end))
                if len(found) >= _MAX_REGEX_HITS:
                    break
        return found or None


def _window(lists: list[list[_Occ]], within: int) -> list[_Occ] | None:
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
class _ExprM(_Matcher):
    all: tuple[_Matcher, ...]
    any: tuple[_Matcher, ...]
    none: tuple[_Matcher, ...]
    regex: _Matcher | None
    within: int | None

    def eval(self, text: _Text) -> list[_Occ] | None:
        found: list[_Occ] = []
        if self.all:
            lists: list[list[_Occ]] = []
            for part in self.all:
                got = part.eval(text)
                if got is None:
                    return None
                lists.append(got)
            if self.within is not None:
                window = _window(lists, self.within)
                if window is None:
                    return None
                found += window
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
class _GuardM:
    matcher: _Matcher
    near: int | None

    def holds(self, text: _Text, match: list[_Occ]) -> list[_Occ] | None:
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


def _overlaps(a: _Occ, b: _Occ) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _gap(a: _Occ, b: _Occ) -> int:
    """Words between two occurrences (0 if adjacent or overlapping)."""
    return max(a[0] - b[1], b[0] - a[1], 0)


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    matcher: _Matcher
    veto: tuple[_GuardM, ...]
    hedge: tuple[_GuardM, ...]


class _Atoms:
    """Numbers each distinct phrase (word-bounded) and regex literal (anywhere)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[bool, str], int] = {}

    def get(self, text: str, *, literal: bool = False) -> int:
        return self.ids.setdefault((literal, text), len(self.ids))


def _required(expr: Node, atoms: _Atoms) -> list[frozenset[int]]:
    """Groups of atoms such that ``expr`` can only match if each group has one that occurs."""
    if isinstance(expr, Term):
        return [frozenset(atoms.get(p) for p in expr.phrases)]
    groups: list[frozenset[int]] = []
    if expr.regex is not None:
        groups.append(frozenset({atoms.get(expr.regex.literal, literal=True)}))
    for part in expr.all:
        groups += _required(part, atoms)
    if expr.any:
        union: set[int] = set()
        for part in expr.any:
            inner = _required(part, atoms)
            if not inner:
                break
            union |= min(inner, key=len)  # any one necessary group of a part will do
        else:
            groups.append(frozenset(union))
    return groups


def _compile_expr(expr: Node, atoms: _Atoms, where: Field) -> _Matcher:
    if isinstance(expr, Term):
        return _TermM(tuple(sorted({atoms.get(p) for p in expr.phrases})), where)
    where = expr.field if expr.field != "any" else where

    def parts(nodes: Iterable[Node]) -> tuple[_Matcher, ...]:
        return tuple(_compile_expr(n, atoms, where) for n in nodes)

    regex = None
    if expr.regex is not None:
        literal = atoms.get(expr.regex.literal, literal=True)
        regex = _RegexM(re.compile(expr.regex.pattern), literal, where)
    return _ExprM(parts(expr.all), parts(expr.any), parts(expr.none), regex, expr.within)


def _downgrade(severity: Severity) -> Severity:
    return SEVERITIES[max(SEVERITIES.index(severity) - 1, 0)]


def _phrase_index(atoms: _Atoms) -> tuple[dict[str, _TrieNode], ahocorasick.Automaton | None]:
    """A trie of whole words for the phrases, and a character automaton for regex literals.

    A dictionary lookup per word of the text: the cost follows the text, not the number of
    phrases (a character automaton over 80,000 inflected phrases was measured twice as slow as
    over 200), and only whole words match: no "us" inside "business", no "ban" in "bank".
    Regex literals may sit inside a word, so they get a character automaton of their own.
    """
    trie: dict[str, _TrieNode] = {}
    literals: dict[str, list[int]] = {}
    for (literal, phrase), atom in atoms.ids.items():
        if literal:
            literals.setdefault(phrase, []).append(atom)
            continue
        level, words = trie, phrase.split(" ")
        for depth, word in enumerate(words):
            node = level.setdefault(word, _TrieNode())
            if depth == len(words) - 1:
                node.atoms += (atom,)
            level = node.next
    if not literals:
        return trie, None
    automaton = ahocorasick.Automaton()
    for key, found in literals.items():
        automaton.add_word(key, tuple(found))
    automaton.make_automaton()
    return trie, automaton


class Engine:
    """A compiled :class:`RuleSet`. Immutable once built; :meth:`evaluate` is pure."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        atoms = _Atoms()
        compiled: list[_CompiledRule] = []
        required: list[tuple[frozenset[int], ...]] = []
        for rule in ruleset.rules:
            compiled.append(
                _CompiledRule(
                    rule,
                    _compile_expr(rule.match, atoms, "any"),
                    tuple(_GuardM(_compile_expr(g.expr, atoms, "any"), g.near) for g in rule.veto),
                    tuple(_GuardM(_compile_expr(g.expr, atoms, "any"), g.near) for g in rule.hedge),
                )
            )
            required.append(tuple(dict.fromkeys(_required(rule.match, atoms))))
        # Index each rule under the group of atoms that occurs least across the rule set, so
        # a word every rule uses ("china") does not wake them all.
        frequency: dict[int, int] = {}
        for groups in required:
            for atom in set().union(*groups):
                frequency[atom] = frequency.get(atom, 0) + 1
        index: dict[int, list[int]] = {}
        unanchored: list[int] = []
        for number, groups in enumerate(required):
            if not groups:
                unanchored.append(number)  # the loader refuses these; kept correct anyway
                continue
            anchor = min(groups, key=lambda g: (sum(frequency[a] for a in g), sorted(g)))
            for atom in anchor:
                index.setdefault(atom, []).append(number)
        self._rules = tuple(compiled)
        self._required = tuple(required)
        self._index = {atom: tuple(numbers) for atom, numbers in index.items()}
        self._unanchored = tuple(unanchored)
        self._trie, self._literals = _phrase_index(atoms)

    def _scan(self, text: _Text) -> None:
        """Find every phrase (and regex literal) in the title and the summary."""
        top = self._trie
        get = top.get
        for field_number, words in enumerate(text.words):
            offset = field_number * _GAP
            count = len(words)
            # Most words start no phrase: find the few that do at C speed.
            starts = [(i, node) for i, node in enumerate(map(get, words)) if node is not None]
            for first, start_node in starts:
                node: _TrieNode | None = start_node
                last = first
                while node is not None:
                    for atom in node.atoms:
                        text.occ.setdefault(atom, []).append((offset + first, offset + last + 1))
                    last += 1
                    if last == count or not node.next:
                        break
                    node = node.next.get(words[last])
        if self._literals is not None:
            # "\0" never occurs in canonical text, so no literal can span the two fields.
            for _, found in self._literals.iter("\0".join(text.canon)):
                text.literals.update(found)

    def evaluate(self, item: Item) -> tuple[Signal, ...]:
        """Every signal the rule set raises on ``item``, in rule-id order."""
        (title, title_folded), (summary, summary_folded) = fold(item.title), fold(item.summary)
        text = _Text(
            (title, summary),
            (title_folded, summary_folded),
            (title_folded.split(), summary_folded.split()),
        )
        self._scan(text)
        present = text.occ.keys() | text.literals
        woken: set[int] = set(self._unanchored)
        for atom in present:
            woken.update(self._index.get(atom, ()))
        signals: list[Signal] = []
        spans_of: Callable[[list[_Occ]], tuple[Span, ...]] = _SpanMaker(text).spans
        for number in sorted(woken):
            # Cheap check first: every group the rule needs has a word in the text.
            if any(present.isdisjoint(group) for group in self._required[number]):
                continue
            signal = self._fire(self._rules[number], item, text, spans_of)
            if signal is not None:
                signals.append(signal)
        return tuple(signals)

    def _fire(
        self,
        compiled: _CompiledRule,
        item: Item,
        text: _Text,
        spans_of: Callable[[list[_Occ]], tuple[Span, ...]],
    ) -> Signal | None:
        rule = compiled.rule
        if item.tier not in rule.tiers:
            return None
        match = compiled.matcher.eval(text)
        if match is None:
            return None
        if any(g.holds(text, match) is not None for g in compiled.veto):
            return None
        hedges = [got for g in compiled.hedge if (got := g.holds(text, match)) is not None]
        evidence = match + [o for got in hedges for o in got]
        hedged = bool(hedges) or rule.hedged
        return Signal(
            item_key=item.key,
            rule_id=rule.id,
            ruleset_version=self.ruleset.version,
            leg=rule.leg,
            effect=rule.effect,
            direction=rule.direction,
            severity=_downgrade(rule.severity) if hedged else rule.severity,
            tickers=rule.tickers,
            spans=spans_of(evidence),
            hedged=hedged,
            source=item.source,
            tier=item.tier,
            published=item.published,
        )


class _SpanMaker:
    """Turns word positions back into character spans, finding word offsets once per field."""

    def __init__(self, text: _Text) -> None:
        self._text = text
        self._offsets: dict[int, list[tuple[int, int]]] = {}

    def _offset(self, index: int, word: int) -> tuple[int, int] | None:
        offsets = self._offsets.setdefault(index, [])
        if word >= len(offsets):
            # Only as far into the text as the spans need: headlines come first.
            found = _WORDS.finditer(self._text.folded[index], offsets[-1][1] if offsets else 0)
            for hit in itertools.islice(found, word - len(offsets) + 1):
                offsets.append(hit.span())
        return offsets[word] if word < len(offsets) else None

    def spans(self, occs: list[_Occ]) -> tuple[Span, ...]:
        out: set[Span] = set()
        for start, end in set(occs):
            index = 1 if start >= _GAP else 0
            first = self._offset(index, start - index * _GAP)
            last = self._offset(index, end - index * _GAP - 1)
            if first is None or last is None:
                continue
            lo, hi = first[0], last[1]
            field_name: Literal["title", "summary"] = "summary" if index else "title"
            out.add(Span(field_name, lo, hi, self._text.display[index][lo:hi]))
        return tuple(sorted(out, key=lambda s: (s.field != "title", s.start, s.end)))


def compile_ruleset(ruleset: RuleSet) -> Engine:
    """Compile a validated rule set once; reuse the engine for every item."""
    return Engine(ruleset)
