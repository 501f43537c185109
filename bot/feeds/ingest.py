"""Feed files and folders through the same pipeline as polled feeds (replay, demo, tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from bot.clock import Clock, utcnow
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.normalise import short_hash
from bot.feeds.poller import Poller, PollOutcome
from storage.feeds import sync_feeds
from storage.records import FeedDef

__all__ = ["IngestSummary", "feed_files", "ingest_paths", "poll_feeds"]

_NAME_CHARS = 200


@dataclass(slots=True)
class IngestSummary:
    files: int = 0
    entries: int = 0
    new_items: int = 0
    new_stories: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    new_item_ids: list[int] = field(default_factory=list)
    signals: int = 0
    alerts: int = 0

    def add(self, outcome: PollOutcome) -> None:
        self.files += 1
        self.entries += outcome.entries
        self.new_items += outcome.new_items
        self.new_stories += outcome.new_stories
        self.new_item_ids.extend(outcome.new_item_ids)
        if outcome.error:
            self.errors.append((outcome.feed, outcome.error))

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "entries": self.entries,
            "new_items": self.new_items,
            "stories": self.new_stories,
            "signals": self.signals,
            "alerts": self.alerts,
            "errors": [{"feed": name, "error": why} for name, why in self.errors],
        }


def feed_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and every file under folders named, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name[0] != ".")
        else:
            yield path


def _file_feed(path: Path, tier: str) -> FeedDef:
    resolved = str(path.resolve())
    name = f"file:{resolved}"
    if len(name) > _NAME_CHARS:
        name = f"file:…{resolved[-(_NAME_CHARS - 40) :]}#{short_hash(resolved)[:16]}"
    # interval 0: a file is read when asked, never on a schedule
    return FeedDef(name=name, url=resolved, tier=tier, interval_s=0)


async def poll_feeds(
    poller: Poller,
    feed_ids: list[int],
    *,
    concurrency: int = 20,
    on_done: Callable[[PollOutcome], object] | None = None,
) -> list[PollOutcome]:
    """Poll each feed once, ``concurrency`` at a time; outcomes in the order given."""
    gate = asyncio.Semaphore(concurrency)

    async def one(feed_id: int) -> PollOutcome:
        async with gate:
            outcome = await poller.poll(feed_id, force=True)
        if on_done:
            on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(fid) for fid in feed_ids)))


async def ingest_paths(
    engine: Engine,
    paths: Iterable[Path],
    *,
    tier: str = "blog",
    limits: FetchLimits | None = None,
    clock: Clock = utcnow,
    on_done: Callable[[PollOutcome], object] | None = None,
) -> IngestSummary:
    files = list(feed_files(paths))
    defs = [_file_feed(path, tier) for path in files]
    with Session(engine) as session, session.begin():
        ids = sync_feeds(session, defs, deactivate_others=False)
    summary = IngestSummary()
    async with make_client(limits or FetchLimits()) as client:
        poller = Poller(engine, Fetcher(client, limits), clock=clock)
        try:
            # Files are local: reading them in parallel buys nothing, the writer is one thread.
            outcomes = await poll_feeds(poller, ids, concurrency=4, on_done=on_done)
        finally:
            poller.close()
    for outcome in outcomes:
        summary.add(outcome)
    return summary
