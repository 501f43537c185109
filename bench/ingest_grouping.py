"""Story grouping against the plain rule, on the benchmark's own headlines.

Every headline of the generated feeds becomes an item of its own (its own URL and text), fed
feed by feed through ``store_entries`` with one ``StoryCache``, as the poller does; the same
batches go through the brute force of ``tests/test_story_grouping.py`` (every story compared
with every headline). The note says on how many headlines the two agree, and how long each took.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the brute force lives with the tests

from benchlib import log  # noqa: E402
from feeds_gen import GenFeed  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.feeds.normalise import TITLE_CHARS, plain_text  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.items import StoryCache, store_entries  # noqa: E402
from storage.models import item_t  # noqa: E402
from storage.records import NewEntry  # noqa: E402
from tests.helpers.db import entry, feeds  # noqa: E402
from tests.test_story_grouping import reference  # noqa: E402

__all__ = ["GroupingResult", "bench_grouping"]


@dataclass(slots=True)
class GroupingResult:
    corpus: str
    entries: int
    stories: int = 0
    agree: int = 0
    store_s: float = 0.0
    reference_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def bench_grouping(name: str, gen: list[GenFeed], tmp: Path) -> GroupingResult:
    batches: list[list[NewEntry]] = []
    k = 0
    for f in gen:
        batch = []
        for e in f.entries:
            title = plain_text(e.title, TITLE_CHARS)
            batch.append(entry(title, f"https://g.example/{k}", at=e.published, summary=f"#{k}"))
            k += 1
        batches.append(batch)
    res = GroupingResult(corpus=name, entries=k)
    engine = open_database(f"sqlite:///{tmp / f'grouping-{name}' / 'bench.db'}")
    [fid] = feeds(engine, "grouping")
    cache = StoryCache()
    now = datetime.now(UTC)
    log(f"  grouping {name}: {k} headlines through store_entries")
    start = time.perf_counter()
    for batch in batches:
        with Session(engine) as s, s.begin():
            store_entries(s, feed_id=fid, tier="press", entries=batch, now=now, stories=cache)
    res.store_s = time.perf_counter() - start
    with Session(engine) as s:
        rows = s.execute(select(item_t.c.content_hash, item_t.c.story_id))
        story_of = {content: story_id for content, story_id in rows}
    engine.dispose()
    # Each headline labelled by the first headline of its story, as reference() labels them.
    founder: dict[int, int] = {}
    flat = [e for batch in batches for e in batch]
    got = [founder.setdefault(story_of[e.content_hash], i) for i, e in enumerate(flat)]
    log(f"  grouping {name}: the same through the brute force")
    start = time.perf_counter()
    want = reference(batches)
    res.reference_s = time.perf_counter() - start
    res.stories = len(set(want))
    res.agree = sum(g == w for g, w in zip(got, want, strict=True))
    res.notes.append(
        f"grouping {name}: {res.agree}/{res.entries} headlines in the same story as the brute "
        f"force gives ({res.stories} stories); store_entries {res.store_s:.1f}s, brute force "
        f"{res.reference_s:.1f}s"
    )
    return res
