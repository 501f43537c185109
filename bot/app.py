"""The long-running process: feeds polled on schedule, items through the rules, alerts out."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlmodel import Session
from telegram.error import TelegramError

from bot.clock import utcnow
from bot.feeds.config import load_feeds
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.ingest import poll_feeds
from bot.feeds.poller import Poller, PollOutcome
from bot.feeds.scheduler import FeedScheduler, ScheduledFeed
from bot.jobs import Pipeline, drain
from bot.ops.leader import Leadership
from bot.ops.server import OpsServer, engine_check
from bot.pipeline.console import CONSOLE
from bot.pipeline.evaluate import EvalSummary, Evaluator, chat_router
from bot.pipeline.routing import chat_target
from bot.pipeline.rulebook import Rulebook
from bot.process import release_dead_leases, worker_id
from bot.settings import Settings
from bot.telegram.bot import BotDeps, build_application, register_commands
from bot.telegram.delivery import TelegramNotifier
from bot.telegram.digest import send_due_digests
from bot.telegram.link import TelegramLink
from bot.telegram.reads import warm_up_chart
from bot.telegram.updates import PerChatProcessor
from storage.feeds import active_feeds, sync_feeds
from storage.notify import listen_outbox

__all__ = ["ROLES", "Pipeline", "RunResult", "run"]

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


@dataclass(slots=True)
class RunResult:
    outcomes: list[PollOutcome]
    evaluation: EvalSummary = field(default_factory=EvalSummary)
    delivered: int = 0


def _sync(engine: Engine, settings: Settings, me: str, rulebook: Rulebook) -> list[ScheduledFeed]:
    # A feed's topics must name legs of the theses the rules define (bare or thesis/leg).
    legs = rulebook.book.leg_refs()
    defs = load_feeds(settings.feeds, min_interval=settings.min_feed_interval, legs=legs)
    with Session(engine) as session, session.begin():
        sync_feeds(session, defs, deactivate_others=True)
        freed = release_dead_leases(session, me)
        states = active_feeds(session)
    if freed:
        log.info("released the leases of %d dead worker(s) on this host", len(freed))
    return [
        ScheduledFeed(
            s.id, s.name, s.interval_s, s.next_poll_at if s.consecutive_failures else None
        )
        for s in states
    ]


ROLES = ("all", "poller", "notifier", "bot")
# How often a process without the bot lock tries to take it over.
LEADER_S = 10
PRUNE_H = 6


async def run(
    engine: Engine, settings: Settings, *, once: bool = False, role: str = "all"
) -> RunResult:
    """Poll every configured feed; with ``once`` a single round, else until SIGINT/SIGTERM.

    ``role`` splits the work between processes sharing one database: ``poller`` polls and
    evaluates, ``notifier`` delivers the outbox, ``bot`` answers Telegram (one process at a
    time, by advisory lock), ``all`` does everything.
    """
    me = worker_id()
    rulebook = Rulebook(settings.rules_dir, utcnow())
    feeds = _sync(engine, settings, me, rulebook)
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else None
    chats = sorted({*settings.allowed_chats, *settings.admins})
    # No token: the same alerts, through the same outbox, to the console.
    evaluator = Evaluator(
        rulebook, chat_router(chats) if token else [CONSOLE], max_age=settings.max_alert_age
    )
    limits = FetchLimits(
        max_bytes=settings.max_feed_bytes,
        concurrency=settings.fetch_concurrency,
        allow_private_redirects=settings.allow_private_redirects,
    )
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits), owner=me)
        pipeline = Pipeline(engine, poller, rulebook, evaluator)
        pipeline.announce_to = (
            tuple(chat_target(a) for a in settings.admins) if token else (CONSOLE,)
        )
        try:
            if once:
                outcomes = await poll_feeds(poller, [f.id for f in feeds])
                evaluation = await pipeline.evaluate()
                return RunResult(outcomes, evaluation, await pipeline.deliver())
            polls = role in ("all", "poller")
            if polls:
                await pipeline.evaluate()  # whatever a crash or `ingest` left pending
            app = None
            if token is not None and role != "poller":
                deps = BotDeps(
                    engine,
                    poller.in_db,
                    rulebook,
                    frozenset(settings.allowed_chats),
                    frozenset(settings.admins),
                )
                app = build_application(token, deps, base_url=settings.telegram_api_url)
            elif token is None and role == "bot":
                log.warning("role bot without THESISWATCH_TELEGRAM_TOKEN: nothing to answer")
            async with AsyncExitStack() as stack:
                pipeline.metrics.set_rules_version(rulebook.version)
                link = bot = None
                if app is not None:
                    bot = _Bot(app, Leadership(engine)) if role in ("all", "bot") else None
                    link = _telegram(app, pipeline, bot, settings, role=role, owner=me)
                    stack.push_async_callback(link.close)
                await _ops(stack, pipeline, settings, polls, link)
                await _serve(
                    pipeline,
                    feeds if polls else [],
                    deliver=role in ("all", "notifier"),
                    evaluate=polls,
                    bot=bot,
                    link=link,
                    retention_days=settings.retention_days if polls else 0,
                    delivery_tick=settings.delivery_tick_s,
                )
            return RunResult([])
        finally:
            poller.close()


def _telegram(
    app: Any, pipeline: Pipeline, bot: _Bot | None, settings: Settings, *, role: str, owner: str
) -> TelegramLink:
    """The link that brings Telegram up in the background; then delivery and the bot start."""

    async def on_up() -> None:
        if role in ("all", "notifier"):
            max_age = settings.delivery_max_age_s
            pipeline.telegram = TelegramNotifier(
                app.bot,
                pipeline.db,
                pipeline.poller.in_db,
                owner=owner,
                on_outcome=pipeline.metrics.record_delivery,
                max_age=timedelta(seconds=max_age) if max_age else None,
                allowed={*settings.allowed_chats, *settings.admins},
            )
            pipeline.telegram_up.set()
        if bot is not None:
            await bot.step()  # not ten seconds from now, at the next leader tick
            await _digests(bot)  # those due while Telegram was away: now, not a minute on

    link = TelegramLink(app, on_up)
    if bot is not None:
        bot.link = link
    return link


async def _ops(
    stack: AsyncExitStack,
    pipeline: Pipeline,
    settings: Settings,
    polls: bool,
    link: TelegramLink | None = None,
) -> None:
    """/healthz and /metrics; a taken port is logged, and the bot runs on without them."""
    if settings.ops_port < 0:
        return
    stall = timedelta(seconds=settings.health_max_delivery_stall_s)
    server = OpsServer(
        pipeline.metrics,
        engine_check(pipeline.db),
        host=settings.ops_host,
        port=settings.ops_port,
        max_poll_age=timedelta(seconds=settings.health_max_poll_age_s) if polls else None,
        components={"telegram": link.health} if link is not None else None,
        checks={"delivery": partial(pipeline.delivery_problem, stall)},
    )
    try:
        await stack.enter_async_context(server)
    except OSError as exc:
        log.error("no /healthz or /metrics: %s:%d: %s", settings.ops_host, settings.ops_port, exc)
        return
    log.info("/healthz and /metrics on http://%s:%d", settings.ops_host, server.port)


@dataclass(slots=True)
class _Bot:
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


async def _digests(bot: _Bot) -> None:
    """Scheduled digests, from the process that holds the bot (one sender, no duplicates)."""
    if not bot.running:
        return
    try:
        await send_due_digests(bot.app.bot, bot.app.bot_data["deps"])
    except asyncio.CancelledError:  # a stop: what was not recorded as sent goes next time
        log.info("stopping: digests cut short; any not sent go at the next start")


async def _serve(
    pipeline: Pipeline,
    feeds: list[ScheduledFeed],
    *,
    deliver: bool,
    evaluate: bool,
    bot: _Bot | None,
    link: TelegramLink | None = None,
    retention_days: int = 0,
    delivery_tick: float = DELIVER_S,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheduler = FeedScheduler(pipeline.tracked(pipeline.poll))
    scheduler.add_feeds(feeds)
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
            pipeline.tracked(partial(_digests, bot)), IntervalTrigger(seconds=DIGEST_S), id="digest"
        )
    scheduler.start()
    if link is not None:
        link.start()  # in the background: feeds do not wait for Telegram
    log.info(
        "polling %d feeds; rules %s from %s; Ctrl-C or SIGTERM stops",
        len(feeds),
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
