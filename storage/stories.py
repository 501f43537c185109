"""Grouping rewrites of one event into a story: token-set similarity over a recent window.

The rule: a new headline joins the stored or earlier story whose signature (stemmed content
words, attribution removed) is most similar to its own, by Jaccard similarity of at least
``SIMILARITY``, when the story's latest item was published within ``WINDOW`` of it and the two
do not report opposite actions. Equal similarity goes to the higher story id.

:class:`StoryIndex` finds that story without reading every story that shares a common word. Its
keys are pairs of words: Jaccard >= 1/2 between sets of n and m words means they share
o >= (n + m) / 3 words, so at least ``_min_overlap(n)`` whatever the other's size. Put every set's
words in one fixed order; the first n - o + 2 words of each set then contain the two first words
the sets share (each set has at most n - o words before its second shared word). So indexing
every pair among a story's first ``m - _min_overlap(m) + 2`` words and probing with every pair
among the headline's first ``n - _min_overlap(n) + 2`` words finds every story that can reach
the threshold, and few others: a pair of words is much rarer than either word ("china", "chip").
The order is the reverse of first sight, so words seen late, which are rare, come first and
make the most selective pairs; any fixed order gives the same answers.

Most stories a lookup finds still fall short (about 30 per lookup, one or two reach the
threshold on topical feeds), so each is first bounded by a fixed-size bit signature of its words
(one AND and a bit count) and only those that could reach the threshold are counted exactly.

Stories are indexed in one bucket per day, that of their latest item, and a lookup reads the
buckets of the days within the window of its headline: its cost depends on the stories of those
five days, not on how many are stored.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import NamedTuple

__all__ = [
    "MIN_EXACT_TOKENS",
    "MIN_TOKENS",
    "SIMILARITY",
    "WINDOW",
    "Headline",
    "StoryIndex",
    "day_of",
    "micros",
    "opposed",
    "similarity",
    "window_days",
]

# Two outlets' headlines for one event share most content words ("China halts Nvidia H20
# orders" / "Nvidia H20 orders halted by China"); unrelated headlines on one theme rarely
# share half.
SIMILARITY = 0.5
WINDOW = timedelta(hours=48)
# Below this many content words a headline is too generic to group on anything but equality,
# and below MIN_EXACT_TOKENS ("Press release", "Statement") not even on that.
MIN_TOKENS = 4
MIN_EXACT_TOKENS = 3

# Times are whole microseconds since the epoch: compared exactly, as the datetimes would be.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1) // _US
_WINDOW = WINDOW // _US
# A story with its latest item on day d can match headlines of days d - SPAN .. d + SPAN.
_SPAN = -(-_WINDOW // _DAY)


# Headlines that differ by an opposite action ("adds" / "removes") report opposite events and
# must never merge: a false split costs a duplicate line, a false merge could hide a reversal.
# Signatures are stemmed (bot.feeds.normalise.stem), so the stems are listed here.
_OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(a.split()), frozenset(b.split()))
    for a, b in (
        ("add", "remov delet drop"),
        ("impos tighten expand widen ban bann restrict", "lift eas loosen relax scrap unban"),
        ("halt suspend pause stop freez", "resum restart restor reopen"),
        ("approv grant allow permit", "deni deny reject block refus"),
        ("rais hik", "cut lower"),
    )
)


# Every action stem above: two signatures are opposed or not by these words alone.
_ACTIONS = frozenset().union(*(one | other for one, other in _OPPOSITES))
_SHARED: dict[frozenset[str], frozenset[str]] = {}  # one object per set of action stems


def _actions(tokens: frozenset[str]) -> frozenset[str]:
    """The action stems among ``tokens``: :func:`opposed` on these says what it says on all."""
    acts = tokens & _ACTIONS
    return _SHARED.setdefault(acts, acts)


def opposed(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two signatures differ by an opposite action ("lift" against "ban")."""
    only_a, only_b = a - b, b - a
    return any(
        (only_a & one and only_b & other) or (only_a & other and only_b & one)
        for one, other in _OPPOSITES
    )


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two signatures' word sets."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def day_of(when: datetime) -> int:
    """The UTC day number (days since 1970-01-01) of ``when``: the unit of the buckets."""
    return micros(when) // _DAY


def micros(when: datetime) -> int:
    """``when`` as whole microseconds since the epoch (what the index compares)."""
    return (when - _EPOCH) // _US


def window_days(day: int) -> range:
    """Days whose stories a headline of ``day`` may join."""
    return range(day - _SPAN, day + _SPAN + 1)


