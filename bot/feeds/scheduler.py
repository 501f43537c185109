"""The dispatcher: one APScheduler job that, every tick, claims the feeds that are due.

Each feed's next poll lives in the database (``feed.next_poll_at``), not in a scheduler job:
start-up costs the same with ten feeds or ten thousand, a backoff or a server's Retry-After
survives a restart, and several workers share the feeds through leases taken in one statement
per batch (SKIP LOCKED on PostgreSQL), so no feed is polled twice. Each claimed feed is polled
in its own task; fetches are bounded by the fetcher's limits, polls in flight by ``max_inflight``
(a worker claims no more than it can start soon, leaving the rest to the others).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.feeds.poller import PollOutcome
from storage.records import FeedState

__all__ = ["FIRST_POLL_SPREAD", "TICK_S", "Dispatcher"]

log = logging.getLogger(__name__)

# Kept for the benchmarks that wait out the old per-feed spread; the dispatcher has none.
FIRST_POLL_SPREAD = timedelta(seconds=0)
# How often due feeds are looked for: a poll starts at most this late (plus the claim).
TICK_S = 0.5
BATCH = 200

ClaimFn = Callable[[int, set[int]], Awaitable[list[FeedState]]]
# None: the poll did not run (a shutdown began).
PollFn = Callable[[FeedState], Awaitable[PollOutcome | None]]


class Dispatcher:
    """Claims due feeds batch by batch and polls each in a task of its own."""

    def __init__(
        self,
        claim: ClaimFn,
        poll: PollFn,
        *,
        max_inflight: int = 80,
        batch: int = BATCH,
        tick_s: float = TICK_S,
        scheduler: AsyncIOScheduler | None = None,
        track: Callable[[asyncio.Task[object]], None] | None = None,
        settled: Callable[[], int] | None = None,
    ) -> None:
        self._claim = claim
        self._poll = poll
        self.max_inflight = max_inflight
        self.batch = batch
        self.tick_s = tick_s
        self.scheduler = scheduler or AsyncIOScheduler(timezone="UTC")
        self._track = track
        # Polls whose fetch is over and whose outcome waits for its batch's write: still
        # excluded from claims (their feeds' rows are not written yet), but they take no slot,
        # or a tick's wait for the batch would cap the polls per second.
        self._settled = settled or (lambda: 0)
        self.inflight: dict[int, asyncio.Task[object]] = {}
        self._ticking = asyncio.Lock()

    def install(self, wrap: Callable[[Callable[[], Awaitable[int]]], object] | None = None) -> None:
        """Add the tick as one scheduler job (``wrap`` makes it one a shutdown waits for)."""
        job = wrap(self.tick) if wrap is not None else self.tick
        self.scheduler.add_job(
            job,
            IntervalTrigger(seconds=self.tick_s),
            id="dispatch",
            name="dispatch due feeds",
            # A tick still claiming (the database thread busy) makes the next return at once,
            # rather than APScheduler logging "skipped: maximum number of running instances".
            max_instances=2,
            coalesce=True,
            misfire_grace_time=30,
        )

    async def tick(self) -> int:
        """Claim and start what is due, a batch at a time, until none is or no room is left."""
        started = 0
        if self._ticking.locked():
            return 0
        async with self._ticking:
            while (room := self.max_inflight - self.busy()) > 0:
                want = min(self.batch, room)
                states = await self._claim(want, set(self.inflight))
                for state in states:
                    self._start(state)
                started += len(states)
                if len(states) < want:
                    break
        return started

    def busy(self) -> int:
        """Polls in flight that still fetch, parse or store."""
        return max(0, len(self.inflight) - self._settled())

    def _start(self, state: FeedState) -> None:
        task: asyncio.Task[object] = asyncio.create_task(
            self._run(state), name=f"poll:{state.name}"
        )
        self.inflight[state.id] = task

        def done(_: asyncio.Task[object], feed_id: int = state.id) -> None:
            self.inflight.pop(feed_id, None)

        task.add_done_callback(done)
        if self._track is not None:
            self._track(task)

    async def _run(self, state: FeedState) -> PollOutcome | None:
        try:
            return await self._poll(state)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug of ours costs one poll, never the dispatcher
            log.exception("polling feed %s failed unexpectedly", state.name)
            return None

    def start(self) -> None:
        self.scheduler.start()

    def pause(self) -> None:
        """No tick starts from now on; polls running go on (unlike :meth:`shutdown`)."""
        if self.scheduler.running:
            self.scheduler.pause()

    def shutdown(self) -> None:
        """Stop the scheduler; APScheduler cancels any job still running (drain them first)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
