"""The pipeline's jobs (poll, evaluate, deliver, ...) and how a shutdown stops them.

Every job runs its database work on the poller's database thread; a database that refuses a
write costs one log line and turns health red; a shutdown lets jobs finish or stops them
quietly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.clock import Clock, utcnow
from bot.feeds.poller import Poller, PollOutcome
from bot.feeds.websub import WebSub
from bot.ops.metrics import Metrics
from bot.ops.retention import prune_old
from bot.pipeline.announce import announce_reload
from bot.pipeline.console import deliver_console
from bot.pipeline.evaluate import EvalSummary, Evaluator
from bot.pipeline.rulebook import Rulebook
from bot.process import release_dead_leases
from bot.telegram.delivery import TelegramNotifier
from storage.errors import db_error_label
from storage.leases import release_owner
from storage.records import FeedState

__all__ = ["Pipeline", "drain"]

log = logging.getLogger(__name__)

# A database that refuses the dispatcher's claim is asked again after 1, 2, 4, then 5 s.
CLAIM_RETRY_MAX_S = 5.0

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(slots=True)
class Pipeline:
    """Poll, evaluate, deliver: each step on the database thread, in that order."""

    db: Engine
    poller: Poller
    rulebook: Rulebook
    evaluator: Evaluator
    clock: Clock = utcnow
    telegram: TelegramNotifier | None = None
    # Set once Telegram answered and the notifier exists (the link brings it up later).
    telegram_up: asyncio.Event = field(default_factory=asyncio.Event)
    metrics: Metrics = field(default_factory=Metrics)
    # Jobs running now: a shutdown lets them finish their writes.
    inflight: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: bool = False
    # An evaluation is queued for the database thread and has not begun reading items yet.
    _eval_queued: bool = False
    # Subscribes feeds that declare a hub (a public callback URL is configured).
    websub: WebSub | None = None
    # Batch claims the database refused in a row, and when (loop time) to try again.
    _claim_failures: int = 0
    _claim_retry_at: float = 0.0
    # Where rules reloads are announced: the admins' chats (or the console without a token).
    announce_to: tuple[str, ...] = ()

    def tracked(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | None]]:
        """``fn`` as a scheduler job that a shutdown waits for, or stops quietly.

        Once stopping, a run that had not begun does nothing, and one the shutdown has to
        cancel ends with None: APScheduler would log a CancelledError traceback for each. A
        database error ends the run with None and one log line; the next tick tries again.
        """

        async def job(*args: P.args, **kwargs: P.kwargs) -> R | None:
            if self.stopping:
                return None
            task = asyncio.current_task()
            if task is not None:
                self.inflight.add(task)
            try:
                return await fn(*args, **kwargs)
            except asyncio.CancelledError:
                if not self._stopping_now():  # a cancellation that is not ours
                    raise
                return None
            except SQLAlchemyError as exc:  # the database gone (the bot-lock step, ...)
                self._refused(_job_name(fn), exc)
                return None
            finally:
                self.inflight.discard(task)

        return job

    def _stopping_now(self) -> bool:
        # A call, not the attribute: the type checker would keep it narrowed across the await.
        return self.stopping

    def stop(self) -> None:
        """Start a shutdown: no new job runs, polls drop their fetches, evaluation ends."""
        self.stopping = True
        self.poller.stop()

    async def poll(self, feed_id: int) -> PollOutcome:
        started = time.perf_counter()
        outcome = await self.poller.poll(feed_id)
        return await self._polled(feed_id, outcome, started)

    async def claim_due(self, limit: int, exclude: set[int]) -> list[FeedState]:
        """Due feeds for the dispatcher; a database refusing the claim is retried later, a
        failure counted and logged once per try (not every tick)."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._claim_retry_at:
            return []
        try:
            states = await self.poller.claim_due(limit, exclude)
        except SQLAlchemyError as exc:
            self._claim_failures += 1
            pause = min(2.0 ** (self._claim_failures - 1), CLAIM_RETRY_MAX_S)
            self._claim_retry_at = loop.time() + pause
            self.metrics.record_poll(self.poller.claim_failed(exc, pause))
            return []
        self._claim_failures = 0
        return states

    async def poll_claimed(self, state: FeedState) -> PollOutcome:
        """A feed the dispatcher claimed for this worker."""
        started = time.perf_counter()
        outcome = await self.poller.poll_claimed(state)
        return await self._polled(state.id, outcome, started)

    async def push(self, feed_id: int, body: bytes, headers: dict[str, str]) -> PollOutcome:
        """A body a WebSub hub pushed (signature checked): stored and read at once."""
        started = time.perf_counter()
        try:
            outcome = await self.poller.store_push(feed_id, body, headers)
        except SQLAlchemyError as exc:  # the feed is gone, or the database: the hub retries
            self._refused("a pushed body", exc)
            raise
        return await self._polled(feed_id, outcome, started)

    async def _polled(self, feed_id: int, outcome: PollOutcome, started: float) -> PollOutcome:
        # The histogram is the feed's time (fetch, parse, store), not the outcome batch's window.
        self.metrics.record_poll(outcome, time.perf_counter() - started - outcome.batch_wait)
        if outcome.hub and self.websub is not None and not self.stopping:
            await self.websub.ensure(feed_id, outcome.hub, outcome.topic or outcome.feed_url)
        if outcome.new_items or outcome.revised_items:
            await self._evaluate_soon()
        return outcome

    async def _evaluate_soon(self) -> None:
        """An evaluation after new items; one already queued and not begun reads them too."""
        if self._eval_queued:
            return
        self._eval_queued = True
        await self.evaluate()

    def _refused(self, what: str, exc: SQLAlchemyError) -> None:
        """A database write refused (full disk, database gone): one line, and health knows."""
        label = db_error_label(exc)
        log.error("%s failed: database %s; it runs again on its next tick", what, label)
        self.metrics.record_write(False, label)

    async def evaluate(self) -> EvalSummary:
        if self.stopping:  # what is pending stays pending for the next start
            return EvalSummary()

        def run() -> EvalSummary:
            self._eval_queued = False  # items stored from now on need another run
            return self.evaluator.run(self.db, self.clock(), stop=lambda: self.stopping)

        try:
            summary = await self.poller.in_db(run)
        except SQLAlchemyError as exc:  # the items stay pending: nothing is lost
            self._refused("evaluation", exc)
            return EvalSummary()
        self.metrics.record_write(True)  # every run saves the board
        self.metrics.record_evaluation(summary)
        if summary.alerts and self.telegram is not None:
            self.telegram.wake()  # out at once, not at the next tick
        return summary

    async def deliver(self) -> int:
        try:
            if self.telegram is not None:
                sent = await self.telegram.deliver_due()
            else:
                sent = await self.poller.in_db(lambda: deliver_console(self.db, self.clock()))
        except SQLAlchemyError as exc:
            self._refused("delivery", exc)
            return 0
        if sent:
            # Marked sent, so written: a notifier has no poll or evaluation to say so.
            self.metrics.record_write(True)
        return sent

    async def delivery_problem(self, stall: timedelta) -> str | None:
        """For /healthz: a delivery pass failing, or alerts waiting with nothing sent."""
        return await self.telegram.health_problem(stall) if self.telegram else None

    async def free_dead_leases(self) -> None:
        def free() -> None:
            with Session(self.db) as session, session.begin():
                for owner in release_dead_leases(session, self.poller.owner):
                    log.warning("released the leases of %s, a worker that died", owner)

        try:
            await self.poller.in_db(free)
        except SQLAlchemyError as exc:
            self._refused("freeing dead workers' leases", exc)

    async def prune(self, days: int) -> None:
        theses = [e.ruleset.thesis for e in self.rulebook.engines]
        try:
            await self.poller.in_db(lambda: prune_old(self.db, theses, self.clock(), days))
        except SQLAlchemyError as exc:
            self._refused("pruning", exc)

    async def release_leases(self) -> None:
        """At shutdown: the feeds and deliveries this process holds are free for the next."""

        def release() -> int:
            with Session(self.db) as session, session.begin():
                return release_owner(session, self.poller.owner)

        try:
            await self.poller.in_db(release)
        except SQLAlchemyError as exc:  # they expire on their own, or a restart frees them
            log.warning("stopping: leases not released: database %s", db_error_label(exc))

    async def reload_rules(self) -> None:
        """Reload changed rule files; the admins are told what changed, or why not."""

        def reload() -> None:
            report = self.rulebook.refresh(self.clock())
            if report is not None and self.announce_to:
                with Session(self.db) as session, session.begin():
                    announce_reload(
                        session,
                        report,
                        self.rulebook.book,
                        folder=str(self.rulebook.folder),
                        targets=self.announce_to,
                        now=self.clock(),
                    )

        await self.poller.in_db(reload)
        self.metrics.set_rules_version(self.rulebook.version)


async def drain(pipeline: Pipeline, grace: float) -> None:
    """Wait up to ``grace`` seconds for the jobs in flight, then cancel the rest quietly."""
    loop = asyncio.get_running_loop()
    # A job launched just before the pause takes its first step now, and finds it stopping.
    await asyncio.sleep(0)
    deadline = loop.time() + grace
    while pipeline.inflight and loop.time() < deadline:
        await asyncio.wait(set(pipeline.inflight), timeout=deadline - loop.time())
    late = set(pipeline.inflight)
    if late:
        log.warning("stopping: %d jobs still running after %gs: cancelled", len(late), grace)
        for task in late:
            task.cancel()
        await asyncio.wait(late, timeout=5)
    await asyncio.sleep(0)  # their done-callbacks (APScheduler's bookkeeping) run now


def _job_name(fn: Callable[..., object]) -> str:
    inner = getattr(fn, "func", fn)  # a functools.partial names its function
    return str(getattr(inner, "__qualname__", "a job"))
