"""Story grouping through the indexed lookup gives what the plain rule gives, on both databases.

The rule, written out below as a brute force over every story: a new item joins the story whose
founding headline has the highest Jaccard similarity (>= 0.5) with its own over stemmed content
words, among the stories whose latest item is within 48 hours of it, never one that reports the
opposite action; equal similarity goes to the stored story with the higher id, then to the story
this batch founded first. Headlines of three words join only an identical one; shorter ones
never join. Within a batch each story keeps the span it had when the batch began.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.feeds.normalise import title_signature
from storage.items import StoryCache, store_entries
from storage.models import item_t, story_t
from storage.records import NewEntry
from storage.stories import StoryIndex, _actions, opposed
from tests.helpers.db import T0, entry, feeds

WINDOW = timedelta(hours=48)

# A news search: every headline draws on the same few dozen words.
_TOPICAL = (
    "China Beijing US Washington Nvidia H20 chips exports rare earth magnets ASML tools "
    "lithography tariffs trade talks deal licences controls orders production sales AI summit "
    "truce security"
).split()
_VERBS = (
    "bans lifts halts resumes approves blocks adds removes tightens eases weighs probes".split()
)
_VARIED = [f"{a}{b}" for a in ("kor", "mel", "tav", "zun", "pix", "dro") for b in range(60)]


@dataclass
class _Story:
    id: int
    sig: str
    words: frozenset[str]
    latest: datetime


def _best(sig: str, when: datetime, stories: list[_Story]) -> int | None:
    words = frozenset(sig.split())
    n = len(words)
    if n < 3:
        return None
    best: tuple[float, int] | None = None
    for s in stories:
        if abs(s.latest - when) > WINDOW:
            continue
        if s.sig == sig:
            score = 1.0
        elif n >= 4 and len(s.words) >= 4:
            score = len(words & s.words) / len(words | s.words)
            if score < 0.5 or opposed(words, s.words):
                continue
        else:
            continue
        if best is None or (score, s.id) > best:
            best = (score, s.id)
    return best[1] if best else None


def reference(batches: list[list[NewEntry]]) -> list[int]:
    """Story of each entry, as the index of its story's founding entry: by brute force."""
    stories: list[_Story] = []
    founder_of: dict[int, int] = {}  # story id -> index of its founding entry
    out: list[int] = []
    for batch in batches:
        start = len(stories)
        frozen = [_Story(s.id, s.sig, s.words, s.latest) for s in stories]
        fresh: list[_Story] = []  # provisional ids -1, -2, ...: stored stories win ties
        spans: dict[int, datetime] = {}
        assigned: list[int] = []
        for e in batch:
            sid = _best(e.title_sig, e.published_at, frozen + fresh)
            if sid is None:
                sid = -(len(fresh) + 1)
                fresh.append(
                    _Story(sid, e.title_sig, frozenset(e.title_sig.split()), e.published_at)
                )
                founder_of[sid] = len(out) + len(assigned)
            spans[sid] = max(spans.get(sid, e.published_at), e.published_at)
            assigned.append(sid)
        real = {}
        for k, s in enumerate(fresh):  # the database numbers new stories in founding order
            real[s.id] = start + k + 1
            founder_of[start + k + 1] = founder_of.pop(s.id)
            stories.append(_Story(start + k + 1, s.sig, s.words, spans[s.id]))
        for sid, latest in spans.items():
            if sid > 0:
                stories[sid - 1].latest = max(stories[sid - 1].latest, latest)
        out += [founder_of[real.get(sid, sid)] for sid in assigned]
    return out


def _headline(rng: random.Random, topical: bool) -> str:
    verb = rng.choice(_VERBS)
    if topical:
        core = rng.sample(_TOPICAL[:8], rng.randint(1, 3))
        words = core + rng.sample(_TOPICAL[8:], rng.randint(1, 5))
    else:
        words = rng.sample(_VARIED, rng.randint(2, 8))
    rng.shuffle(words)
    return " ".join([words[0], verb, *words[1:]])


def _batches(seed: int, topical: bool, n: int = 500) -> list[list[NewEntry]]:
    """Generated headlines over six days, some repeated or reworded, in batches of 1-40."""
    rng = random.Random(seed)
    titles: list[str] = []
    out: list[list[NewEntry]] = []
    k = 0
    while k < n:
        batch = []
        for _ in range(min(rng.randint(1, 40), n - k)):
            roll = rng.random()
            if titles and roll < 0.2:
                title = rng.choice(titles)  # another outlet, the same words
            elif titles and roll < 0.45:
                words = rng.choice(titles).split()  # a rewording: one word swapped or dropped
                words[rng.randrange(len(words))] = rng.choice(_TOPICAL if topical else _VARIED)
                title = " ".join(words if rng.random() < 0.5 else words[:-1])
            else:
                title = _headline(rng, topical)
            titles.append(title)
            # Mostly in order, sometimes days late or early: spans widen both ways.
            at = T0 + timedelta(minutes=10 * k + rng.choice((0, 0, 0, -2880, 1500, -600)))
            batch.append(entry(title, f"https://x.example/{k}", at=at, summary=f"#{k}"))
            k += 1
        out.append(batch)
    return out


