"""The long-running process: feeds synced from the file, polled on schedule until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from bot.feeds_config import load_feeds
from bot.fetch import Fetcher, FetchLimits, make_client
from bot.ingest import poll_feeds
from bot.poller import Poller, PollOutcome
from bot.scheduler import FeedScheduler, ScheduledFeed
from bot.settings import Settings
from storage.feeds import active_feeds, sync_feeds

__all__ = ["RunResult", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunResult:
    outcomes: list[PollOutcome]


def _sync(engine: Engine, settings: Settings) -> list[ScheduledFeed]:
    defs = load_feeds(settings.feeds)
    with Session(engine) as session, session.begin():
        sync_feeds(session, defs, deactivate_others=True)
        states = active_feeds(session)
    return [
        ScheduledFeed(
            s.id, s.name, s.interval_s, s.next_poll_at if s.consecutive_failures else None
        )
        for s in states
    ]


async def run(engine: Engine, settings: Settings, *, once: bool = False) -> RunResult:
    """Poll every configured feed; with ``once`` a single round, else until SIGINT/SIGTERM."""
    feeds = _sync(engine, settings)
    limits = FetchLimits(max_bytes=settings.max_feed_bytes, concurrency=settings.fetch_concurrency)
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits))
        try:
            if once:
                outcomes = await poll_feeds(poller, [f.id for f in feeds])
                return RunResult(outcomes)
            await _serve(poller, feeds)
            return RunResult([])
        finally:
            poller.close()


async def _serve(poller: Poller, feeds: list[ScheduledFeed]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheduler = FeedScheduler(poller.poll)
    scheduler.add_feeds(feeds)
    scheduler.start()
    log.info("polling %d feeds; Ctrl-C or SIGTERM stops", len(feeds))
    try:
        await stop.wait()
    finally:
        log.info("stopping: waiting for polls in flight")
        scheduler.shutdown()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        # Polls already running finish their writes; nothing new starts.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=30)
