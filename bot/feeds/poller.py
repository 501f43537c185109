"""One poll of one feed: fetch, skip what has not changed, parse, store, record its health."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from bot.clock import Clock, utcnow
from bot.feeds.backoff import next_after_failure, next_after_success
from bot.feeds.cadence import Bounds, cache_max_age, next_interval
from bot.feeds.fetch import Fetched, Fetcher, FetchError
from bot.feeds.parse import FeedParseError, ParsedFeed, parse_feed
from bot.process import worker_id
from storage.errors import db_error_label
from storage.feeds import (
    claim_due,
    claim_feed,
    feed_state,
    mark_seen,
    record_failure,
    record_success,
)
from storage.items import StoryCache, store_entries
from storage.records import FeedState

__all__ = [
    "LEASE",
    "PollOutcome",
    "Poller",
]

log = logging.getLogger(__name__)

Status = Literal["new", "not_modified", "unchanged", "error", "skipped"]
T = TypeVar("T")


# Longer than any poll can take (60 s fetch cap plus parsing and storing): a lease older than
# this belongs to a worker that died.
LEASE = timedelta(minutes=2)
FOREVER = timedelta(days=36500)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    feed: str
    status: Status
    next_poll_at: datetime
    entries: int = 0
    new_items: int = 0
    new_stories: int = 0
    error: str | None = None
    bozo: str | None = None
    skipped: int = 0  # entries that could not be read, each costing only itself
    new_item_ids: tuple[int, ...] = ()
    revised_items: int = 0  # entries the feed rewrote: their items are read again
    # A write of this poll that the database refused (a full disk...): health shows it.
    db_error: str | None = None
    hub: str | None = None  # the WebSub hub the body declared, and its topic
    topic: str | None = None
    feed_url: str = ""  # the topic when the feed names no self link


class Poller:
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

    def use_parse_pool(self, pool: Executor) -> None:
        """Parse in ``pool`` from now on (its processes are up)."""
        if not self._stopping.is_set():
            self.parse_pool = pool

    def stop(self) -> None:
        """A shutdown: polls not yet claimed do not start, fetches in flight are dropped, and
        bodies still waiting for the database thread are not stored.

        What a dropped poll fetched was not stored, so the next start polls it again; a
        write already running on the database thread finishes (:meth:`close` waits for it).
        """
        self._stopping.set()

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
            return await self.in_db(partial(self._fail, state, str(exc), exc.retry_after))
        except Exception as exc:  # a bug of ours must still be one feed's failure
            log.exception("fetching feed %s failed unexpectedly", state.name)
            return await self.in_db(partial(self._fail, state, f"internal: {exc!r}"[:300], None))
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
        if self.parse_pool is None or not self._needs_parse(state, fetched):
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

    def _record_unchanged(
        self, state: FeedState, fetched: Fetched, bounds: Bounds, max_age: int | None, now: datetime
    ) -> PollOutcome:
        """A 304, or the same body again: only the feed's health and pace change."""
        status: Status = "not_modified" if fetched.body is None else "unchanged"
        interval = next_interval(state.poll_interval_s, bounds, changed=False, hint_s=max_age)
        nxt = next_after_success(interval, now, self.rng)
        try:
            self._with_session(
                lambda s: record_success(
                    s,
                    state.id,
                    now=now,
                    next_poll_at=nxt,
                    etag=fetched.etag or state.etag,
                    last_modified=fetched.last_modified or state.last_modified,
                    body_hash=state.body_hash,
                    poll_interval_s=interval,
                )
            )
        except SQLAlchemyError as exc:
            return self._db_fail(state, exc)
        return PollOutcome(feed=state.name, status=status, next_poll_at=nxt)

    @staticmethod
    def _needs_parse(state: FeedState, fetched: Fetched) -> bool:
        return fetched.body is not None and not (
            state.body_hash and hashlib.sha256(fetched.body).hexdigest() == state.body_hash
        )

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

    def _with_session(self, fn: Callable[[Session], T]) -> T:
        with Session(self.engine) as session, session.begin():
            return fn(session)

    def _fail(self, state: FeedState, reason: str, retry_after: float | None) -> PollOutcome:
        now = self.clock()
        nxt = next_after_failure(
            state.current_interval_s, state.consecutive_failures + 1, now, self.rng, retry_after
        )
        unrecorded = self._record_failure(state, now, reason, nxt)
        if unrecorded is None:
            log.warning("feed %s failed: %s (next poll %s)", state.name, reason, nxt.isoformat())
        else:
            log.error(
                "feed %s failed: %s (next poll %s); not recorded: database %s",
                state.name,
                reason,
                nxt.isoformat(),
                unrecorded,
            )
        return PollOutcome(
            feed=state.name, status="error", next_poll_at=nxt, error=reason, db_error=unrecorded
        )

    def _db_fail(self, state: FeedState, exc: SQLAlchemyError) -> PollOutcome:
        """Storing failed (a full disk, the database gone): the feed is not at fault.

        One line, no traceback; no backoff either: the next poll comes at the feed's own
        interval and, the body not being marked as seen, stores what this one could not.
        """
        now = self.clock()
        nxt = next_after_success(state.current_interval_s, now, self.rng)
        label = db_error_label(exc)
        reason = f"database: {label}"
        unrecorded = self._record_failure(state, now, reason, nxt)
        log.error(
            "feed %s: storing failed: %s (next poll %s)%s",
            state.name,
            reason,
            nxt.isoformat(),
            "" if unrecorded is None else "; not recorded in its health either",
        )
        return PollOutcome(
            feed=state.name, status="error", next_poll_at=nxt, error=reason, db_error=label
        )

    def _record_failure(
        self, state: FeedState, now: datetime, reason: str, nxt: datetime
    ) -> str | None:
        """Write the failure into the feed's health; the database's refusal if it refuses."""
        try:
            self._with_session(
                lambda s: record_failure(s, state.id, now=now, reason=reason, next_poll_at=nxt)
            )
        except SQLAlchemyError as exc:
            return db_error_label(exc)
        return None

    def _store(
        self,
        state: FeedState,
        fetched: Fetched,
        parsed: ParsedFeed | Exception | None = None,
        parsed_at: datetime | None = None,
    ) -> PollOutcome:
        """Record the poll; ``parsed``: the body already parsed (or failed to) elsewhere."""
        now = parsed_at or self.clock()
        if self._stopping.is_set():
            # Queued behind other writes when a shutdown began: not stored, so not marked as
            # seen either; the next start fetches the body again.
            return PollOutcome(feed=state.name, status="skipped", next_poll_at=now)
        bounds = Bounds.of(state.interval_s, state.min_interval_s, state.max_interval_s)
        max_age = cache_max_age(fetched.headers)
        if not self._needs_parse(state, fetched):
            return self._record_unchanged(state, fetched, bounds, max_age, now)
        assert fetched.body is not None
        body_hash = hashlib.sha256(fetched.body).hexdigest()
        if parsed is None:
            parsed = _parse_here(state, fetched, now)
        if isinstance(parsed, FeedParseError):
            return self._fail(state, str(parsed), None)
        if isinstance(parsed, Exception):  # feedparser on hostile input: the feed's failure
            log.error("parsing feed %s failed unexpectedly", state.name, exc_info=parsed)
            return self._fail(state, f"parse: {parsed!r}"[:300], None)
        feed = parsed
        hints = [h for h in (feed.pace_s, max_age) if h]
        hint = max(hints) if hints else None
        # A scheduled feed read for the first time: its undated entries are its archive.
        archive = feed.undated if state.interval_s > 0 and state.body_hash is None else None

        def write(session: Session) -> PollOutcome:
            result = store_entries(
                session,
                feed_id=state.id,
                tier=state.tier,
                entries=feed.entries,
                now=now,
                stories=self._stories,
            )
            if archive and result.new_item_ids:
                mark_seen(session, result.new_item_ids, archive, now)
            changed = bool(result.new_items or result.revised_items)
            interval = next_interval(state.poll_interval_s, bounds, changed=changed, hint_s=hint)
            nxt = next_after_success(interval, now, self.rng)
            record_success(
                session,
                state.id,
                now=now,
                next_poll_at=nxt,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                body_hash=body_hash,
                poll_interval_s=interval,
            )
            return PollOutcome(
                feed=state.name,
                status="new",
                next_poll_at=nxt,
                entries=result.entries,
                new_items=result.new_items,
                new_stories=result.new_stories,
                bozo=feed.bozo,
                skipped=feed.skipped,
                new_item_ids=result.new_item_ids,
                revised_items=result.revised_items,
                hub=feed.hub,
                topic=feed.topic,
                feed_url=state.url,
            )

        for attempt in range(3):
            try:
                return self._with_session(write)
            except (IntegrityError, OperationalError) as exc:
                # Another worker stored the same item first, or SQLite was busy: the retry
                # sees their rows and turns ours into sightings.
                if attempt == 2:
                    return self._db_fail(state, exc)
            except SQLAlchemyError as exc:
                return self._db_fail(state, exc)
        raise AssertionError("unreachable")


def _parse_here(state: FeedState, fetched: Fetched, now: datetime) -> ParsedFeed | Exception:
    assert fetched.body is not None
    try:
        return parse_feed(
            fetched.body,
            publisher=state.name,
            now=now,
            headers=fetched.headers,
            base_url=fetched.final_url,
        )
    except Exception as exc:  # the feed's failure, recorded by the caller
        return exc


def _rebuilt(pool: Executor) -> Executor:
    """A broken process pool replaced by a fresh one of the same make."""
    from bot.feeds.parsepool import rebuild

    return rebuild(pool)


def _retrieve(task: asyncio.Future[Fetched]) -> None:
    # Nobody awaits a dropped fetch: take its outcome so asyncio does not log it at exit.
    if not task.cancelled():
        task.exception()