def _store_all(engine: Engine, batches: list[list[NewEntry]], restart_at: int) -> list[int]:
    fids = feeds(engine, "a", "b", "c")
    cache = StoryCache()
    now = T0
    for b, batch in enumerate(batches):
        if b == restart_at:
            cache = StoryCache()  # a restarted worker starts with nothing in memory
        now += timedelta(hours=7 if b % 9 == 8 else 0, minutes=5)  # a rebuild now and then
        with Session(engine) as s, s.begin():
            store_entries(
                s, feed_id=fids[b % 3], tier="press", entries=batch, now=now, stories=cache
            )
    with Session(engine) as s:
        story_of = {
            h: sid for h, sid in s.execute(select(item_t.c.content_hash, item_t.c.story_id))
        }
    flat = [e for batch in batches for e in batch]
    founder: dict[int, int] = {}
    return [founder.setdefault(story_of[e.content_hash], i) for i, e in enumerate(flat)]


@pytest.mark.parametrize(("seed", "topical"), [(1, True), (2, True), (3, False), (4, False)])
def test_grouping_matches_the_plain_rule(engine: Engine, seed: int, topical: bool) -> None:
    batches = _batches(seed, topical)
    want = reference(batches)
    assert len(set(want)) < len(want) * 0.9, "the headlines must give grouping work to do"

    got = _store_all(engine, batches, restart_at=len(batches) // 2)

    assert got == want


def test_a_story_kept_alive_by_later_items_goes_on_absorbing(engine: Engine) -> None:
    """The window runs from a story's latest item as stored, whatever the process has cached."""
    [fid] = feeds(engine, "f")
    cache = StoryCache()
    headline = "China halts Nvidia H20 chip orders for security review"
    read_at = T0 + timedelta(hours=81)  # three polls of a backlog, minutes apart

    def put(title: str, url: str, at: datetime, poll: int) -> None:
        with Session(engine) as s, s.begin():
            store_entries(
                s, feed_id=fid, tier="press", entries=[entry(title, url, at=at)],
                now=read_at + timedelta(minutes=poll), stories=cache,
            )  # fmt: skip

    put(headline, "https://x/1", T0, 0)
    put(headline + " today", "https://x/2", T0 + timedelta(hours=40), 5)
    # 80 hours after the story began, 40 after its latest item: it joins.
    put(headline + " again", "https://x/3", T0 + timedelta(hours=80), 10)

    with Session(engine) as s:
        spans = s.execute(select(story_t.c.first_published_at, story_t.c.last_published_at))
        assert spans.all() == [(T0, T0 + timedelta(hours=80))]


def test_a_rolled_back_batch_leaves_nothing_in_the_cache(engine: Engine) -> None:
    [fid] = feeds(engine, "f")
    cache = StoryCache()
    title = "Beijing lifts rare earth magnet export controls after summit"

    with Session(engine) as s:
        s.begin()
        store_entries(
            s, feed_id=fid, tier="press", entries=[entry(title, "https://x/1")], now=T0,
            stories=cache,
        )  # fmt: skip
        s.rollback()
    with Session(engine) as s, s.begin():
        result = store_entries(
            s, feed_id=fid, tier="press", entries=[entry(title, "https://x/2")], now=T0,
            stories=cache,
        )  # fmt: skip

    assert (result.new_items, result.new_stories) == (1, 1)


def test_a_batch_that_fails_while_founding_stories_leaves_nothing_in_the_cache(
    engine: Engine,
) -> None:
    """The batch's new stories sit in the cache's index under provisional ids until they are
    stored: a batch that fails before then must not leave them for the next one to join."""
    [fid] = feeds(engine, "f")
    cache = StoryCache()
    title = "Beijing lifts rare earth magnet export controls after summit"
    first = entry(title, "https://x/1")
    blocker = {
        "key": first.content_hash, "title": "Unrelated", "title_sig": "unrel",
        "first_published_at": T0 - timedelta(days=30), "last_published_at": T0 - timedelta(days=30),
        "created_at": T0,
    }  # fmt: skip
    with Session(engine) as s, s.begin():
        s.execute(story_t.insert(), blocker)  # the new story's key is taken: its insert fails
    with Session(engine) as s, pytest.raises(IntegrityError), s.begin():
        store_entries(s, feed_id=fid, tier="press", entries=[first], now=T0, stories=cache)
    with Session(engine) as s, s.begin():
        s.execute(story_t.delete())
    with Session(engine) as s, s.begin():
        result = store_entries(
            s, feed_id=fid, tier="press", entries=[entry(title, "https://x/2")], now=T0,
            stories=cache,
        )  # fmt: skip
        joined = s.execute(select(story_t.c.id).join(item_t, item_t.c.story_id == story_t.c.id))

        assert (result.new_items, result.new_stories) == (1, 1)
        assert len(joined.all()) == 1  # the item's story is a stored one


def test_another_workers_stories_are_found(engine: Engine) -> None:
    a, b = feeds(engine, "a", "b")
    one, two = StoryCache(), StoryCache()

    def put(fid: int, cache: StoryCache, title: str, url: str, at: datetime = T0) -> int:
        with Session(engine) as s, s.begin():
            result = store_entries(
                s, feed_id=fid, tier="press", entries=[entry(title, url, at=at)], now=T0,
                stories=cache,
            )  # fmt: skip
        return result.new_stories

    # Worker two has read the day before worker one stores its story.
    put(b, two, "Japan weighs new rules on chip tool servicing", "https://y/0")
    put(a, one, "Dutch government tightens ASML lithography tool licences", "https://x/1")
    joined = put(
        b, two, "Dutch government tightens ASML lithography licences", "https://y/2",
        T0 + timedelta(hours=2),
    )  # fmt: skip

    assert joined == 0


def test_the_index_finds_what_brute_force_finds() -> None:
    """The pair keys miss nothing: every pair of generated headlines, both ways."""
    rng = random.Random(7)
    titles = [_headline(rng, topical=True) for _ in range(300)]
    titles += [" ".join(t.split()[:-1]) for t in titles[:100]]
    sigs = [title_signature(t) for t in titles]
    index = StoryIndex()
    for i, sig in enumerate(sigs):
        index.add(i + 1, sig, T0)
    stories = [_Story(i + 1, sig, frozenset(sig.split()), T0) for i, sig in enumerate(sigs)]
    for sig in sigs:
        hit = index.find(sig, T0 + timedelta(hours=47))
        assert (hit[1] if hit else None) == _best(sig, T0 + timedelta(hours=47), stories)


def test_the_signature_bound_drops_no_match_in_a_large_vocabulary() -> None:
    """Past 256 words numbers share signature bits, in a headline and across stories: the
    bound before the exact count must still drop nothing the brute force would choose."""
    rng = random.Random(11)
    vocabulary = _VARIED + [f"{w}x" for w in _VARIED]  # 720 words, ~3 per signature bit
    titles: list[str] = []
    for _ in range(250):
        words = rng.sample(vocabulary, rng.randint(5, 10))
        titles.append(" ".join(words))
        # A rewrite: one word swapped, one dropped (Jaccard around the threshold).
        variant = [*words[1:-1], rng.choice(vocabulary)]
        titles.append(" ".join(variant))
    sigs = [title_signature(t) for t in titles]
    index = StoryIndex()
    for i, sig in enumerate(sigs[::2]):
        index.add(i + 1, sig, T0)
    stories = [_Story(i + 1, sig, frozenset(sig.split()), T0) for i, sig in enumerate(sigs[::2])]
    heads = [index.headline(sig, T0 + timedelta(hours=1)) for sig in sigs]
    found = [(hit[1] if (hit := index.search(head)) else None) for head in heads]

    assert found == [_best(sig, T0 + timedelta(hours=1), stories) for sig in sigs]
    # Both paths ran: headlines whose own words share a bit take the exact count alone.
    assert {head.bits == 0 for head in heads} == {True, False}
    assert sum(f is not None for f in found[1::2]) > 20  # the rewrites found their story


def test_opposed_looks_at_the_action_stems_alone() -> None:
    """The index keeps each story's action stems only: they must decide as the whole sets do."""
    rng = random.Random(5)
    stems = [title_signature(w) for w in _VERBS] + ["remov", "eas", "resum", "deni", "cut"]
    stems += [title_signature(w) for w in _TOPICAL]
    decided = {True: 0, False: 0}
    for _ in range(3000):
        a = frozenset(rng.sample(stems, rng.randint(3, 8)))
        b = frozenset(rng.sample(stems, rng.randint(3, 8)))
        whole = opposed(a, b)
        assert opposed(_actions(a), _actions(b)) == whole, (a, b)
        decided[whole] += 1
    assert min(decided.values()) > 100  # both answers were put to the test
