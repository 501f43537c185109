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

from rules.diagnose import Trace, trace_rule
from rules.matchers import (
    GAP,
    Atoms,
    GuardMatcher,
    Matcher,
    Occ,
    Text,
    compile_expr,
    required_groups,
)
from rules.model import SEVERITIES, Guard, Item, Rule, RuleSet, Severity, Signal, Span
from rules.text import fold

__all__ = ["Engine", "compile_ruleset"]

_WORDS = re.compile(r"\S+")


@dataclass(slots=True)
class _TrieNode:
    """Atoms of the phrase ending at this word, and the words that may follow."""

    atoms: tuple[int, ...] = ()
    next: dict[str, _TrieNode] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    matcher: Matcher
    veto: tuple[GuardMatcher, ...]
    hedge: tuple[GuardMatcher, ...]


def _guards(guards: tuple[Guard, ...], atoms: Atoms) -> tuple[GuardMatcher, ...]:
    return tuple(GuardMatcher(compile_expr(g.expr, atoms, "any"), g.near) for g in guards)


def _downgrade(severity: Severity) -> Severity:
    return SEVERITIES[max(SEVERITIES.index(severity) - 1, 0)]


def _phrase_index(atoms: Atoms) -> tuple[dict[str, _TrieNode], ahocorasick.Automaton | None]:
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
        atoms = Atoms()
        compiled: list[_CompiledRule] = []
        required: list[tuple[frozenset[int], ...]] = []
        for rule in ruleset.rules:
            compiled.append(
                _CompiledRule(
                    rule,
                    compile_expr(rule.match, atoms, "any"),
                    _guards(rule.veto, atoms),
                    _guards(rule.hedge, atoms),
                )
            )
            required.append(tuple(dict.fromkeys(required_groups(rule.match, atoms))))
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
        self._numbers = {c.rule.id: number for number, c in enumerate(compiled)}
        self._required = tuple(required)
        self._index = {atom: tuple(numbers) for atom, numbers in index.items()}
        self._unanchored = tuple(unanchored)
        self._trie, self._literals = _phrase_index(atoms)

    def _scan(self, text: Text) -> None:
        """Find every phrase (and regex literal) in the title and the summary."""
        top = self._trie
        get = top.get
        for field_number, words in enumerate(text.words):
            offset = field_number * GAP
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

    def _read(self, item: Item) -> Text:
        (title, title_folded), (summary, summary_folded) = fold(item.title), fold(item.summary)
        text = Text(
            (title, summary),
            (title_folded, summary_folded),
            (title_folded.split(), summary_folded.split()),
        )
        self._scan(text)
        return text

    def trace(self, item: Item, rule_ids: Iterable[str]) -> tuple[Trace, ...]:
        """How far each rule got on ``item``, and what stopped it (for ``rules eval``).

        Slower than :meth:`evaluate`: it tries every part of each rule on its own.
        """
        text = self._read(item)
        out: list[Trace] = []
        for rule_id in rule_ids:
            c = self._rules[self._numbers[rule_id]]
            out.append(trace_rule(c.rule, c.matcher, c.veto, c.hedge, text, item.tier))
        return tuple(out)

    def evaluate(self, item: Item) -> tuple[Signal, ...]:
        """Every signal the rule set raises on ``item``, in rule-id order."""
        text = self._read(item)
        present = text.occ.keys() | text.literals
        woken: set[int] = set(self._unanchored)
        for atom in present:
            woken.update(self._index.get(atom, ()))
        signals: list[Signal] = []
        spans_of: Callable[[list[Occ]], tuple[Span, ...]] = _SpanMaker(text).spans
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
        text: Text,
        spans_of: Callable[[list[Occ]], tuple[Span, ...]],
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

    def __init__(self, text: Text) -> None:
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

    def spans(self, occs: list[Occ]) -> tuple[Span, ...]:
        out: set[Span] = set()
        for start, end in set(occs):
            index = 1 if start >= GAP else 0
            first = self._offset(index, start - index * GAP)
            last = self._offset(index, end - index * GAP - 1)
            if first is None or last is None:
                continue
            lo, hi = first[0], last[1]
            field_name: Literal["title", "summary"] = "summary" if index else "title"
            out.add(Span(field_name, lo, hi, self._text.display[index][lo:hi]))
        return tuple(sorted(out, key=lambda s: (s.field != "title", s.start, s.end)))


def compile_ruleset(ruleset: RuleSet) -> Engine:
    """Compile a validated rule set once; reuse the engine for every item."""
    return Engine(ruleset)