# A cheap bound before the exact count: each word sets one of _BITS bits of a signature, so a
# story's words can share at most as many words with a headline as their signatures share bits,
# provided the headline's own words set distinct bits (else it gets no signature). A fixed
# size keeps a story's signature at a few machine words however many words the index numbers.
_BITS = 256
_FRACTION = Fraction(SIMILARITY)
# score >= SIMILARITY  <=>  shared * _ABOVE >= _BELOW * (n + m), in integers
_ABOVE = _FRACTION.numerator + _FRACTION.denominator
_BELOW = _FRACTION.numerator
_NONE = itertools.repeat(())  # the default of every posting-list read in a lookup


def _signature(words: Iterable[int]) -> int:
    bits = 0
    for word in words:
        bits |= 1 << (word % _BITS)
    return bits


@functools.cache
def _min_overlap(n: int) -> int:
    """Fewest words a set of ``n`` shares with any set it reaches the threshold with."""
    # Exact arithmetic: a bound rounded up by a float would drop a pair that matches.
    t = Fraction(SIMILARITY)
    other = max(MIN_TOKENS, math.ceil(t * n))  # smaller sets cannot reach the threshold
    return math.ceil(t * (n + other) / (1 + t))


@dataclass(slots=True, eq=False)  # hashed by identity: posting lists hold the stories
class _Story:
    id: int
    sig: str
    words: tuple[int, ...]  # numbers of its distinct words (a tuple: a third of a set's size)
    size: int  # how many
    bits: int  # their signature (_signature)
    acts: frozenset[str]  # its action stems (_actions)
    first: int  # microseconds since the epoch of its earliest item
    latest: int  # and of its latest item: the window is measured from it
    day: int  # the bucket it was last filed in


class Headline(NamedTuple):
    """A headline prepared for lookups in the indexes that share one word numbering.

    (A named tuple: one is made per new entry, and a frozen dataclass takes longer to build.)
    """

    sig: str
    when: int  # microseconds since the epoch of its publication
    words: frozenset[int]
    acts: frozenset[str]  # its action stems (_actions), for :func:`opposed`
    keys: tuple[int, ...]  # its pair keys (empty below MIN_TOKENS words)
    bits: int  # the signature of its words; 0 when two of them set the same bit


