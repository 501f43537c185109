"""Finding phrases in an item's words, and turning word positions back into character spans."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, compress

import ahocorasick

from rules.build import make_span
from rules.matchers import GAP, Atoms, Occ, Text
from rules.model import Span

__all__ = ["PhraseIndex", "spans"]


@dataclass(slots=True)
class TrieNode:
    """Atoms of the phrase ending at this word, and the words that may follow."""

    atoms: tuple[int, ...] = ()
    next: dict[str, TrieNode] = field(default_factory=dict)


# Up to this many regex literals are each looked for with ``in`` (a C substring search); more
# share a character automaton. The shipped rules' 14 cost a quarter of what the automaton
# did per item: it steps once per character in C, but at ~80 instructions a step.
FEW_LITERALS = 64


def _phrase_index(atoms: Atoms) -> tuple[dict[str, TrieNode], dict[str, list[int]]]:
    """A trie of whole words for the phrases, and the regex literals' atoms by literal.

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
    return trie, literals


def _automaton(literals: dict[str, list[int]]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for key, found in literals.items():
        automaton.add_word(key, tuple(found))
    automaton.make_automaton()
    return automaton


# A word's entry: the atom of the phrase ending there (-1 if none), and the words that may
# follow it (None if no longer phrase goes on from it).
_Entry = tuple[int, "dict[str, _Entry] | None"]


def _entries(level: dict[str, TrieNode]) -> dict[str, _Entry]:
    out: dict[str, _Entry] = {}
    for word, node in level.items():
        # One atom per phrase, and one phrase per word sequence (phrases are canonical).
        assert len(node.atoms) <= 1, node.atoms
        out[word] = (node.atoms[0] if node.atoms else -1, _entries(node.next) or None)
    return out


class PhraseIndex:
    """Every phrase and regex literal of a rule set, for one pass over an item's words.

    One dictionary lookup per word at C speed (``map``) finds the words that are a phrase or
    start one: Python code runs only there, a few dozen times per item whatever the number of
    rules. One lookup, not two (one-word phrases, then phrase heads): under 5,000 rules the
    table is megabytes, and each lookup of a text's word is a cache miss or two.
    """

    def __init__(self, atoms: Atoms) -> None:
        trie, literals = _phrase_index(atoms)
        self._first = _entries(trie)
        self._literal_keys = tuple(literals)
        self._literal_atoms = tuple(tuple(found) for found in literals.values())
        self._automaton = _automaton(literals) if len(literals) > FEW_LITERALS else None

    def scan(self, text: Text) -> None:
        """Find every phrase (and regex literal) in the title and the summary."""
        occ = text.occ
        first = self._first.get
        offset = 0
        for words in text.words:
            count = len(words)
            found = list(map(first, words))
            # ``compress`` over a range builds nothing for the many words that start no phrase.
            for at in compress(range(count), found):
                atom, follow = found[at]  # type: ignore[misc]
                start = offset + at
                if atom >= 0:
                    occ.setdefault(atom, []).append((start, start + 1))
                last = at + 1  # the next word of a longer phrase
                while follow is not None and last < count:
                    entry = follow.get(words[last])
                    if entry is None:
                        break
                    atom, follow = entry
                    last += 1
                    if atom >= 0:
                        occ.setdefault(atom, []).append((start, offset + last))
            if not offset:
                text.in_title = set(occ)
            offset = GAP
        if self._literal_keys:
            # "\0" never occurs in canonical text, so no literal can span the two fields.
            joined = "\0".join(text.canon)
            if self._automaton is None:
                hits = compress(self._literal_atoms, map(joined.__contains__, self._literal_keys))
                text.literals.update(chain.from_iterable(hits))
            else:
                # Not ``found``: that name holds this scan's list, and a compiled build checks.
                for _, hit in self._automaton.iter(joined):
                    text.literals.update(hit)
        text.present = occ.keys() | text.literals


def spans(text: Text, occs: list[Occ]) -> tuple[Span, ...]:
    """The character spans of word occurrences, in order (title first), one per distinct span.

    A word's offset: a split that stops after that many words leaves the text from that word
    on; a few small strings at C speed for the few words a signal names, where offsets for
    every word of the text would cost a call each."""
    # (field number, start, end) sorts as the spans do and stands for its span: one Span
    # made per distinct span, none hashed.
    found: set[tuple[int, int, int]] = set()
    words, folded = text.words, text.folded
    for start, end in set(occs):
        index = 0
        if start >= GAP:
            index, start, end = 1, start - GAP, end - GAP
        field_words = words[index]
        if end > len(field_words):
            continue
        field = folded[index]
        lo = len(field) - len(field.split(None, start)[-1])
        last = end - 1
        hi = lo if last == start else len(field) - len(field.split(None, last)[-1])
        found.add((index, lo, hi + len(field_words[last])))
    display = text.display
    out: list[Span] = []
    for index, lo, hi in sorted(found):
        out.append(make_span("summary" if index else "title", lo, hi, display[index][lo:hi]))
    return tuple(out)
