"""Polls that end in a 304, an unchanged body or a failure: written together, one transaction.

Real SQLite file, real HTTP on 127.0.0.1. The batch's window is made long and flushed by hand,
so what is asserted is how many transactions the writes took, never how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlmodel import Session

from bot.feeds.cadence import Bounds, next_interval
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller, PollOutcome
from storage.feeds import sync_feeds
from storage.models import feed_t
from storage.records import FeedDef, FeedState
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer, rss

FEEDS = 30
BROKEN = 7  # the feed whose server fails on the second round


@pytest.fixture
async def poller(sqlite_engine: Engine, clock: FakeClock) -> AsyncIterator[Poller]:
    async with make_client(FetchLimits(concurrency=8)) as client:
        # A window no test waits out: the batch is written when the test flushes it.
        p = Poller(sqlite_engine, Fetcher(client), clock=clock, outcome_window=3600)
        yield p
        p.close()


def _feeds(engine: Engine, server: FeedServer) -> list[int]:
    defs = []
    for i in range(FEEDS):
        url = server.route(f"/f{i}", rss((f"Story {i}", f"https://x.example/{i}")), etag=f'"e{i}"')
        defs.append(FeedDef(f"feed{i:02d}", url, "wire", 60))
    with Session(engine) as s, s.begin():
        return sync_feeds(s, defs, deactivate_others=False)


def _rows(engine: Engine) -> dict[str, Any]:
    with Session(engine) as s:
        return {r.name: r for r in s.execute(select(feed_t))}


class Commits:
    """Transactions committed on the engine, counted by SQLAlchemy's own event."""

    def __init__(self, engine: Engine) -> None:
        self.n = 0
        event.listen(engine, "commit", self._count)
        self._engine = engine

    def _count(self, _conn: object) -> None:
        self.n += 1

    def close(self) -> None:
        event.remove(self._engine, "commit", self._count)


async def _pending(poller: Poller, n: int) -> None:
    """Until ``n`` polls wait for their batch (each has fetched; none is written yet)."""
    for _ in range(2000):
        if len(poller.outcomes) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(poller.outcomes)} polls waiting, expected {n}")


async def _second_round(
    poller: Poller, sqlite_engine: Engine, feed_server: FeedServer, clock: FakeClock
) -> tuple[list[FeedState], list[asyncio.Task[PollOutcome]]]:
    """Every feed polled once (bodies stored), then all due again, the broken one failing."""
    ids = _feeds(sqlite_engine, feed_server)
    first = await poller.claim_due(FEEDS, set())
    assert sorted(s.id for s in first) == sorted(ids)
    # Bodies with news are stored by each poll's own transaction, not batched.
    polls = [poller.poll_claimed(s) for s in first]
    assert {o.status for o in await asyncio.gather(*polls)} == {"new"}
    clock.advance(hours=1)
    feed_server.route(f"/f{BROKEN}", b"", status=502)
    states = await poller.claim_due(FEEDS, set())
    assert len(states) == FEEDS
    return states, [asyncio.create_task(poller.poll_claimed(s)) for s in states]


async def test_a_tick_of_304s_and_a_failure_is_one_transaction_with_every_outcome_recorded(
    poller: Poller, sqlite_engine: Engine, feed_server: FeedServer, clock: FakeClock
) -> None:
    states, tasks = await _second_round(poller, sqlite_engine, feed_server, clock)
    await _pending(poller, FEEDS)
    before = _rows(sqlite_engine)
    commits = Commits(sqlite_engine)
    try:
        poller.outcomes.flush()
        outcomes = {o.feed: o for o in await asyncio.gather(*tasks)}
    finally:
        commits.close()
    assert commits.n == 1
    rows = _rows(sqlite_engine)
    broken = f"feed{BROKEN:02d}"
    for state in states:
        row, was, outcome = rows[state.name], before[state.name], outcomes[state.name]
        assert row.polls_total == was.polls_total + 1 == 2
        assert row.next_poll_at == outcome.next_poll_at
        assert row.lease_owner is None
        assert row.lease_until is None
        assert outcome.db_error is None
        if state.name == broken:
            assert outcome.status == "error"
            assert "502" in (outcome.error or "")
            assert row.consecutive_failures == row.failures_total == 1
            assert "502" in row.last_error
            assert row.etag == was.etag  # a failure keeps the conditional-GET state
        else:
            assert outcome.status == "not_modified"
            assert row.consecutive_failures == 0
            assert row.last_error is None
            assert row.etag == was.etag == f'"e{int(state.name[4:])}"'
            assert row.last_success_at == clock.now
            bounds = Bounds.of(state.interval_s, state.min_interval_s, state.max_interval_s)
            slower = next_interval(state.poll_interval_s, bounds, changed=False)
            assert row.poll_interval_s == slower


async def test_a_shutdown_writes_the_waiting_outcomes_without_waiting_for_the_window(
    poller: Poller, sqlite_engine: Engine, feed_server: FeedServer, clock: FakeClock
) -> None:
    states, tasks = await _second_round(poller, sqlite_engine, feed_server, clock)
    await _pending(poller, FEEDS)
    poller.stop()
    # The window is an hour: only the stop's own flush can end these polls.
    done, _ = await asyncio.wait(tasks, timeout=30)
    assert len(done) == FEEDS
    rows = _rows(sqlite_engine)
    assert {rows[s.name].polls_total for s in states} == {2}
    assert rows[f"feed{BROKEN:02d}"].consecutive_failures == 1


async def test_a_refused_batch_is_written_feed_by_feed_each_refusal_its_own(
    poller: Poller, sqlite_engine: Engine, feed_server: FeedServer, clock: FakeClock
) -> None:
    """One row the database refuses (a trigger standing for a broken page) costs that feed's
    outcome only: the batch is retried one feed at a time."""
    states, tasks = await _second_round(poller, sqlite_engine, feed_server, clock)
    await _pending(poller, FEEDS)
    victim = next(s for s in states if s.name == "feed03")
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE UPDATE ON feed WHEN OLD.id = "
            f"{victim.id} BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    poller.outcomes.flush()
    outcomes = {o.feed: o for o in await asyncio.gather(*tasks)}
    assert outcomes["feed03"].db_error is not None
    assert [n for n, o in outcomes.items() if o.db_error is not None] == ["feed03"]
    rows = _rows(sqlite_engine)
    assert rows["feed03"].polls_total == 1  # neither its 304 nor its refusal went in
    assert {r.polls_total for n, r in rows.items() if n != "feed03"} == {2}
    assert rows[f"feed{BROKEN:02d}"].consecutive_failures == 1


async def test_each_outcome_says_how_long_it_waited_for_the_batch(
    poller: Poller, sqlite_engine: Engine, feed_server: FeedServer, clock: FakeClock
) -> None:
    """The poll-duration histogram takes this off: the window is the database's pacing."""
    _, tasks = await _second_round(poller, sqlite_engine, feed_server, clock)
    await _pending(poller, FEEDS)
    await asyncio.sleep(0.3)  # every poll has waited at least this long when the batch goes
    poller.outcomes.flush()
    waits = [o.batch_wait for o in await asyncio.gather(*tasks)]
    assert min(waits) >= 0.29
