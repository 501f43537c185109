"""One poll of one feed: fetch, skip what has not changed, parse, store, record its health."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from bot.clock import Clock, utcnow
from bot.feeds.backoff import next_after_failure, next_after_success
from bot.feeds.fetch import Fetched, Fetcher, FetchError
from bot.feeds.parse import FeedParseError, parse_feed
from bot.process import worker_id
from storage.errors import db_error_label
from storage.feeds import claim_feed, feed_state, record_failure, record_success
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
    ) -> None:
        self.engine = engine
        self.owner = owner or worker_id()
        self.fetcher = fetcher
        self.clock = clock
        self.rng = rng or random.Random()
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="thesiswatch-db")
        self._owns_executor = executor is None
        # Touched only from the database thread, like everything it caches.
        self._stories = StoryCache()
        self._stopping = asyncio.Event()

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
        try:
            fetched = await self._fetch_unless_stopped(state)
        except FetchError as exc:
            return await self.in_db(partial(self._fail, state, str(exc), exc.retry_after))
        except Exception as exc:  # a bug of ours must still be one feed's failure
            log.exception("fetching feed %s failed unexpectedly", state.name)
            return await self.in_db(partial(self._fail, state, f"internal: {exc!r}"[:300], None))
        if fetched is None:  # stopping: the lease goes with the process's others
            return PollOutcome(feed=state.name, status="skipped", next_poll_at=self.clock())
        return await self.in_db(lambda: self._store(state, fetched))

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

    def _with_session(self, fn: Callable[[Session], T]) -> T:
        with Session(self.engine) as session, session.begin():
            return fn(session)

    def _fail(self, state: FeedState, reason: str, retry_after: float | None) -> PollOutcome:
        now = self.clock()
        nxt = next_after_failure(
            state.interval_s, state.consecutive_failures + 1, now, self.rng, retry_after
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
        nxt = next_after_success(state.interval_s, now, self.rng)
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

    def _store(self, state: FeedState, fetched: Fetched) -> PollOutcome:
        now = self.clock()
        if self._stopping.is_set():
            # Queued behind other writes when a shutdown began: not stored, so not marked as
            # seen either; the next start fetches the body again.
            return PollOutcome(feed=state.name, status="skipped", next_poll_at=now)
        nxt = next_after_success(state.interval_s, now, self.rng)
        if fetched.body is None or (
            state.body_hash and hashlib.sha256(fetched.body).hexdigest() == state.body_hash
        ):
            status: Status = "not_modified" if fetched.body is None else "unchanged"
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
                    )
                )
            except SQLAlchemyError as exc:
                return self._db_fail(state, exc)
            return PollOutcome(feed=state.name, status=status, next_poll_at=nxt)
        body_hash = hashlib.sha256(fetched.body).hexdigest()
        try:
            parsed = parse_feed(
                fetched.body,
                publisher=state.name,
                now=now,
                headers=fetched.headers,
                base_url=fetched.final_url,
            )
        except FeedParseError as exc:
            return self._fail(state, str(exc), None)
        except Exception as exc:  # feedparser on hostile input: the feed's failure only
            log.exception("parsing feed %s failed unexpectedly", state.name)
            return self._fail(state, f"parse: {exc!r}"[:300], None)

        def write(session: Session) -> PollOutcome:
            result = store_entries(
                session,
                feed_id=state.id,
                tier=state.tier,
                entries=parsed.entries,
                now=now,
                stories=self._stories,
            )
            record_success(
                session,
                state.id,
                now=now,
                next_poll_at=nxt,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                body_hash=body_hash,
            )
            return PollOutcome(
                feed=state.name,
                status="new",
                next_poll_at=nxt,
                entries=result.entries,
                new_items=result.new_items,
                new_stories=result.new_stories,
                bozo=parsed.bozo,
                skipped=parsed.skipped,
                new_item_ids=result.new_item_ids,
                revised_items=result.revised_items,
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


def _retrieve(task: asyncio.Future[Fetched]) -> None:
    # Nobody awaits a dropped fetch: take its outcome so asyncio does not log it at exit.
    if not task.cancelled():
        task.exception()
