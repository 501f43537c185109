"""One poll of one feed: fetch, skip what has not changed, parse, store, record its health.

The claiming and fetching live here; what a poll writes is :mod:`bot.feeds.recording`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from functools import partial
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.clock import Clock, utcnow
from bot.feeds.batch import OutcomeBatch
from bot.feeds.fetch import Fetched, Fetcher, FetchError
from bot.feeds.parse import FeedParseError, ParsedFeed, parse_feed
from bot.feeds.recording import PollOutcome, PollRecorder, Status
from bot.process import worker_id
from storage.errors import db_error_label
from storage.feeds import claim_due, claim_feed, feed_state
from storage.items import StoryCache
from storage.records import FeedState

__all__ = [
    "LEASE",
    "PollOutcome",
    "Poller",
    "Status",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


# Longer than any poll can take (60 s fetch cap plus parsing and storing): a lease older than
# this belongs to a worker that died.
LEASE = timedelta(minutes=2)
FOREVER = timedelta(days=36500)


class Poller(PollRecorder):
    """Polls feeds into the database; every failure is the feed's own, recorded, never raised.

    Database work runs on one worker thread: it serialises SQLite writers (no "database is
    locked" between feeds) and keeps parsing off the event loop.
    """

    def __init__(
        self,
        engine: Engine,
        fetcher: Fetcher,
        *,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        executor: ThreadPoolExecutor | None = None,
        owner: str | None = None,
        parse_pool: Executor | None = None,
        outcome_window: float = 0.0,
    ) -> None:
        self.engine = engine
        self.owner = owner or worker_id()
        self.fetcher = fetcher
        self.clock = clock
        self.rng = rng or random.Random()
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="thesiswatch-db")
        self._owns_executor = executor is None
        # Parsing off the database thread (a process pool); None: parsed on that thread.
        self.parse_pool = parse_pool
        # Touched only from the database thread, like everything it caches.
        self._stories = StoryCache()
        self._stopping = asyncio.Event()
        # 304s, unchanged bodies and failures: one transaction per window, not one each.
        self.outcomes = OutcomeBatch(self.in_db, self._write_outcomes, window=outcome_window)

    def use_parse_pool(self, pool: Executor) -> None:
        """Parse in ``pool`` from now on (its processes are up)."""
        if not self._stopping.is_set():
            self.parse_pool = pool

    def stop(self) -> None:
        """A shutdown: polls not yet claimed do not start, fetches in flight are dropped, and
        bodies still waiting for the database thread are not stored.

        What a dropped poll fetched was not stored, so the next start polls it again; a
        write already running on the database thread finishes (:meth:`close` waits for it).
        Outcomes waiting for their batch are written now, not a window later.
        """
        self._stopping.set()
        self.outcomes.window = 0.0
        self.outcomes.flush()

    def close(self) -> None:
        """Wait for in-flight writes, then release the worker thread."""
        if self._owns_executor:
            self._executor.shutdown(wait=True)

    async def in_db(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the database thread: every write of this process goes through it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def poll(self, feed_id: int, *, force: bool = False) -> PollOutcome:
        """Poll one feed, unless another worker holds it or it is not due ("skipped").

        ``force`` polls even before the feed is due (``run --once``, ``ingest``, tests); a
        lease another worker holds is still respected.
        """
        if self._stopping.is_set():
            return PollOutcome(feed=f"#{feed_id}", status="skipped", next_poll_at=self.clock())
        state = await self.in_db(partial(self._claim_or_fail, feed_id, force))
        if isinstance(state, PollOutcome):
            return state
        return await self.poll_claimed(state)

    async def claim_due(self, limit: int, exclude: set[int]) -> list[FeedState]:
        """Lease up to ``limit`` due feeds for this worker (one statement, batch-wise)."""
        if self._stopping.is_set():
            return []
        now = self.clock()
        return await self.in_db(
            lambda: self._with_session(
                lambda s: claim_due(
                    s, owner=self.owner, now=now, lease=LEASE, limit=limit, exclude=exclude
                )
            )
        )

    def claim_failed(self, exc: SQLAlchemyError, pause: float) -> PollOutcome:
        """The batch claim refused by the database: one line, an outcome for the metrics."""
        label = db_error_label(exc)
        log.error("claiming due feeds failed: database %s; next try in %gs", label, pause)
        return PollOutcome(
            feed="(due feeds)",
            status="error",
            next_poll_at=self.clock(),
            error=f"database: {label}",
            db_error=label,
        )

    async def poll_claimed(self, state: FeedState) -> PollOutcome:
        """Fetch, parse and store a feed this worker holds the lease of."""
        if self._stopping.is_set():
            return PollOutcome(feed=state.name, status="skipped", next_poll_at=self.clock())
        try:
            fetched = await self._fetch_unless_stopped(state)
        except FetchError as exc:
            return await self.outcomes.add(self._failure(state, str(exc), exc.retry_after))
        except Exception as exc:  # a bug of ours must still be one feed's failure
            log.exception("fetching feed %s failed unexpectedly", state.name)
            failure = self._failure(state, f"internal: {exc!r}"[:300], None)
            return await self.outcomes.add(failure)
        if fetched is None:  # stopping: the lease goes with the process's others
            return PollOutcome(feed=state.name, status="skipped", next_poll_at=self.clock())
        return await self._settle(state, fetched)

    async def store_push(self, feed_id: int, body: bytes, headers: dict[str, str]) -> PollOutcome:
        """A body a WebSub hub pushed: stored like a polled one (the hub was verified)."""
        if self._stopping.is_set():
            return PollOutcome(feed=f"#{feed_id}", status="skipped", next_poll_at=self.clock())
        state = await self.in_db(lambda: self._with_session(lambda s: feed_state(s, feed_id)))
        # The conditional-GET state stays the last poll's: a push says nothing of the server's.
        fetched = Fetched(200, body, headers, state.etag, state.last_modified)
        return await self._settle(state, fetched)

    async def _settle(self, state: FeedState, fetched: Fetched) -> PollOutcome:
        """Parse (in the pool when there is one) and store what was fetched."""
        if not self._needs_parse(state, fetched):
            if self._stopping.is_set():  # as a body queued for the database thread would be
                return PollOutcome(feed=state.name, status="skipped", next_poll_at=self.clock())
            return await self.outcomes.add(self._unchanged(state, fetched, self.clock()))
        if self.parse_pool is None:
            return await self.in_db(lambda: self._store(state, fetched))
        assert fetched.body is not None
        now = self.clock()
        job = partial(
            parse_feed,
            fetched.body,
            publisher=state.name,
            now=now,
            headers=fetched.headers,
            base_url=fetched.final_url,
        )
        try:
            parsed: ParsedFeed | Exception = await asyncio.get_running_loop().run_in_executor(
                self.parse_pool, job
            )
        except BrokenProcessPool:
            # The parser process died on this body (memory, a crash): the feed's failure.
            log.error("feed %s: the parser process died reading it", state.name)
            self.parse_pool = _rebuilt(self.parse_pool)
            parsed = FeedParseError("parse: the parser process died on this body")
        except Exception as exc:  # FeedParseError and anything hostile input raised
            parsed = exc
        return await self.in_db(lambda: self._store(state, fetched, parsed, now))

    async def _fetch_unless_stopped(self, state: FeedState) -> Fetched | None:
        """The fetch, or None when a shutdown comes first (waiting for a slot, or mid-body)."""
        fetch = asyncio.ensure_future(
            self.fetcher.fetch(state.url, etag=state.etag, last_modified=state.last_modified)
        )
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((fetch, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not fetch.done():
                fetch.cancel()  # stopping, or this poll itself was cancelled
                fetch.add_done_callback(_retrieve)
        if not fetch.done():
            return None
        return fetch.result()

    def _claim_or_fail(self, feed_id: int, force: bool) -> FeedState | PollOutcome:
        if self._stopping.is_set():  # queued behind other writes while a shutdown began
            return PollOutcome(feed=f"#{feed_id}", status="skipped", next_poll_at=self.clock())
        try:
            return self._with_session(lambda s: self._claim(s, feed_id, force))
        except SQLAlchemyError as exc:
            # Not even the claim went through: the next try is at the job's own interval.
            label = db_error_label(exc)
            name = self._name_of(feed_id)
            log.error("feed %s: claiming its poll failed: database %s", name, label)
            return PollOutcome(
                feed=name,
                status="error",
                next_poll_at=self.clock(),
                error=f"database: {label}",
                db_error=label,
            )

    def _name_of(self, feed_id: int) -> str:
        """The feed's name for a log line; reads often still work when writes do not."""
        try:
            with Session(self.engine) as session:
                return feed_state(session, feed_id).name
        except Exception:  # the database is failing already: the id will do
            return f"#{feed_id}"

    def _claim(self, session: Session, feed_id: int, force: bool) -> FeedState | PollOutcome:
        state = feed_state(session, feed_id)
        now = self.clock()
        # A job may fire a little before the feed is due (jitter): that still counts as due.
        early = FOREVER if force else timedelta(seconds=max(2.0, state.interval_s * 0.1))
        if claim_feed(session, feed_id, owner=self.owner, now=now, lease=LEASE, early=early):
            return state
        return PollOutcome(
            feed=state.name, status="skipped", next_poll_at=state.next_poll_at or now
        )


def _rebuilt(pool: Executor) -> Executor:
    """A broken process pool replaced by a fresh one of the same make."""
    from bot.feeds.parsepool import rebuild

    return rebuild(pool)


def _retrieve(task: asyncio.Future[Fetched]) -> None:
    # Nobody awaits a dropped fetch: take its outcome so asyncio does not log it at exit.
    if not task.cancelled():
        task.exception()
