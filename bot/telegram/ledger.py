"""The notifier's side of the database: claims, and outcomes recorded or kept until it answers.

A database that fails mid-pass must not strand what the pass claimed, nor lose the fact that
Telegram took a message: an outcome the database refuses is kept in memory and written before
the next claim, and the claims of a failed pass are given back by the next one that succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.clock import Clock
from storage.backlog import delivery_backlog, release_claims
from storage.leases import release_ids
from storage.outbox import DELIVERY_LEASE, PendingDelivery, due_deliveries

__all__ = ["DatabaseDown", "DeliveryLedger", "RunDb", "Write"]

log = logging.getLogger(__name__)

T = TypeVar("T")
RunDb = Callable[[Callable[[], T]], Awaitable[T]]
Write = Callable[[Session], object]

# A database that failed is tried again after this, doubling up to the cap.
RETRY_S = 0.5
RETRY_MAX_S = 2.0


class DatabaseDown(Exception):
    """The database refused a write; it is kept for the next claim."""


class DeliveryLedger:
    """Every database call of one notifier, on the process's database thread (``run_db``)."""

    def __init__(self, db: Engine, run_db: RunDb[object], owner: str, clock: Clock) -> None:
        self.db = db
        self.owner = owner
        self.clock = clock
        self._run_db = run_db
        self._unrecorded: dict[int, Write] = {}
        # Claims of ours may be left over from a failed pass: those on leases ending by then.
        self._stranded: datetime | None = None
        self._failing: tuple[float, str] | None = None
        self.retry_delay = RETRY_S

    async def run(self, fn: Callable[[Session], T]) -> T:
        """``fn`` in a transaction of its own; a database error is noted and raised."""

        def work() -> T:
            with Session(self.db) as session, session.begin():
                return fn(session)

        try:
            return cast(T, await self._run_db(work))
        except SQLAlchemyError as exc:
            self._failed(exc)
            raise

    async def record(self, key: int, write: Write) -> None:
        """A delivery's outcome: written now, or kept and written before the next claim.

        Raises :class:`DatabaseDown` when kept: the chat stops there, so that a process that
        dies before the database is back repeats at most that one message.
        """
        try:
            await self.run(write)
        except SQLAlchemyError as exc:
            self._unrecorded[key] = write
            raise DatabaseDown from exc

    async def release(self, ids: Collection[int]) -> None:
        """Give back claims not attempted; if the database refuses, the next claim does it."""
        if ids:
            with contextlib.suppress(SQLAlchemyError):
                await self.run(lambda s: release_ids(s, list(ids)))

    async def claim(
        self,
        *,
        target_prefix: str,
        now: datetime,
        limit: int,
        per_target: int,
        busy: Collection[str],
        held: Collection[int],
    ) -> list[PendingDelivery]:
        """Kept outcomes written, stranded claims given back (all but ``held``), then what is
        due claimed for the targets not ``busy``: one transaction."""
        journal = dict(self._unrecorded)
        stranded = self._stranded
        keep = frozenset(held)
        busy = tuple(busy)

        def claim(session: Session) -> list[PendingDelivery]:
            for write in journal.values():
                write(session)
            if stranded is not None:
                release_claims(session, self.owner, until=stranded, keep=keep)
            return due_deliveries(
                session,
                target_prefix=target_prefix,
                now=now,
                limit=limit,
                owner=self.owner,
                exclude_targets=busy,
                per_target=per_target,
            )

        due = await self.run(claim)
        for key, write in journal.items():
            if self._unrecorded.get(key) is write:
                del self._unrecorded[key]
        if self._stranded == stranded:
            self._stranded = None
        if self._failing is not None and not self._unrecorded:
            log.info("delivery: database back after %.1fs", time.monotonic() - self._failing[0])
            self._failing = None
        return due

    def strand(self) -> None:
        """Claims of ours may be left over: the next claim gives back those not held."""
        self._stranded = self.clock() + DELIVERY_LEASE

    @property
    def pending_writes(self) -> int:
        """Outcomes the database has not taken yet."""
        return len(self._unrecorded)

    def problem(self) -> str | None:
        """Since when and how the database has been failing delivery, or None."""
        if self._failing is None:
            return None
        since, error = self._failing
        return f"delivery failing for {time.monotonic() - since:.0f}s: database {error}"

    async def stalled(self, limit: timedelta, *, target_prefix: str) -> str | None:
        """Alerts waiting longer than ``limit`` with nothing delivered meanwhile, by any
        worker: a stall whatever its cause. Asks on a thread of its own, not ``run_db``'s."""

        def check() -> str | None:
            since = self.clock() - limit
            with Session(self.db) as session:
                backlog = delivery_backlog(session, target_prefix=target_prefix, since=since)
            if backlog.oldest_pending is None or backlog.oldest_pending >= since:
                return None
            if backlog.sent_since:
                return None
            waited = (self.clock() - backlog.oldest_pending).total_seconds()
            quiet = limit.total_seconds()
            return f"alerts waiting for {waited:.0f}s and nothing delivered for {quiet:.0f}s"

        return await asyncio.to_thread(check)

    def _failed(self, exc: Exception) -> None:
        if self._failing is None:
            self._failing = (time.monotonic(), type(exc).__name__)
            self.retry_delay = RETRY_S
            log.error("delivery: database unavailable, retrying: %s", str(exc).splitlines()[0])
        else:
            self.retry_delay = min(RETRY_MAX_S, self.retry_delay * 2)
        self.strand()
