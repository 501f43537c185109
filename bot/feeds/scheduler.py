"""APScheduler wiring: one job per feed, at its interval with jitter, one run at a time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock, utcnow
from bot.feeds.poller import PollOutcome

__all__ = ["FIRST_POLL_SPREAD", "FeedScheduler", "ScheduledFeed"]

log = logging.getLogger(__name__)

# Every feed is polled right after start, spread so a restart does not burst every host at once.
FIRST_POLL_SPREAD = timedelta(seconds=5)
# A poll that could not start on time (event loop busy, laptop asleep) still runs this late.
MISFIRE_GRACE_S = 120


@dataclass(frozen=True, slots=True)
class ScheduledFeed:
    id: int
    name: str
    interval_s: int
    # A feed backing off (stored next poll, consecutive failures) keeps its pause over a restart.
    backoff_until: datetime | None = None


# None: the poll did not run (a shutdown began).
PollFn = Callable[[int], Awaitable[PollOutcome | None]]


class FeedScheduler:
    """Keeps each feed's job in step with its health: a failure pushes the next run out."""

    def __init__(
        self,
        poll: PollFn,
        *,
        clock: Clock = utcnow,
        spread: timedelta = FIRST_POLL_SPREAD,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self._poll = poll
        self._clock = clock
        self._spread = spread
        self.scheduler = scheduler or AsyncIOScheduler(timezone="UTC")

    @staticmethod
    def job_id(feed_id: int) -> str:
        return f"feed:{feed_id}"

    def add_feeds(self, feeds: Sequence[ScheduledFeed]) -> None:
        now = self._clock()
        step = self._spread / max(len(feeds), 1)
        for index, feed in enumerate(feeds):
            first = now + step * index
            if feed.backoff_until and feed.backoff_until > first:
                first = feed.backoff_until
            self.scheduler.add_job(
                self.run_feed,
                IntervalTrigger(seconds=feed.interval_s, jitter=max(1, feed.interval_s // 10)),
                args=[feed.id],
                id=self.job_id(feed.id),
                name=feed.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE_S,
                next_run_time=first,
                replace_existing=True,
            )

    async def run_feed(self, feed_id: int) -> PollOutcome | None:
        outcome = await self._poll(feed_id)
        if outcome is None:
            return None
        job = self.scheduler.get_job(self.job_id(feed_id))
        if job is not None and outcome.next_poll_at > self._clock():
            # The database says when the feed is next due (after a success, a backoff, a
            # Retry-After, or another worker's poll): the job follows it, so a feed is never
            # found "not due yet" and left a whole interval late.
            job.modify(next_run_time=outcome.next_poll_at)
        return outcome

    def start(self) -> None:
        self.scheduler.start()

    def pause(self) -> None:
        """No job starts from now on; those running go on (unlike :meth:`shutdown`)."""
        if self.scheduler.running:
            self.scheduler.pause()

    def shutdown(self) -> None:
        """Stop the scheduler; APScheduler cancels any job still running (drain them first)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