class StoryIndex:
    """Stories searchable by title signature, in day buckets keyed by pairs of words.

    Indexes made with ``numbering=`` another index number words alike, so one
    :class:`Headline` serves lookups in all of them.
    """

    def __init__(self, numbering: StoryIndex | None = None) -> None:
        # word -> its number, in order of first sight
        self._ids: dict[str, int] = {} if numbering is None else numbering._ids
        self._stories: dict[int, _Story] = {}
        self._days: dict[int, dict[int, list[_Story]]] = {}  # day -> pair key -> stories
        self._short: dict[str, list[int]] = {}  # signatures too short for pairs -> story ids
        self.max_id = 0

    def __len__(self) -> int:
        return len(self._stories)

    def __contains__(self, story_id: int) -> bool:
        return story_id in self._stories

    def span(self, story_id: int) -> tuple[int, int] | None:
        """Times (:func:`micros`) of the story's earliest and latest items, as known here."""
        story = self._stories.get(story_id)
        return (story.first, story.latest) if story else None

    def number_words(self, sigs: Iterable[str]) -> None:
        """Number the words of ``sigs`` commonest first, before the first story is added.

        Pairs are made from the highest numbers, so the rarest words make them and each pair
        is shared by as few stories as the order allows.
        """
        if self._ids:
            return
        counts = Counter(word for sig in sigs for word in set(sig.split()))
        for number, (word, _) in enumerate(counts.most_common()):
            self._ids[word] = number

    def _number(self, tokens: Iterable[str]) -> list[int]:
        ids = self._ids
        out = list(map(ids.get, tokens))
        if None in out:  # words first seen here, numbered in the order met
            for i, word in enumerate(tokens):
                if out[i] is None:
                    out[i] = ids.setdefault(word, len(ids))
        return out  # type: ignore[return-value]

    @staticmethod
    def _pairs(words: list[int]) -> tuple[int, ...]:
        if len(words) < MIN_TOKENS:
            return ()
        words.sort(reverse=True)
        prefix = words[: len(words) - _min_overlap(len(words)) + 2]
        return tuple([(a << 32) | b for a, b in itertools.combinations(prefix, 2)])

    def headline(self, sig: str, published: datetime) -> Headline:
        """``sig`` published at ``published``, ready for :meth:`search`."""
        tokens = frozenset(sig.split())
        words = self._number(tokens)
        bits = _signature(words)
        if bits.bit_count() != len(words):
            bits = 0
        return Headline(
            sig, micros(published), frozenset(words), _actions(tokens), self._pairs(words), bits
        )

    def add(
        self,
        story_id: int,
        sig: str,
        latest: datetime,
        first: datetime | None = None,
        head: Headline | None = None,
    ) -> None:
        """Index a story; one already indexed only widens its span.

        ``head``, if given, is ``sig`` prepared by an index sharing this one's numbering: its
        words and pairs are taken as they are.
        """
        when = micros(latest)
        since = when if first is None else micros(first)
        if story_id in self._stories:
            self.move(story_id, when, since)
            return
        if head is None or head.sig != sig:
            tokens = frozenset(sig.split())
            words = self._number(tokens)
            bits = _signature(words)
            acts = _actions(tokens)
            keys = self._pairs(words)
        else:
            words = list(head.words)
            bits = head.bits or _signature(words)
            acts = head.acts
            keys = head.keys
        day = when // _DAY
        story = _Story(story_id, sig, tuple(words), len(words), bits, acts, since, when, day)
        self._stories[story_id] = story
        self.max_id = max(self.max_id, story_id)
        if len(words) < MIN_TOKENS:
            self._short.setdefault(sig, []).append(story_id)
        else:
            self._file(story, keys, day)

    def renumber(self, ids: dict[int, int]) -> None:
        """Stories indexed under provisional ids (``ids``' keys) now go by their real ids."""
        stories = self._stories
        for old, new in ids.items():
            story = stories.pop(old)
            story.id = new
            stories[new] = story
            if story.size < MIN_TOKENS:
                short = self._short[story.sig]
                short[short.index(old)] = new
        if ids:
            self.max_id = max(self.max_id, *ids.values())

    def move(self, story_id: int, latest: int, first: int | None = None) -> None:
        """The story now spans ``first`` to ``latest`` (:func:`micros`) where that is wider."""
        story = self._stories[story_id]
        if first is not None and first < story.first:
            story.first = first
        if latest <= story.latest:
            return
        story.latest = latest
        day = latest // _DAY
        if day != story.day and len(story.words) >= MIN_TOKENS:
            # The bucket it leaves keeps it; lookups check the time and count it once.
            self._file(story, self._pairs(list(story.words)), day)
        story.day = day

    def _file(self, story: _Story, keys: tuple[int, ...], day: int) -> None:
        bucket = self._days.setdefault(day, {})
        for key in keys:
            postings = bucket.get(key)
            if postings is None:
                bucket[key] = [story]
            else:
                postings.append(story)

    def find(self, sig: str, published: datetime) -> tuple[float, int] | None:
        """(similarity, story id) of the best story for a headline, or None."""
        return self.search(self.headline(sig, published))

    def search(self, head: Headline) -> tuple[float, int] | None:
        """(similarity, story id) of the best story for a prepared headline, or None."""
        n = len(head.words)
        if n < MIN_EXACT_TOKENS:
            return None
        when = head.when
        stories = self._stories
        if n < MIN_TOKENS:
            same = [
                s for s in self._short.get(head.sig, ()) if abs(stories[s].latest - when) <= _WINDOW
            ]
            return (1.0, max(same)) if same else None
        # One C-level pass per day bucket gathers every story sharing a pair with the headline.
        seen: set[_Story] = set()
        days, keys = self._days, head.keys
        day = when // _DAY
        for d in range(day - _SPAN, day + _SPAN + 1):
            bucket = days.get(d)
            if bucket:
                seen.update(*map(bucket.get, keys, _NONE))
        earliest, latest = when - _WINDOW, when + _WINDOW
        best: tuple[float, int] | None = None
        # Jaccard >= SIMILARITY  <=>  shared * _ABOVE >= _BELOW * (n + m), in integers.
        bits, above, below = head.bits, _ABOVE, _BELOW
        floor = SIMILARITY
        mine = head.words
        for story in seen:
            m = story.size
            if bits and (bits & story.bits).bit_count() * above < below * (n + m):
                continue  # even if every shared bit were a shared word
            if not earliest <= story.latest <= latest:
                continue
            shared = len(mine.intersection(story.words))
            if shared * above < below * (n + m):
                continue
            score = shared / (n + m - shared)
            if (
                score >= floor
                and (best is None or (score, story.id) > best)
                and (story.acts is head.acts or not opposed(head.acts, story.acts))
            ):
                best, floor = (score, story.id), score
        return best
