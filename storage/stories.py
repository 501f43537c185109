"""Grouping rewrites of one event into a story: token-set similarity over a recent window."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["MIN_TOKENS", "SIMILARITY", "WINDOW", "StoryIndex", "best_story", "similarity"]

# Two outlets' headlines for one event share most content words ("China halts Nvidia H20
# orders" / "Nvidia H20 orders halted by China"); unrelated headlines on one theme rarely
# share half.
SIMILARITY = 0.5
WINDOW = timedelta(hours=48)
# Below this many content words a headline is too generic to group on anything but equality,
# and below MIN_EXACT_TOKENS ("Press release", "Statement") not even on that.
MIN_TOKENS = 4
MIN_EXACT_TOKENS = 3


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


def _opposed(a: frozenset[str], b: frozenset[str]) -> bool:
    only_a, only_b = a - b, b - a
    return any(
        (only_a & one and only_b & other) or (only_a & other and only_b & one)
        for one, other in _OPPOSITES
    )


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(slots=True)
class _Candidate:
    story_id: int
    tokens: frozenset[str]
    published: float  # POSIX seconds: cheaper to compare than datetimes on the hot path


class StoryIndex:
    """Stories searchable by title signature.

    An inverted index with prefix filtering: a headline with Jaccard similarity >= t to ours
    shares at least ceil(t * n) of our n words, so it shares one of our n - ceil(t * n) + 1
    rarest words. Only those posting lists are read, which keeps lookups cheap however common
    "china" or "chip" are.
    """

    def __init__(self) -> None:
        self._exact: dict[str, list[_Candidate]] = defaultdict(list)
        self._by_token: dict[str, list[_Candidate]] = defaultdict(list)
        self.max_id = 0

    def __len__(self) -> int:
        return sum(len(c) for c in self._exact.values())

    def add(self, story_id: int, sig: str, published: datetime) -> None:
        cand = _Candidate(story_id, frozenset(sig.split()), published.timestamp())
        self._exact[sig].append(cand)
        for token in cand.tokens:
            self._by_token[token].append(cand)
        self.max_id = max(self.max_id, story_id)

    def find(self, sig: str, published: datetime) -> tuple[float, int] | None:
        """(similarity, story id) of the best recent match, or None."""
        tokens = frozenset(sig.split())
        if len(tokens) < MIN_EXACT_TOKENS:
            return None
        when = published.timestamp()
        window = WINDOW.total_seconds()
        for cand in self._exact.get(sig, ()):
            if abs(cand.published - when) <= window:
                return (1.0, cand.story_id)
        if len(tokens) < MIN_TOKENS:
            return None
        n = len(tokens)
        by_rarity = sorted(tokens, key=lambda t: len(self._by_token.get(t, ())))
        probe = by_rarity[: n - math.ceil(SIMILARITY * n) + 1]
        # Size filter: Jaccard >= t needs t*n <= |other| <= n/t.
        smallest, largest = max(MIN_TOKENS, math.ceil(SIMILARITY * n)), n / SIMILARITY
        seen: set[int] = set()
        best: tuple[float, int] | None = None
        for token in probe:
            for cand in self._by_token.get(token, ()):
                size = len(cand.tokens)
                if size < smallest or size > largest or abs(cand.published - when) > window:
                    continue
                if id(cand) in seen:
                    continue
                seen.add(id(cand))
                score = similarity(tokens, cand.tokens)
                if (
                    score >= SIMILARITY
                    and (best is None or score > best[0])
                    and not _opposed(tokens, cand.tokens)
                ):
                    best = (score, cand.story_id)
        return best


def best_story(sig: str, published: datetime, *indexes: StoryIndex) -> int | None:
    """The best match across several indexes (the cached one and this batch's)."""
    found = [hit for index in indexes if (hit := index.find(sig, published))]
    return max(found)[1] if found else None
