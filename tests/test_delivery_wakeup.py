"""Alerts out at once: delivery wakes when an alert is committed, and each chat has its own turn.

The fallback tick in these tests is an hour, so whatever arrives came through a wake-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.app import Pipeline
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller
from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from storage.db import make_engine, migrate
from storage.feeds import sync_feeds
from storage.notify import listen_outbox
from storage.records import FeedDef
from tests.helpers.botapi import BotApiEmulator, run_emulator
from tests.helpers.db import queue_alert
from tests.helpers.feedserver import FeedServer, rss
from tests.helpers.inline_rules import make_rules_dir

DESK, GROUP = 4001, -100_4002
HOUR = 3600.0


async def run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with run_emulator() as e:
        e.add_chat(DESK, "private")
        e.add_chat(GROUP, "supergroup", "desk")
        e.enforce_limits()  # Telegram's limits, enforced as 429s
        yield e


@pytest.fixture
async def app(emu: BotApiEmulator, tmp_path: Path, sqlite_engine: Engine) -> AsyncIterator[Any]:
    rulebook = Rulebook(make_rules_dir(tmp_path), datetime.now(UTC))
    deps = BotDeps(sqlite_engine, run_db, rulebook, frozenset({DESK, GROUP}), frozenset())
    application = build_application(emu.token, deps, base_url=emu.base_url)
    async with application:
        yield application


async def test_an_alert_is_sent_as_soon_as_the_poll_that_raised_it_is_stored(
    app: Any, emu: BotApiEmulator, engine: Engine, tmp_path: Path, feed_server: FeedServer
) -> None:
    news = ("China lifts ban on Nvidia H20 purchases", "https://gov.example/1")
    path = feed_server.route("/gov.xml", rss(news, published=datetime.now(UTC)))
    with Session(engine) as s, s.begin():
        [feed] = sync_feeds(s, [FeedDef("gov", path, "official", 300)], deactivate_others=False)
    rulebook = Rulebook(make_rules_dir(tmp_path), datetime.now(UTC))
    limits = FetchLimits()
    stop = asyncio.Event()
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits))
        notifier = TelegramNotifier(app.bot, engine, poller.in_db)
        pipeline = Pipeline(
            engine,
            poller,
            rulebook,
            Evaluator(rulebook, chat_router([DESK])),
            telegram=notifier,
        )
        serving = asyncio.create_task(notifier.serve(stop, tick=HOUR))
        try:
            await emu.wait_for(lambda: notifier.passes > 0, what="the first pass")
            outcome = await pipeline.poll(feed)  # store, evaluate: the alert is committed
            assert outcome.new_items == 1
            [message] = await emu.wait_sent(1, chat_id=DESK, timeout=20)
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)
            poller.close()
    assert "h20-ban: intact → broken" in message.plain_text


async def test_a_private_chat_does_not_wait_behind_a_paced_group(
    app: Any, emu: BotApiEmulator, engine: Engine
) -> None:
    notifier = TelegramNotifier(app.bot, engine, run_db)
    stop = asyncio.Event()
    serving = asyncio.create_task(notifier.serve(stop, tick=HOUR))
    try:
        for i in range(3):  # a group takes one message every 3 s (20 a minute)
            queue_alert(engine, f"group news {i}", [GROUP], created_at=datetime.now(UTC))
        notifier.wake()
        await emu.wait_sent(1, chat_id=GROUP, timeout=20)
        queue_alert(engine, "desk news", [DESK], created_at=datetime.now(UTC))
        notifier.wake()  # what committing it does in this process
        await emu.wait_sent(1, chat_id=DESK, timeout=20)
        group_sent_by_then = len(emu.sent_to(GROUP))
        await emu.wait_sent(3, chat_id=GROUP, timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
    assert group_sent_by_then < 3  # the desk's alert went out while the group was paced
    assert not [v for v in emu.rate_violations if v.enforced]


@pytest.mark.postgres
async def test_a_notify_from_a_commit_elsewhere_wakes_the_listener(
    app: Any, emu: BotApiEmulator, pg_url: str
) -> None:
    engine = make_engine(pg_url)
    migrate(engine)
    notifier = TelegramNotifier(app.bot, engine, run_db)
    stop, ready = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(notifier.serve(stop, tick=HOUR))
    listening = asyncio.create_task(listen_outbox(engine, notifier.wake, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        # Committed on a connection of its own, as another worker would.
        await asyncio.to_thread(
            queue_alert, engine, "desk news", [DESK], created_at=datetime.now(UTC)
        )
        await emu.wait_sent(1, chat_id=DESK, timeout=20)
    finally:
        listening.cancel()
        stop.set()
        await asyncio.wait_for(serving, 30)
        engine.dispose()
