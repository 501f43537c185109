"""The long-running process: feeds polled on schedule, items through the rules, alerts out."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine

from bot.clock import utcnow
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.ingest import poll_feeds
from bot.feeds.parsepool import make_parse_pool, pool_size, warm_up
from bot.feeds.poller import Poller, PollOutcome
from bot.feeds.scheduler import TICK_S as DISPATCH_TICK_S
from bot.feeds.startup import sync_at_start
from bot.feeds.websub import WebSub
from bot.jobs import Pipeline
from bot.ops.leader import Leadership
from bot.ops.server import OpsServer, engine_check
from bot.pipeline.console import CONSOLE
from bot.pipeline.evaluate import EvalSummary, Evaluator, chat_router
from bot.pipeline.routing import chat_target
from bot.pipeline.rulebook import Rulebook
from bot.process import worker_id
from bot.serve import DELIVER_S, BotRole, send_digests, serve
from bot.settings import Settings
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from bot.telegram.link import TelegramLink

__all__ = ["DELIVER_S", "ROLES", "Pipeline", "RunResult", "run"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RunResult:
    outcomes: list[PollOutcome]
    evaluation: EvalSummary = field(default_factory=EvalSummary)
    delivered: int = 0


ROLES = ("all", "poller", "notifier", "bot")


async def run(
    engine: Engine,
    settings: Settings,
    *,
    once: bool = False,
    role: str = "all",
    rulebook: Rulebook | None = None,
) -> RunResult:
    """Poll every configured feed; with ``once`` a single round, else until SIGINT/SIGTERM.

    ``role`` splits the work between processes sharing one database: ``poller`` polls and
    evaluates, ``notifier`` delivers the outbox, ``bot`` answers Telegram (one process at a
    time, by advisory lock), ``all`` does everything.
    """
    me = worker_id()
    # The caller's, already loaded (``run`` checks the rules before opening the database).
    if rulebook is None:
        rulebook = Rulebook(settings.rules_dir, utcnow())
    feeds = sync_at_start(engine, settings, me, rulebook)
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
    polls = role in ("all", "poller")
    # Parsing in other processes, so the database thread only writes (long runs that poll).
    pool = make_parse_pool(pool_size(settings.parse_workers)) if polls and not once else None
    async with make_client(limits) as client:
        # A long run writes its polls' 304s and failures once per dispatcher tick.
        window = 0.0 if once else DISPATCH_TICK_S
        poller = Poller(engine, Fetcher(client, limits), owner=me, outcome_window=window)
        if pool is not None:
            loop = asyncio.get_running_loop()
            warm_up(pool, lambda: loop.call_soon_threadsafe(poller.use_parse_pool, pool))
        pipeline = Pipeline(engine, poller, rulebook, evaluator)
        pipeline.announce_to = (
            tuple(chat_target(a) for a in settings.admins) if token else (CONSOLE,)
        )
        try:
            if once:
                outcomes = await poll_feeds(poller, feeds)
                evaluation = await pipeline.evaluate()
                return RunResult(outcomes, evaluation, await pipeline.deliver())
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
                    bot = BotRole(app, Leadership(engine)) if role in ("all", "bot") else None
                    link = _telegram(app, pipeline, bot, settings, role=role, owner=me)
                    stack.push_async_callback(link.close)
                await _ops(stack, pipeline, settings, polls, link)
                await serve(
                    pipeline,
                    len(feeds) if polls else 0,
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
            for used in {pool, poller.parse_pool} - {None}:
                assert used is not None
                used.shutdown(wait=True, cancel_futures=True)


def _telegram(
    app: Any, pipeline: Pipeline, bot: BotRole | None, settings: Settings, *, role: str, owner: str
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
            await send_digests(bot)  # those due while Telegram was away: now, not a minute on

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
    websub = None
    if polls and settings.public_url:
        # Pushes from WebSub hubs come to this server: feeds that name a hub get subscribed.
        websub = WebSub(pipeline.poller.fetcher.client, settings.public_url, pipeline.push)
    server = OpsServer(
        pipeline.metrics,
        engine_check(pipeline.db),
        host=settings.ops_host,
        port=settings.ops_port,
        max_poll_age=timedelta(seconds=settings.health_max_poll_age_s) if polls else None,
        components={"telegram": link.health} if link is not None else None,
        checks={"delivery": partial(pipeline.delivery_problem, stall)},
        routes=websub.install if websub is not None else None,
    )
    try:
        await stack.enter_async_context(server)
    except OSError as exc:
        log.error("no /healthz or /metrics: %s:%d: %s", settings.ops_host, settings.ops_port, exc)
        return
    log.info("/healthz and /metrics on http://%s:%d", settings.ops_host, server.port)
    if websub is not None:
        pipeline.websub = websub
        log.info("WebSub pushes taken at %s/websub/<feed id>", websub.public_url)
