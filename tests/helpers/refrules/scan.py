"""Finding phrases in an item's words, and turning word positions back into character spans."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Literal

import ahocorasick

from rules.model import Span
from tests.helpers.refrules.matchers import GAP, Atoms, Occ, Text

__all__ = ["PhraseIndex", "SpanMaker"]

_WORDS = re.compile(r"\S+")


@dataclass(slots=True)
class TrieNode:
    """Atoms of the phrase ending at this word, and the words that may follow."""

    atoms: tuple[int, ...] = ()
    next: dict[str, TrieNode] = field(default_factory=dict)


def _phrase_index(atoms: Atoms) -> tuple[dict[str, TrieNode], ahocorasick.Automaton | None]:
    """A trie of whole words for the phrases, and a character automaton for regex literals.

    A dictionary lookup per word of the text: the cost follows the text, not the number of
    phrases (a character automaton over 80,000 inflected phrases was measured twice as slow as
    over 200), and only whole words match: no "us" inside "business", no "ban" in "bank".
    Regex literals may sit inside a word, so they get a character automaton of their own.
    """
    trie: dict[str, TrieNode] = {}
    literals: dict[str, list[int]] = {}
    for (literal, phrase), atom in atoms.ids.items():
        if literal:
            literals.setdefault(phrase, []).append(atom)
            continue
        level, words = trie, phrase.split(" ")
        for depth, word in enumerate(words):
            node = level.setdefault(word, TrieNode())
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


class PhraseIndex:
    """Every phrase and regex literal of a rule set, for one pass over an item's words."""

    def __init__(self, atoms: Atoms) -> None:
        self._trie, self._literals = _phrase_index(atoms)

    def scan(self, text: Text) -> None:
        """Find every phrase (and regex literal) in the title and the summary."""
        top = self._trie
        get = top.get
        for field_number, words in enumerate(text.words):
            offset = field_number * GAP
            count = len(words)
            # Most words start no phrase: find the few that do at C speed.
            starts = [(i, node) for i, node in enumerate(map(get, words)) if node is not None]
            for first, start_node in starts:
                node: TrieNode | None = start_node
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


class SpanMaker:
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
