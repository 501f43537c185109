"""Scheduling: first polls spread after start, backoff moves a job, the others keep time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.feeds.backoff import MAX_BACKOFF, next_after_failure, next_after_success
from bot.feeds.poller import PollOutcome
from bot.feeds.scheduler import MISFIRE_GRACE_S, FeedScheduler, ScheduledFeed
from tests.conftest import FakeClock

T0 = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)


class ScriptedPoll:
    """Stands in for Poller.poll: answers what the test scripts, remembers the calls."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[int] = []
        self.failing: dict[int, timedelta] = {}
        self.due_in: dict[int, timedelta] = {}  # polled by another worker: due again then

    async def __call__(self, feed_id: int) -> PollOutcome:
        self.calls.append(feed_id)
        if feed_id in self.due_in:
            nxt = self.clock.now + self.due_in[feed_id]
            return PollOutcome(feed=str(feed_id), status="skipped", next_poll_at=nxt)
        if feed_id in self.failing:
            nxt = self.clock.now + self.failing[feed_id]
            return PollOutcome(feed=str(feed_id), status="error", next_poll_at=nxt, error="x")
        return PollOutcome(feed=str(feed_id), status="new", next_poll_at=self.clock.now)


@pytest.fixture
async def paused(clock: FakeClock) -> AsyncIterator[tuple[FeedScheduler, ScriptedPoll]]:
    poll = ScriptedPoll(clock)
    sched = FeedScheduler(poll, clock=clock, spread=timedelta(seconds=4))
    sched.scheduler.start(paused=True)  # jobs are planned but only run when the test says
    yield sched, poll
    sched.scheduler.shutdown(wait=False)


async def test_first_polls_are_spread_over_the_window(
    paused: tuple[FeedScheduler, ScriptedPoll], clock: FakeClock
) -> None:
    sched, _ = paused
    sched.add_feeds([ScheduledFeed(i, f"f{i}", 300) for i in range(4)])

    firsts = [sched.scheduler.get_job(sched.job_id(i)).next_run_time for i in range(4)]

    assert [t - clock.now for t in firsts] == [timedelta(seconds=s) for s in (0, 1, 2, 3)]


async def test_jobs_are_single_instance_coalesced_with_a_grace(
    paused: tuple[FeedScheduler, ScriptedPoll],
) -> None:
    sched, _ = paused
    sched.add_feeds([ScheduledFeed(7, "f", 300)])
    job = sched.scheduler.get_job(sched.job_id(7))
    assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, MISFIRE_GRACE_S)
    assert job.trigger.interval == timedelta(seconds=300)
    assert job.trigger.jitter == 30


async def test_a_failure_pushes_the_next_run_out(
    paused: tuple[FeedScheduler, ScriptedPoll], clock: FakeClock
) -> None:
    sched, poll = paused
    sched.add_feeds([ScheduledFeed(1, "bad", 300), ScheduledFeed(2, "good", 300)])
    poll.failing[1] = timedelta(hours=1)
    good_next = sched.scheduler.get_job(sched.job_id(2)).next_run_time

    await sched.run_feed(1)
    await sched.run_feed(2)

    assert sched.scheduler.get_job(sched.job_id(1)).next_run_time == clock.now + timedelta(hours=1)
    assert sched.scheduler.get_job(sched.job_id(2)).next_run_time == good_next


async def test_a_job_follows_the_due_time_the_database_holds(
    paused: tuple[FeedScheduler, ScriptedPoll], clock: FakeClock
) -> None:
    sched, poll = paused
    sched.add_feeds([ScheduledFeed(1, "shared", 300)])
    poll.due_in[1] = timedelta(seconds=290)  # another worker polled it a moment ago

    await sched.run_feed(1)

    due = clock.now + timedelta(seconds=290)
    assert sched.scheduler.get_job(sched.job_id(1)).next_run_time == due


async def test_a_restart_keeps_a_feed_backing_off(
    paused: tuple[FeedScheduler, ScriptedPoll], clock: FakeClock
) -> None:
    sched, _ = paused
    until = clock.now + timedelta(minutes=40)
    sched.add_feeds([ScheduledFeed(1, "bad", 300, backoff_until=until)])
    assert sched.scheduler.get_job(sched.job_id(1)).next_run_time == until


async def test_the_real_scheduler_keeps_good_feeds_on_time_while_one_fails() -> None:
    clock = FakeClock(datetime.now(UTC))
    poll = ScriptedPoll(clock)
    poll.failing[1] = timedelta(hours=1)
    sched = FeedScheduler(
        poll, clock=lambda: datetime.now(UTC), spread=timedelta(seconds=0.2),
        scheduler=AsyncIOScheduler(timezone="UTC"),
    )  # fmt: skip
    sched.add_feeds([ScheduledFeed(1, "bad", 1), ScheduledFeed(2, "good", 1)])
    sched.start()
    try:
        await asyncio.sleep(2.6)
    finally:
        sched.shutdown()
    # The bad feed ran once and was pushed an hour out; the good one kept its 1 s interval
    # (2-3 runs within 2.6 s whatever the jitter).
    assert poll.calls.count(1) == 1
    assert poll.calls.count(2) >= 2


def test_success_spreads_around_the_interval() -> None:
    rng = random.Random(1)
    gaps = [(next_after_success(300, T0, rng) - T0).total_seconds() for _ in range(200)]
    assert 270 <= min(gaps) < 285
    assert 315 < max(gaps) <= 330


def test_backoff_doubles_and_is_capped() -> None:
    rng = random.Random(2)
    for failures, ceiling in [(1, 300), (2, 600), (3, 1200), (4, 2400)]:
        delay = (next_after_failure(300, failures, T0, rng) - T0).total_seconds()
        assert ceiling / 2 <= delay <= ceiling
    assert next_after_failure(300, 50, T0, rng) - T0 <= MAX_BACKOFF


def test_retry_after_wins_over_a_shorter_backoff_but_is_bounded() -> None:
    rng = random.Random(3)
    assert next_after_failure(300, 1, T0, rng, retry_after=7200) - T0 == timedelta(hours=2)
    assert next_after_failure(300, 1, T0, rng, retry_after=10**7) - T0 == timedelta(hours=24)
