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

Stories are indexed in one bucket per day, that of their latest item, and a lookup reads the
buckets of the days within the window of its headline: its cost depends on the stories of those
five days, not on how many are stored.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

__all__ = [
    "MIN_EXACT_TOKENS",
    "MIN_TOKENS",
    "SIMILARITY",
    "WINDOW",
    "StoryIndex",
    "best_story",
    "day_of",
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

_DAY_S = 86_400
_WINDOW_S = WINDOW.total_seconds()
# A story with its latest item on day d can match headlines of days d - SPAN .. d + SPAN.
_SPAN = math.ceil(_WINDOW_S / _DAY_S)


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
    return int(when.timestamp() // _DAY_S)


def window_days(day: int) -> range:
    """Days whose stories a headline of ``day`` may join."""
    return range(day - _SPAN, day + _SPAN + 1)


@functools.cache
def _min_overlap(n: int) -> int:
    """Fewest words a set of ``n`` shares with any set it reaches the threshold with."""
    # Exact arithmetic: a bound rounded up by a float would drop a pair that matches.
    t = Fraction(SIMILARITY)
    other = max(MIN_TOKENS, math.ceil(t * n))  # smaller sets cannot reach the threshold
    return math.ceil(t * (n + other) / (1 + t))


@dataclass(slots=True)
class _Story:
    sig: str
    words: tuple[int, ...]  # numbers of its distinct words (a tuple: a third of a set's size)
    latest: float  # POSIX seconds of its latest item: the window is measured from it
    day: int  # the bucket it was last filed in


class StoryIndex:
    """Stories searchable by title signature, in day buckets keyed by pairs of words."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # word -> its number, in order of first sight
        self._stories: dict[int, _Story] = {}
        self._days: dict[int, dict[int, list[int]]] = {}  # day -> pair key -> story ids
        self._short: dict[str, list[int]] = {}  # signatures too short for pairs -> story ids
        self.max_id = 0

    def __len__(self) -> int:
        return len(self._stories)

    def __contains__(self, story_id: int) -> bool:
        return story_id in self._stories

    def latest(self, story_id: int) -> float | None:
        """POSIX time of the story's latest item as the index knows it."""
        story = self._stories.get(story_id)
        return story.latest if story else None

    def _words(self, sig: str) -> list[int]:
        ids = self._ids
        out = []
        for word in set(sig.split()):
            number = ids.get(word)
            if number is None:
                number = ids[word] = len(ids)
            out.append(number)
        return out

    @staticmethod
    def _pairs(words: list[int]) -> list[int]:
        words.sort(reverse=True)
        prefix = words[: len(words) - _min_overlap(len(words)) + 2]
        return [(a << 32) | b for a, b in itertools.combinations(prefix, 2)]

    def add(self, story_id: int, sig: str, latest: datetime) -> None:
        """Index a story; one already indexed only moves to a later ``latest``."""
        when = latest.timestamp()
        if story_id in self._stories:
            self.move(story_id, when)
            return
        words = self._words(sig)
        day = int(when // _DAY_S)
        self._stories[story_id] = _Story(sig, tuple(words), when, day)
        self.max_id = max(self.max_id, story_id)
        if len(words) < MIN_TOKENS:
            self._short.setdefault(sig, []).append(story_id)
        else:
            self._file(story_id, self._pairs(words), day)

    def move(self, story_id: int, latest: float) -> None:
        """The story's latest item is now at ``latest`` (POSIX seconds) if that is later."""
        story = self._stories[story_id]
        if latest <= story.latest:
            return
        story.latest = latest
        day = int(latest // _DAY_S)
        if day != story.day and len(story.words) >= MIN_TOKENS:
            # The bucket it leaves keeps it; lookups check the time and count it once.
            self._file(story_id, self._pairs(list(story.words)), day)
        story.day = day

    def _file(self, story_id: int, keys: list[int], day: int) -> None:
        bucket = self._days.setdefault(day, {})
        for key in keys:
            postings = bucket.get(key)
            if postings is None:
                bucket[key] = [story_id]
            else:
                postings.append(story_id)

    def find(self, sig: str, published: datetime) -> tuple[float, int] | None:
        """(similarity, story id) of the best story for a headline, or None."""
        words = self._words(sig)
        n = len(words)
        if n < MIN_EXACT_TOKENS:
            return None
        when = published.timestamp()
        stories = self._stories
        if n < MIN_TOKENS:
            same = [
                s for s in self._short.get(sig, ()) if abs(stories[s].latest - when) <= _WINDOW_S
            ]
            return (1.0, max(same)) if same else None
        keys = self._pairs(words)
        seen: set[int] = set()
        for day in window_days(int(when // _DAY_S)):
            bucket = self._days.get(day)
            if bucket:
                for key in keys:
                    postings = bucket.get(key)
                    if postings:
                        seen.update(postings)
        mine = frozenset(words)
        best: tuple[float, int] | None = None
        for story_id in seen:
            story = stories[story_id]
            if abs(story.latest - when) > _WINDOW_S:
                continue
            shared = len(mine.intersection(story.words))
            score = shared / (n + len(story.words) - shared)
            if (
                score >= SIMILARITY
                and (best is None or (score, story_id) > best)
                and not opposed(frozenset(sig.split()), frozenset(story.sig.split()))
            ):
                best = (score, story_id)
        return best


def best_story(sig: str, published: datetime, *indexes: StoryIndex) -> int | None:
    """The best match across several indexes (the cached one and this batch's)."""
    found = [hit for index in indexes if (hit := index.find(sig, published))]
    return max(found)[1] if found else None
