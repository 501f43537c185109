"""Scheduling: one dispatcher claims due feeds in batches; a backoff keeps only its feed out."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from bot.feeds.backoff import MAX_BACKOFF, next_after_failure, next_after_success
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import LEASE, Poller, PollOutcome
from bot.feeds.scheduler import Dispatcher
from storage.db import make_engine, migrate
from storage.feeds import claim_due, sync_feeds
from storage.models import feed_t
from storage.records import FeedDef, FeedState
from tests.helpers.feedserver import FeedServer, rss

T0 = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)


def _feeds(engine: Engine, n: int, interval: int = 300) -> list[int]:
    with Session(engine) as s, s.begin():
        defs = [
            FeedDef(f"f{i:04d}", f"https://f{i}.example/rss", "press", interval) for i in range(n)
        ]
        return sync_feeds(s, defs, deactivate_others=False)


def _due(engine: Engine, when: dict[int, datetime | None]) -> None:
    with Session(engine) as s, s.begin():
        for feed_id, at in when.items():
            s.execute(update(feed_t).where(feed_t.c.id == feed_id).values(next_poll_at=at))


def _claim(
    engine: Engine, owner: str, now: datetime, limit: int, exclude: set[int] | None = None
) -> list[int]:
    with Session(engine) as s, s.begin():
        got = claim_due(s, owner=owner, now=now, lease=LEASE, limit=limit, exclude=exclude or ())
        return [f.id for f in got]


def test_claims_what_is_due_most_overdue_first(engine: Engine) -> None:
    a, b, c, d = _feeds(engine, 4)
    _due(
        engine,
        {
            a: T0 - timedelta(seconds=5),
            b: T0 - timedelta(minutes=5),
            c: None,
            d: T0 + timedelta(seconds=1),
        },
    )

    assert _claim(engine, "w1", T0, 10) == [c, b, a]  # never polled, then most overdue; d waits
    assert _claim(engine, "w1", T0, 10, exclude={a, b, c}) == []  # own polls in flight


def test_a_lease_keeps_other_workers_off_until_it_expires(engine: Engine) -> None:
    ids = _feeds(engine, 3)
    assert sorted(_claim(engine, "w1", T0, 2)) == ids[:2]
    assert _claim(engine, "w2", T0, 10) == [ids[2]]  # the third; the first two are w1's
    later = T0 + LEASE + timedelta(seconds=1)
    assert _claim(engine, "w2", later, 10, exclude={ids[2]}) == ids[:2]  # w1 died


@pytest.mark.postgres
def test_workers_claiming_at_once_never_share_a_feed(pg_url: str) -> None:
    engine = make_engine(pg_url)
    migrate(engine)
    try:
        ids = _feeds(engine, 1000)

        def worker(name: str) -> list[int]:
            mine: list[int] = []
            for _ in range(3):  # its polls still running: excluded, as the dispatcher does
                mine += _claim(engine, name, T0, 60, exclude=set(mine))
            return mine

        with ThreadPoolExecutor(4) as pool:
            batches = list(pool.map(worker, ["w1", "w2", "w3", "w4"]))
        claimed = [x for batch in batches for x in batch]
        assert len(claimed) == len(set(claimed)) == 4 * 3 * 60
        assert set(claimed) <= set(ids)
    finally:
        engine.dispose()


async def test_one_job_however_many_feeds(sqlite_engine: Engine) -> None:
    _feeds(sqlite_engine, 2000)
    polled: list[int] = []

    async def poll(state: FeedState) -> PollOutcome:
        polled.append(state.id)
        return PollOutcome(feed=state.name, status="not_modified", next_poll_at=T0)

    async def claim(limit: int, exclude: set[int]) -> list[FeedState]:
        with Session(sqlite_engine) as s, s.begin():
            return claim_due(s, owner="me", now=T0, lease=LEASE, limit=limit, exclude=exclude)

    sched = AsyncIOScheduler(timezone="UTC")
    dispatcher = Dispatcher(claim, poll, max_inflight=500, batch=200, scheduler=sched)
    dispatcher.install()
    assert [j.id for j in sched.get_jobs()] == ["dispatch"]

    assert await dispatcher.tick() == 500  # in batches, up to the room in flight
    await asyncio.gather(*list(dispatcher.inflight.values()))
    assert len(polled) == len(set(polled)) == 500
    assert await dispatcher.tick() == 500  # the next tick takes the next 500


async def test_polls_waiting_only_for_their_outcome_write_take_no_slot(
    sqlite_engine: Engine,
) -> None:
    """A poll whose fetch is over waits up to a tick for its batch's write: it stays excluded
    from claims (its row still says due) but leaves its slot to the next feed."""
    _feeds(sqlite_engine, 30)
    written = asyncio.Event()
    settled: set[int] = set()

    async def poll(state: FeedState) -> PollOutcome:
        settled.add(state.id)  # fetched; its outcome waits for the batch
        await written.wait()
        return PollOutcome(feed=state.name, status="not_modified", next_poll_at=T0)

    async def claim(limit: int, exclude: set[int]) -> list[FeedState]:
        with Session(sqlite_engine) as s, s.begin():
            return claim_due(s, owner="me", now=T0, lease=LEASE, limit=limit, exclude=exclude)

    dispatcher = Dispatcher(claim, poll, max_inflight=10, batch=4, settled=lambda: len(settled))
    assert await dispatcher.tick() == 10
    await asyncio.sleep(0)  # the ten polls reach their wait
    assert dispatcher.busy() == 0
    assert await dispatcher.tick() == 10  # ten more, none of the first ten again
    assert len(dispatcher.inflight) == 20
    written.set()
    await asyncio.gather(*list(dispatcher.inflight.values()))
    assert len(settled) == 20

    held = Dispatcher(claim, poll, max_inflight=10, batch=4)  # without: the slots stay taken
    written.clear()
    assert await held.tick() == 10
    await asyncio.sleep(0)
    assert await held.tick() == 0
    written.set()
    await asyncio.gather(*list(held.inflight.values()))


async def test_a_poll_that_raises_costs_only_itself(sqlite_engine: Engine) -> None:
    ids = _feeds(sqlite_engine, 3)
    polled: list[int] = []

    async def poll(state: FeedState) -> PollOutcome:
        if state.id == ids[0]:
            raise RuntimeError("a bug")
        polled.append(state.id)
        return PollOutcome(feed=state.name, status="new", next_poll_at=T0)

    async def claim(limit: int, exclude: set[int]) -> list[FeedState]:
        with Session(sqlite_engine) as s, s.begin():
            return claim_due(s, owner="me", now=T0, lease=LEASE, limit=limit, exclude=exclude)

    dispatcher = Dispatcher(claim, poll)
    assert await dispatcher.tick() == 3
    await asyncio.gather(*list(dispatcher.inflight.values()))
    assert sorted(polled) == ids[1:]
    assert dispatcher.inflight == {}


async def test_the_real_dispatcher_keeps_good_feeds_on_time_while_one_backs_off(
    feed_server: FeedServer, sqlite_engine: Engine
) -> None:
    feed_server.route("/good.xml", rss(("Good news", "https://x.example/good")))
    feed_server.route("/bad.xml", b"", status=503, headers={"Retry-After": "3600"})
    with Session(sqlite_engine) as s, s.begin():
        good, bad = sync_feeds(
            s,
            [
                FeedDef(
                    "good",
                    feed_server.url("/good.xml"),
                    "wire",
                    1,
                    min_interval_s=1,
                    max_interval_s=1,
                ),
                FeedDef(
                    "bad",
                    feed_server.url("/bad.xml"),
                    "wire",
                    1,
                    min_interval_s=1,
                    max_interval_s=1,
                ),
            ],
            deactivate_others=False,
        )
    async with make_client(FetchLimits()) as client:
        poller = Poller(sqlite_engine, Fetcher(client))
        dispatcher = Dispatcher(poller.claim_due, poller.poll_claimed, tick_s=0.1)
        dispatcher.install()
        dispatcher.start()
        try:
            for _ in range(300):  # the good feed polled 3 times: 2+ s at its 1 s interval
                if len(feed_server.hits_for("/good.xml")) >= 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            dispatcher.pause()
            await asyncio.gather(*list(dispatcher.inflight.values()))
            dispatcher.shutdown()
            poller.close()
    assert len(feed_server.hits_for("/good.xml")) >= 3
    assert len(feed_server.hits_for("/bad.xml")) == 1  # Retry-After: an hour out
    with Session(sqlite_engine) as s:
        nxt = s.scalar(select(feed_t.c.next_poll_at).where(feed_t.c.id == bad))
    assert nxt is not None
    assert nxt - datetime.now(UTC) > timedelta(minutes=59)
    assert good != bad


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
