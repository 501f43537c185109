"""Recent stories kept in memory between batches, loaded by day; the database stays the truth."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlmodel import Session

from storage.bulk import one_of
from storage.models import story_t
from storage.stories import StoryIndex, window_days

__all__ = ["MAX_STORIES", "REBUILD_EVERY", "StoryCache"]

# Past this many stories (about 1 KiB each) the cache starts again with the days the next
# batch needs.
MAX_STORIES = 50_000
# Another worker's stories reach this cache at its next batch; their later items only at a
# rebuild, which happens this often.
REBUILD_EVERY = timedelta(hours=6)
CHUNK = 500
# Statements are built once: building one costs more than running it.
_COLUMNS = (
    story_t.c.id,
    story_t.c.title_sig,
    story_t.c.last_published_at,
    story_t.c.first_published_at,
)
_HIGHEST = select(func.max(story_t.c.id))
_NEWER = {
    pg: select(*_COLUMNS).where(
        or_(story_t.c.id > bindparam("high"), one_of(story_t.c.id, "ids", pg))
    )
    for pg in (False, True)
}
_BY_ID = {pg: select(*_COLUMNS).where(one_of(story_t.c.id, "ids", pg)) for pg in (False, True)}
_BY_DAYS = select(*_COLUMNS).where(
    story_t.c.last_published_at >= bindparam("lo"), story_t.c.last_published_at < bindparam("hi")
)


def _day_start(day: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)


def _runs(days: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted days as (first, last) runs of consecutive days."""
    runs: list[tuple[int, int]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


class StoryCache:
    """The stories a batch can join, read from the database once and then kept up to date.

    A day is loaded whole (every story whose latest item is from that day) the first time a
    batch needs it. Before each batch the cache reads the stories created since (by any worker)
    and those the previous batch of this process extended, so a rolled-back batch leaves
    nothing behind and a restarted process finds what the old one would have.
    """

    def __init__(self) -> None:
        self.index = StoryIndex()
        self._days: set[int] = set()  # days whose stories are all in the index
        self._high = 0  # highest story id read from the database
        self._touched: set[int] = set()  # stories the last batch extended, to read back
        self._built: datetime | None = None
        # The last batch indexed stories of its own: it got as far as founded() (else they
        # may be left under provisional ids), and these (id -> signature) must be read back
        # at the next batch, else it was rolled back. Either way the index starts again.
        self._open = False
        self._founded: dict[int, str] = {}

    def index_for(self, session: Session, days: Collection[int], now: datetime) -> StoryIndex:
        """The index, holding every story a headline published on one of ``days`` may join."""
        wanted = {d for day in days for d in window_days(day)}
        stale = self._built is None or now - self._built > REBUILD_EVERY
        if stale or self._open or len(self.index) > MAX_STORIES or not self._refresh(session):
            self._reset(session, now)
        self._founded = {}
        self._open = True  # until founded()
        if missing := wanted - self._days:
            self._load_days(session, missing)
        return self.index

    def founded(self, stories: dict[int, str]) -> None:
        """The stories (id -> signature) this batch founded, now in the index by those ids."""
        self._founded = stories
        self._open = False

    def touched(self, story_ids: Iterable[int]) -> None:
        """Stories this batch extended: the next batch reads their new span back."""
        self._touched.update(story_ids)

    def _reset(self, session: Session, now: datetime) -> None:
        self.index = StoryIndex()
        self._days.clear()
        self._touched.clear()
        self._built = now
        # Stories from here on are read by id; the days loaded next hold the older ones.
        self._high = session.connection().scalar(_HIGHEST) or 0

    def _refresh(self, session: Session) -> bool:
        """Read what changed since; False if the last batch's stories are not all there."""
        touched = sorted(self._touched)
        self._touched.clear()
        first, rest = touched[:CHUNK], touched[CHUNK:]
        conn = session.connection()
        pg = conn.dialect.name == "postgresql"
        rows = conn.execute(_NEWER[pg], {"high": self._high, "ids": first}).all()
        founded = self._founded
        if founded and sum(founded.get(row[0]) == row[1] for row in rows) != len(founded):
            return False
        self._add(rows, follow=True)
        for start in range(0, len(rest), CHUNK):
            self._add(conn.execute(_BY_ID[pg], {"ids": rest[start : start + CHUNK]}))
        return True

    def _load_days(self, session: Session, days: set[int]) -> None:
        rows: list[Any] = []
        conn = session.connection()
        for first, last in _runs(days):
            span = {"lo": _day_start(first), "hi": _day_start(last + 1)}
            rows += conn.execute(_BY_DAYS, span).all()
        self.index.number_words(row[1] for row in rows)  # only into an empty index
        self._add(rows)
        self._days |= days

    def _add(self, rows: Iterable[Any], *, follow: bool = False) -> None:
        # Only the read by id moves the mark: a day read may see a story committed after an
        # older one it does not cover, and the next read by id must still find that one.
        index = self.index
        for story_id, sig, latest, first in rows:
            index.add(story_id, sig, latest, first)
            if follow and story_id > self._high:
                self._high = story_id
