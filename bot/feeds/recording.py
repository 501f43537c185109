"""How a poll ends up in the database: its outcome, and the feed's health and pace.

The write half of :class:`~bot.feeds.poller.Poller` (which fetches and claims): a 304 or an
unchanged body, a failure, a database that refuses, or a body parsed and stored. Every method
here runs on the poller's database thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from bot.clock import Clock
from bot.feeds.backoff import next_after_failure, next_after_success
from bot.feeds.cadence import Bounds, cache_max_age, next_interval
from bot.feeds.fetch import Fetched
from bot.feeds.parse import FeedParseError, ParsedFeed, parse_feed
from storage.errors import db_error_label
from storage.feed_outcomes import record_outcomes
from storage.feeds import mark_seen, record_failure, record_success
from storage.items import StoryCache, store_entries
from storage.records import FeedState

__all__ = ["Pending", "PollOutcome", "PollRecorder", "Status"]

log = logging.getLogger(__name__)

Status = Literal["new", "not_modified", "unchanged", "error", "skipped"]
T = TypeVar("T")


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
    # Seconds its write waited for the batch window: the database's pacing, not the feed's.
    batch_wait: float = 0.0


@dataclass(slots=True)
class Pending:
    """A poll whose outcome touches only its feed's row (a 304, an unchanged body, a failure):
    written with others like it (:meth:`PollRecorder._write_outcomes`)."""

    state: FeedState
    outcome: PollOutcome
    # What the row takes: storage.feed_outcomes.record_outcomes' keys.
    row: dict[str, Any]
    failed: bool = False


class PollRecorder:
    """Records polls into the feed's row (and its items): the poller's database-thread half."""

    engine: Engine
    clock: Clock
    rng: random.Random
    # Touched only from the database thread, like everything it caches.
    _stories: StoryCache
    _stopping: asyncio.Event

    def _unchanged(self, state: FeedState, fetched: Fetched, now: datetime) -> Pending:
        """A 304, or the same body again: only the feed's health and pace change."""
        bounds = Bounds.of(state.interval_s, state.min_interval_s, state.max_interval_s)
        max_age = cache_max_age(fetched.headers)
        status: Status = "not_modified" if fetched.body is None else "unchanged"
        interval = next_interval(state.poll_interval_s, bounds, changed=False, hint_s=max_age)
        nxt = next_after_success(interval, now, self.rng)
        row = {
            "feed_id": state.id,
            "now": now,
            "next_poll_at": nxt,
            "etag": fetched.etag or state.etag,
            "last_modified": fetched.last_modified or state.last_modified,
            "body_hash": state.body_hash,
            "poll_interval_s": interval,
        }
        return Pending(state, PollOutcome(feed=state.name, status=status, next_poll_at=nxt), row)

    def _failure(self, state: FeedState, reason: str, retry_after: float | None) -> Pending:
        """The feed's own failure (the server, the body): it backs off."""
        now = self.clock()
        nxt = next_after_failure(
            state.current_interval_s, state.consecutive_failures + 1, now, self.rng, retry_after
        )
        outcome = PollOutcome(feed=state.name, status="error", next_poll_at=nxt, error=reason)
        row = {"feed_id": state.id, "now": now, "reason": reason, "next_poll_at": nxt}
        return Pending(state, outcome, row, failed=True)

    def _write_outcomes(self, batch: list[Pending]) -> list[PollOutcome]:
        """Outcomes that touch only their feed's row, in one transaction.

        A database that refuses the batch is asked again one feed at a time, as before
        batching: each feed gets its own refusal, its own log line and its own count.
        """
        if len(batch) == 1:
            return [self._write_one(batch[0])]
        try:
            self._with_session(
                lambda s: record_outcomes(
                    s, [p.row for p in batch if not p.failed], [p.row for p in batch if p.failed]
                )
            )
        except SQLAlchemyError:
            return [self._write_one(p) for p in batch]
        for p in batch:
            if p.failed:
                self._log_failure(p, None)
        return [p.outcome for p in batch]

    def _write_one(self, p: Pending) -> PollOutcome:
        """One outcome in a transaction of its own."""
        row = p.row
        if p.failed:
            unrecorded = self._record_failure(
                p.state, row["now"], row["reason"], row["next_poll_at"]
            )
            self._log_failure(p, unrecorded)
            return replace(p.outcome, db_error=unrecorded)
        try:
            self._with_session(
                lambda s: record_success(
                    s,
                    p.state.id,
                    now=row["now"],
                    next_poll_at=row["next_poll_at"],
                    etag=row["etag"],
                    last_modified=row["last_modified"],
                    body_hash=row["body_hash"],
                    poll_interval_s=row["poll_interval_s"],
                )
            )
        except SQLAlchemyError as exc:
            return self._db_fail(p.state, exc)
        return p.outcome

    @staticmethod
    def _log_failure(p: Pending, unrecorded: str | None) -> None:
        name, reason, nxt = p.state.name, p.row["reason"], p.row["next_poll_at"].isoformat()
        if unrecorded is None:
            log.warning("feed %s failed: %s (next poll %s)", name, reason, nxt)
        else:
            log.error(
                "feed %s failed: %s (next poll %s); not recorded: database %s",
                name,
                reason,
                nxt,
                unrecorded,
            )

    @staticmethod
    def _needs_parse(state: FeedState, fetched: Fetched) -> bool:
        return fetched.body is not None and not (
            state.body_hash and hashlib.sha256(fetched.body).hexdigest() == state.body_hash
        )

    def _with_session(self, fn: Callable[[Session], T]) -> T:
        with Session(self.engine) as session, session.begin():
            return fn(session)

    def _fail(self, state: FeedState, reason: str, retry_after: float | None) -> PollOutcome:
        return self._write_one(self._failure(state, reason, retry_after))

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
            return self._write_one(self._unchanged(state, fetched, now))
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
