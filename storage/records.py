"""Plain values that cross into storage: what a parsed feed entry becomes before it is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["FeedDef", "FeedHealth", "FeedState", "NewEntry", "StoreResult"]


@dataclass(frozen=True, slots=True)
class NewEntry:
    """One normalised feed entry, ready to upsert."""

    entry_key: str  # feed-scoped identity (hash of guid, else link, else title+date)
    url: str | None  # canonical URL, tracking parameters and fragment removed
    content_hash: str  # identity across feeds when the URL differs
    title: str
    summary: str
    title_sig: str  # normalised title tokens, for grouping rewrites into stories
    publisher: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class StoreResult:
    entries: int = 0
    new_items: int = 0
    new_sightings: int = 0
    new_stories: int = 0
    new_item_ids: tuple[int, ...] = ()
    # Items a feed rewrote under the same key: new text stored, to be read again.
    revised_items: int = 0
    revised_item_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedDef:
    """A feed as configured (feeds.yaml, or a file given to ``ingest``)."""

    name: str
    url: str
    tier: str
    interval_s: int
    topics: tuple[str, ...] = ()
    # Bounds of the adaptive interval; None: the configured interval itself.
    min_interval_s: int | None = None
    max_interval_s: int | None = None


@dataclass(frozen=True, slots=True)
class FeedState:
    """What one poll needs to know about a feed."""

    id: int
    name: str
    url: str
    tier: str
    interval_s: int
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_failures: int
    next_poll_at: datetime | None
    min_interval_s: int | None = None
    max_interval_s: int | None = None
    poll_interval_s: int | None = None  # the adaptive interval in use; None: ``interval_s``

    @property
    def current_interval_s(self) -> int:
        return self.poll_interval_s or self.interval_s


@dataclass(frozen=True, slots=True)
class FeedHealth:
    name: str
    url: str
    tier: str
    active: bool
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    failures_total: int
    polls_total: int
    next_poll_at: datetime | None
    items: int
