"""Finding phrases in an item's words, and turning word positions back into character spans."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import compress
from typing import Literal

import ahocorasick

from rules.matchers import GAP, Atoms, Occ, Text
from rules.model import Span

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
    """Every phrase and regex literal of a rule set, for one pass over an item's words.

    One dictionary lookup per word at C speed (``map``) finds the one-word phrases and the
    words that may start a longer one: Python code runs only there, a few dozen times per item
    whatever the number of rules.
    """

    def __init__(self, atoms: Atoms) -> None:
        trie, self._literals = _phrase_index(atoms)
        # word -> atoms of the one-word phrase; word -> {next word: trie node after both}.
        self._single = {word: node.atoms for word, node in trie.items() if node.atoms}
        self._heads = {word: node.next for word, node in trie.items() if node.next}

    def scan(self, text: Text) -> None:
        """Find every phrase (and regex literal) in the title and the summary."""
        occ = text.occ
        single, head = self._single.get, self._heads.get
        for field_number, words in enumerate(text.words):
            offset = field_number * GAP
            count = len(words)
            # ``compress`` over a range builds nothing for the many words that start no phrase.
            singles = list(map(single, words))
            for first in compress(range(count), singles):
                where = (offset + first, offset + first + 1)
                for atom in singles[first] or ():
                    occ.setdefault(atom, []).append(where)
            heads = list(map(head, words))
            for first in compress(range(count - 1), heads):
                node: TrieNode | None = (heads[first] or {}).get(words[first + 1])
                last = first + 1  # the last word of the phrase so far
                while node is not None:
                    for atom in node.atoms:
                        occ.setdefault(atom, []).append((offset + first, offset + last + 1))
                    last += 1
                    if last == count or not node.next:
                        break
                    node = node.next.get(words[last])
        if self._literals is not None:
            # "\0" never occurs in canonical text, so no literal can span the two fields.
            for _, hits in self._literals.iter("\0".join(text.canon)):
                text.literals.update(hits)
        text.present = occ.keys() | text.literals


class SpanMaker:
    """Turns word positions back into character spans, finding word offsets once per field."""

    def __init__(self, text: Text) -> None:
        self._text = text
        self._offsets: dict[int, list[tuple[int, int]]] = {}

    def _offset(self, index: int, word: int) -> tuple[int, int] | None:
        offsets = self._offsets.get(index)
        if offsets is None:  # every word's offsets at once, at C speed
            found = _WORDS.finditer(self._text.folded[index])
            offsets = self._offsets[index] = list(map(re.Match.span, found))
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
