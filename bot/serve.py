"""The long-running process's jobs on one scheduler, and its shutdown in order.

The dispatcher polls due feeds; evaluation, rules reloads, dead workers' leases, delivery,
retention, the bot lock and digests each run on their own tick; a SIGINT or SIGTERM stops
new work, lets jobs in flight finish their writes, then releases this process's leases.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger
from telegram.error import TelegramError

from bot.feeds.scheduler import Dispatcher
from bot.jobs import Pipeline, drain
from bot.ops.leader import Leadership
from bot.telegram.bot import register_commands
from bot.telegram.digest import send_due_digests
from bot.telegram.link import TelegramLink
from bot.telegram.reads import warm_up_chart
from bot.telegram.updates import PerChatProcessor
from storage.notify import listen_outbox

__all__ = ["DELIVER_S", "BotRole", "send_digests", "serve"]

log = logging.getLogger(__name__)

# How often the board is advanced with no news (evidence decays), rule files are checked for
# edits, and the outbox is delivered to the console (Telegram delivery wakes on each alert and
# has its own fallback tick, THESISWATCH_DELIVERY_TICK_S).
TICK_S = 60
RELOAD_S = 5
DELIVER_S = 2
DIGEST_S = 60  # digests are scheduled to the minute
# How long a shutdown waits for jobs in flight (a Telegram send, a write) before cancelling
# them: within the 10 s a container runtime gives between SIGTERM and SIGKILL.
SHUTDOWN_GRACE_S = 8
# How often a process without the bot lock tries to take it over.
LEADER_S = 10
PRUNE_H = 6


@dataclass(slots=True)
class BotRole:
    """Telegram polling and commands, started only while this process holds the lock and
    Telegram has answered; a step that fails is retried by the next one."""

    app: Any
    leadership: Leadership
    link: TelegramLink | None = None
    running: bool = False
    # The leader tick and the link's first step may overlap; one start at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def step(self) -> None:
        if self.link is None or not self.link.is_up:
            return
        async with self.lock:
            held = await asyncio.to_thread(self.leadership.try_acquire)
            if held and not self.running:
                await self._start()
            elif not held and self.running:
                log.error("bot lock lost: stopping Telegram polling")
                await self._stop()

    async def _start(self) -> None:
        if isinstance(self.app.update_processor, PerChatProcessor):
            self.app.update_processor.reopen()
        await self.app.start()
        try:
            await self.app.updater.start_polling(drop_pending_updates=False)
        except TelegramError as exc:
            log.warning("Telegram polling did not start (%s); retrying", type(exc).__name__)
            await self.app.stop()
            return
        self.running = True
        try:
            await register_commands(self.app)
        except TelegramError as exc:  # cosmetic: clients just do not list the commands yet
            log.warning("setMyCommands failed (%s); commands work regardless", exc)

    async def _stop(self) -> None:
        if self.running:
            await self.app.updater.stop()
            # Answers in flight get a moment, then are cut: a stop must not wait out a chat.
            if isinstance(self.app.update_processor, PerChatProcessor):
                await self.app.update_processor.drain()
            await self.app.stop()
            self.running = False

    async def stop(self) -> None:
        async with self.lock:
            await self._stop()
        await asyncio.to_thread(self.leadership.release)


async def send_digests(bot: BotRole) -> None:
    """Scheduled digests, from the process that holds the bot (one sender, no duplicates)."""
    if not bot.running:
        return
    try:
        await send_due_digests(bot.app.bot, bot.app.bot_data["deps"])
    except asyncio.CancelledError:  # a stop: what was not recorded as sent goes next time
        log.info("stopping: digests cut short; any not sent go at the next start")


async def serve(
    pipeline: Pipeline,
    feeds: int,
    *,
    deliver: bool,
    evaluate: bool,
    bot: BotRole | None,
    link: TelegramLink | None = None,
    retention_days: int = 0,
    delivery_tick: float = DELIVER_S,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheduler = Dispatcher(
        pipeline.claim_due,
        pipeline.tracked(pipeline.poll_claimed),
        max_inflight=4 * pipeline.poller.fetcher.limits.concurrency,
        settled=lambda: pipeline.poller.outcomes.waiting,
    )
    if feeds:
        scheduler.install(pipeline.tracked)
    every = partial(
        scheduler.scheduler.add_job, max_instances=1, coalesce=True, misfire_grace_time=30
    )
    if evaluate:
        every(pipeline.tracked(pipeline.evaluate), IntervalTrigger(seconds=TICK_S), id="evaluate")
    every(pipeline.tracked(pipeline.reload_rules), IntervalTrigger(seconds=RELOAD_S), id="reload")
    every(
        pipeline.tracked(pipeline.free_dead_leases), IntervalTrigger(seconds=LEADER_S), id="leases"
    )
    if deliver and link is not None:
        # Not a scheduler job: it runs until stopped, then lets chats finish the message in hand.
        delivering = asyncio.create_task(_deliver_telegram(pipeline, stop, delivery_tick))
        pipeline.inflight.add(delivering)  # a shutdown waits for it
        delivering.add_done_callback(pipeline.inflight.discard)
    elif deliver:
        every(pipeline.tracked(pipeline.deliver), IntervalTrigger(seconds=DELIVER_S), id="deliver")
    if retention_days:
        every(
            pipeline.tracked(partial(pipeline.prune, retention_days)),
            IntervalTrigger(hours=PRUNE_H),
            id="retention",
        )
    if bot is not None:
        every(pipeline.tracked(bot.step), IntervalTrigger(seconds=LEADER_S), id="leader")
        warm_up_chart()  # matplotlib loaded in the background, not by the first /chart
        every(
            pipeline.tracked(partial(send_digests, bot)),
            IntervalTrigger(seconds=DIGEST_S),
            id="digest",
        )
    scheduler.start()
    if link is not None:
        link.start()  # in the background: feeds do not wait for Telegram
    log.info(
        "polling %d feeds; rules %s from %s; Ctrl-C or SIGTERM stops",
        feeds,
        pipeline.rulebook.version[:12],
        pipeline.rulebook.folder,
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        # Nothing new starts; polls drop their fetches and an evaluation ends after its batch,
        # so what runs now is mostly a write on the database thread, which finishes.
        scheduler.pause()
        pipeline.stop()
        log.info("stopping: %d jobs in flight", len(pipeline.inflight))
        await drain(pipeline, SHUTDOWN_GRACE_S)
        # Only now: APScheduler's shutdown cancels whatever job is left, loudly.
        scheduler.shutdown()
        if link is not None:
            await link.cancel()  # no bot start racing the stop below
        if bot is not None:
            await bot.stop()
        await pipeline.release_leases()
        log.info("stopped")


async def _deliver_telegram(pipeline: Pipeline, stop: asyncio.Event, tick: float) -> None:
    """Telegram delivery once the link is up: woken by every alert committed, here or by
    another worker (PostgreSQL NOTIFY), the tick only a fallback; returns once ``stop`` is set
    and the chats being served have finished the message in hand."""
    up = asyncio.ensure_future(pipeline.telegram_up.wait())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({up, stopped}, return_when=asyncio.FIRST_COMPLETED)
    up.cancel()
    stopped.cancel()
    notifier = pipeline.telegram
    if stop.is_set() or notifier is None:
        return
    listener = asyncio.create_task(listen_outbox(pipeline.db, notifier.wake))
    try:
        await notifier.serve(stop, tick=tick)
    finally:
        listener.cancel()
