"""Delivery through faults: the database lost mid-pass, Telegram away for long, alerts gone stale.

Real parts: the local PostgreSQL reached through a TCP proxy the test cuts (the server itself
stays up for everyone else), a real PTB Application against the Bot API emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer, engine_check
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from storage.db import make_engine, migrate
from storage.models import delivery_t
from storage.outbox import add_alert, due_deliveries
from tests.conftest import FakeClock
from tests.helpers.botapi import BotApiEmulator, run_emulator
from tests.helpers.db import T0, queue_alert
from tests.helpers.inline_rules import make_rules_dir
from tests.helpers.tcpproxy import TcpProxy, tcp_proxy

DESK, TRADER, OPS, RISK = 3001, 3002, 3003, 3004


async def run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with run_emulator() as e:
        for chat in (DESK, TRADER, OPS, RISK):
            e.add_chat(chat, "private")
        yield e


@pytest.fixture
async def app(emu: BotApiEmulator, tmp_path: Path, sqlite_engine: Engine) -> AsyncIterator[Any]:
    deps = BotDeps(
        sqlite_engine, run_db, Rulebook(make_rules_dir(tmp_path), T0), frozenset(), frozenset()
    )
    application = build_application(emu.token, deps, base_url=emu.base_url)
    async with application:
        yield application


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    url = make_url(make_engine("postgresql://postgres@127.0.0.1:5432/test").url)
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as p:
        yield p


@pytest.fixture
def proxied(pg_url: str, pg: Engine, proxy: TcpProxy) -> Iterator[Engine]:
    """The same database and schema as ``pg``, reached through the proxy."""
    engine = make_engine(make_url(pg_url).set(port=proxy.port).render_as_string(False))
    yield engine
    engine.dispose()


def _delivered(emu: BotApiEmulator, chat: int) -> list[int]:
    return [
        int(m.plain_text.split("news ")[1].split()[0])
        for m in emu.sent_to(chat)
        if "news " in m.plain_text
    ]


def _statuses(db: Engine) -> list[str]:
    with Session(db) as s:
        return list(s.execute(select(delivery_t.c.status).order_by(delivery_t.c.id)).scalars())


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.postgres
async def test_a_database_lost_mid_pass_stalls_no_chat(
    app: Any, emu: BotApiEmulator, pg: Engine, proxied: Engine, proxy: TcpProxy
) -> None:
    now = datetime.now(UTC)
    for i in range(4):
        queue_alert(pg, f"news {i}", [DESK, TRADER], created_at=now)
    emu.slow("sendMessage", 0.3)  # the pass is still sending when the database goes
    notifier = TelegramNotifier(app.bot, proxied, run_db, per_chat_gap=0.01)

    first = asyncio.create_task(notifier.deliver_due())
    await emu.wait_sent(1, chat_id=DESK, timeout=10)
    proxy.cut()  # the server restarts: every connection reset, new ones refused
    with contextlib.suppress(SQLAlchemyError):
        await asyncio.wait_for(first, 30)
    proxy.restore()

    # Delivery resumes within passes of the database coming back, not after a 5-minute lease.
    deadline = asyncio.get_running_loop().time() + 30
    while _statuses(pg).count("sent") < 8 and asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(SQLAlchemyError):
            await notifier.deliver_due()
        await asyncio.sleep(0.05)

    assert _statuses(pg) == ["sent"] * 8
    for chat in (DESK, TRADER):
        # In order, and nothing twice: what Telegram took while the database was away was
        # recorded once it came back.
        assert _delivered(emu, chat) == [0, 1, 2, 3]


@pytest.mark.postgres
async def test_healthz_fails_while_delivery_fails_and_recovers(
    app: Any, emu: BotApiEmulator, pg: Engine, proxied: Engine, proxy: TcpProxy
) -> None:
    notifier = TelegramNotifier(app.bot, proxied, run_db, per_chat_gap=0.01)
    check = {"delivery": lambda: notifier.health_problem(timedelta(minutes=2))}
    stop = asyncio.Event()
    async with OpsServer(
        Metrics(), engine_check(pg), port=0, max_poll_age=None, checks=check
    ) as ops:

        async def health() -> tuple[int, dict[str, Any]]:
            async with aiohttp.ClientSession() as http, http.get(f"{ops.url}/healthz") as r:
                return r.status, await r.json()

        serving = asyncio.create_task(notifier.serve(stop, tick=0.2))
        try:
            assert (await health())[0] == 200
            proxy.cut()
            await _until(lambda: notifier.problem() is not None, 10, "a failed pass")
            status, body = await health()
            assert status == 503
            assert body["delivery"].startswith("delivery failing for")
            assert "database OperationalError" in body["delivery"]

            queue_alert(pg, "news 0", [DESK], created_at=datetime.now(UTC))
            proxy.restore()
            await emu.wait_sent(1, chat_id=DESK, timeout=20)
            await _until(lambda: notifier.problem() is None, 10, "a pass that works")
            assert (await health())[0] == 200
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)


async def test_a_long_telegram_outage_drains_at_full_rate_once_it_answers(
    app: Any, emu: BotApiEmulator, sqlite_engine: Engine
) -> None:
    db = sqlite_engine
    emu.enforce_limits()  # Telegram's limits hold while the queue drains
    emu.set_down(True)
    now = datetime.now(UTC)
    chats = [DESK, TRADER, OPS, RISK]
    for i in range(3):
        queue_alert(db, f"news {i}", chats, created_at=now)
    notifier = TelegramNotifier(app.bot, db, run_db)
    stop = asyncio.Event()
    # The fallback tick is an hour: only the probe can notice that Telegram is back.
    serving = asyncio.create_task(notifier.serve(stop, tick=3600))
    try:
        await _until(lambda: notifier.reach.down_for is not None, 20, "the outage confirmed")
        # What a 3-minute outage leaves: every delivery backed off after 8 failed attempts.
        with Session(db) as s, s.begin():
            s.execute(
                update(delivery_t).values(
                    attempts=8,
                    next_attempt_at=now + timedelta(seconds=250),
                    last_error="network: Connection refused",
                )
            )
        emu.set_down(False)
        await _until(lambda: len(emu.sent) == 12, 20, "every alert sent")
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
    for chat in chats:
        assert _delivered(emu, chat) == [0, 1, 2]
    assert not [v for v in emu.rate_violations if v.enforced]
    assert _statuses(db) == ["sent"] * 12


async def test_alerts_too_old_to_send_go_out_as_one_summary_per_chat(
    app: Any, emu: BotApiEmulator, sqlite_engine: Engine, clock: FakeClock
) -> None:
    db = sqlite_engine
    for i in range(5):
        queue_alert(db, f"news {i}", [DESK, TRADER], created_at=clock() + timedelta(minutes=i))
    queue_alert(db, "news 5", [DESK, TRADER], created_at=clock() + timedelta(minutes=50))
    queue_alert(db, "news 6", [OPS], created_at=clock())  # the only stale one for OPS
    clock.advance(hours=1)
    notifier = TelegramNotifier(
        app.bot, db, run_db, clock=clock, per_chat_gap=0.01, max_age=timedelta(minutes=30)
    )

    await notifier.deliver_due()

    for chat in (DESK, TRADER):
        summary, last = [m.plain_text for m in emu.sent_to(chat)]
        assert summary.startswith("⚠️ 5 alerts while delivery was down")
        assert "2025-08-12 09:00 UTC – 09:04 UTC" in summary
        assert "/recent 5" in summary
        assert "news 5" in last  # a recent alert after them is sent as it is
    assert _delivered(emu, OPS) == [6]  # one old alert alone is worth more than a summary
    with Session(db) as s:
        rows = s.execute(select(delivery_t.c.target, delivery_t.c.status)).all()
    assert sorted(status for _, status in rows) == ["collapsed"] * 10 + ["sent"] * 3


@pytest.mark.postgres
def test_two_workers_claiming_at_once_never_split_a_chats_queue(pg: Engine) -> None:
    now = datetime.now(UTC)
    for i in range(3):
        queue_alert(pg, f"news {i}", [DESK, TRADER], created_at=now)
    with Session(pg) as a, a.begin():
        # Worker A has claimed the first delivery of each chat and not committed yet.
        first = due_deliveries(a, target_prefix="chat:", now=now, limit=2, owner="a")
        assert [d.alert.id for d in first] == [1, 1]
        with Session(pg) as b, b.begin():
            # SKIP LOCKED passes over A's rows; what comes after them is not B's to send.
            second = due_deliveries(b, target_prefix="chat:", now=now, owner="b")
    assert second == []


async def test_an_alert_that_cannot_be_rendered_holds_up_nothing(
    app: Any, emu: BotApiEmulator, sqlite_engine: Engine, clock: FakeClock
) -> None:
    db = sqlite_engine
    with Session(db) as s, s.begin():  # a payload without the fields an alert needs
        add_alert(
            s,
            kind="transition",
            leg="h20-ban",
            severity="high",
            old_state="intact",
            new_state="broken",
            confirmed=True,
            created_at=clock(),
            payload={"leg": "h20-ban"},
            targets=[f"chat:{DESK}"],
        )
    queue_alert(db, "news 1", [DESK], created_at=clock())
    notifier = TelegramNotifier(app.bot, db, run_db, clock=clock, per_chat_gap=0.01)

    await notifier.deliver_due()

    assert _delivered(emu, DESK) == [1]
    assert _statuses(db) == ["failed", "sent"]
