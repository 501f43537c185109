"""Grouping rewrites of one event into a story: token-set similarity over a recent window."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["MIN_TOKENS", "SIMILARITY", "WINDOW", "StoryIndex", "similarity"]

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
# Signatures are stemmed (bot.normalise.stem), so the stems are listed here.
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
    published: datetime


class StoryIndex:
    """Recent stories, searchable by title signature; an inverted index keeps lookups cheap."""

    def __init__(self) -> None:
        self._exact: dict[str, list[_Candidate]] = defaultdict(list)
        self._by_token: dict[str, list[_Candidate]] = defaultdict(list)

    def add(self, story_id: int, sig: str, published: datetime) -> None:
        cand = _Candidate(story_id, frozenset(sig.split()), published)
        self._exact[sig].append(cand)
        for token in cand.tokens:
            self._by_token[token].append(cand)

    def find(self, sig: str, published: datetime) -> int | None:
        """The story this headline belongs to, or None for a new one."""
        tokens = frozenset(sig.split())
        if len(tokens) < MIN_EXACT_TOKENS:
            return None
        for cand in self._exact.get(sig, ()):
            if abs(cand.published - published) <= WINDOW:
                return cand.story_id
        if len(tokens) < MIN_TOKENS:
            return None
        shared: dict[int, int] = defaultdict(int)
        by_id: dict[int, _Candidate] = {}
        for token in tokens:
            for cand in self._by_token.get(token, ()):
                shared[id(cand)] += 1
                by_id[id(cand)] = cand
        best: tuple[float, int] | None = None
        for key, count in shared.items():
            cand = by_id[key]
            union = len(tokens) + len(cand.tokens) - count
            score = count / union
            if (
                score >= SIMILARITY
                and len(cand.tokens) >= MIN_TOKENS
                and abs(cand.published - published) <= WINDOW
                and (best is None or score > best[0])
                and not _opposed(tokens, cand.tokens)
            ):
                best = (score, cand.story_id)
        return best[1] if best else None
