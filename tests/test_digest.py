"""The digest: what changed since the last one, on demand (/digest) and on a schedule.

Against the Bot API emulator (every message through its strict HTML parser), on SQLite and
PostgreSQL, and once through a real `thesiswatch run` process.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session

from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.digest import send_due_digests
from bot.views.digest import next_due
from bot.views.times import set_display_zone
from storage.chats import ChatPrefs, load_prefs, save_prefs
from storage.db import make_engine, migrate
from storage.models import feed_t
from tests.conftest import FakeClock
from tests.helpers.botapi import BotApiEmulator, emulator, parse_html, run_emulator
from tests.helpers.db import T0, entry, feeds, store
from tests.helpers.inline_rules import RULES, THESIS, make_rules_dir

DESK = -100_3001
USER = 77
TWO_LEGS = THESIS.replace(
    "      tickers: {NVDA: bullish, AMD: bullish}\n",
    "      tickers: {NVDA: bullish, AMD: bullish}\n"
    "    rare-earth:\n"
    "      claim: China keeps its rare-earth leverage.\n"
    "      tickers: {MP: bearish}\n",
)


async def run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@dataclass
class Desk:
    emu: BotApiEmulator
    db: Engine
    app: Any
    deps: BotDeps
    evaluator: Evaluator
    clock: FakeClock

    async def ask(self, text: str) -> str:
        before = len(self.emu.sent_to(DESK))
        self.emu.push_message(DESK, USER, text)
        await self.emu.wait_for(lambda: len(self.emu.sent_to(DESK)) > before, what=text)
        return self.emu.sent_to(DESK)[-1].plain_text

    def news(self, feed: int, title: str, at: datetime, publisher: str = "Commerce") -> None:
        url = f"https://n.example/{abs(hash(title))}"
        store(self.db, feed, entry(title, url, at=at, publisher=publisher), tier="official", now=at)
        self.clock.now = at + timedelta(minutes=1)
        self.evaluator.run(self.db, self.clock())

    def prefs(self) -> ChatPrefs:
        with Session(self.db) as s:
            return load_prefs(s, [DESK])[DESK]


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    set_display_zone(UTC)
    yield
    set_display_zone(UTC)


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Desk]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "thesis.yaml").write_text(TWO_LEGS)
    (rules / "rules.yaml").write_text(RULES)
    rulebook = Rulebook(rules, T0)
    async with run_emulator() as emu:
        emu.add_chat(DESK, "supergroup", "desk")
        deps = BotDeps(engine, run_db, rulebook, frozenset({DESK}), frozenset(), clock)
        app = build_application(emu.token, deps, base_url=emu.base_url, rate_limit=False)
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield Desk(emu, engine, app, deps, Evaluator(rulebook, chat_router([])), clock)
            finally:
                await app.updater.stop()
                await app.stop()


def _history(desk: Desk) -> None:
    """A day on the desk: the board runs from 07:00; h20-ban breaks at 08:00; a wire feed
    brings a confirming story at 09:00; a blog feed last delivered three days ago; a feed
    fails."""
    gov, wire, blog, down = feeds(desk.db, "gov", "wire", "blog", "down", tier="official")
    desk.evaluator.run(desk.db, T0 - timedelta(hours=1))
    desk.news(blog, "Intel names a new chief executive", T0 - timedelta(days=3), "Blog")
    desk.news(gov, "China lifts ban on Nvidia H20 purchases", T0)
    desk.news(wire, "China tells firms to avoid the H20", T0 + timedelta(hours=1), "Wire")
    with Session(desk.db) as s, s.begin():
        s.execute(
            update(feed_t)
            .where(feed_t.c.id == down)
            .values(
                consecutive_failures=3,
                last_error="http 502: Bad Gateway",
                last_success_at=T0 - timedelta(days=1),
            )
        )


async def test_digest_now_says_what_changed_with_the_chart(desk: Desk) -> None:
    _history(desk)
    desk.clock.now = T0 + timedelta(hours=3)
    text = await desk.ask("/digest")
    await desk.emu.wait_for(lambda: len(desk.emu.photos) == 1, timeout=30, what="the chart")

    [message] = desk.emu.sent_to(DESK)
    parse_html(message.text)  # the emulator took it; so does Telegram's parser
    assert text.startswith(
        "📰 What changed · test\n2025-08-11 11:00 UTC → 2025-08-12 11:00 UTC (1d 0h)\n\n"
    )
    assert (
        "🔴 h20-ban: intact → broken (1 move)\n   2025-08-12 08:00 UTC: intact → broken\n" in text
    )
    assert "🟢 rare-earth: intact, unchanged (no evidence yet)\n" in text
    evidence = text.split("Strongest evidence\n")[1].split("\n\n")[0].splitlines()
    assert evidence[0] == (
        "🟠 h20-ban breaks: China lifts ban on Nvidia H20 purchases — Commerce (official), "
        "2025-08-12 08:00 UTC"
    )
    assert evidence[1].startswith("🟡 h20-ban confirms: China tells firms to avoid the H20 — Wire")
    feeds_part = text.split("Feeds\n")[1].split("\n\n")[0].splitlines()
    assert feeds_part == [
        "🔴 down failing: http 502: Bad Gateway (3 in a row, last ok 2025-08-11 08:00 UTC)",
        "🟡 blog quiet: no new item since 2025-08-09 08:00 UTC (3d 3h)",
    ]
    assert text.endswith(
        "No scheduled digest: /digest daily 08:00 or /digest weekly mon 08:00 sets one."
    )
    [photo] = desk.emu.photos
    assert photo.caption == "test: leg states, 2025-08-05 11:00 UTC → 2025-08-12 11:00 UTC"
    assert matplotlib.image.imread(io.BytesIO(photo.data)).shape[1] == 1100
    # Recorded once Telegram took it all: the next digest covers from here.
    await desk.emu.wait_for(lambda: desk.prefs().last_digest_at == desk.clock(), what="recorded")


async def test_a_scheduled_digest_goes_out_once_and_covers_since_the_last(desk: Desk) -> None:
    _history(desk)
    desk.clock.now = T0 + timedelta(hours=2)
    answer = await desk.ask("/digest daily 17:30")
    assert answer == "Digest: daily at 17:30 UTC, next 2025-08-12 17:30 UTC."
    bot = desk.app.bot

    assert await send_due_digests(bot, desk.deps) == 0  # not due yet
    desk.clock.now = T0 + timedelta(hours=9, minutes=31)  # 17:31
    assert await send_due_digests(bot, desk.deps) == 1
    assert await send_due_digests(bot, desk.deps) == 0  # once
    first = desk.emu.sent_to(DESK)[-1].plain_text
    prefs = desk.prefs()
    assert (prefs.last_digest_at, prefs.digest_due_at) == (
        T0 + timedelta(hours=9, minutes=31),
        datetime(2025, 8, 13, 17, 30, tzinfo=UTC),
    )

    desk.clock.now = datetime(2025, 8, 13, 17, 30, tzinfo=UTC)
    assert await send_due_digests(bot, desk.deps) == 1
    second = desk.emu.sent_to(DESK)[-1].plain_text
    assert "h20-ban: intact → broken (1 move)" in first
    assert "h20-ban: broken, unchanged since 2025-08-12 08:00 UTC" in second  # nothing new
    assert "no rule matched any news in this period" in second
    assert second.endswith("Digest: daily at 17:30 UTC, next 2025-08-14 17:30 UTC.")
    assert len(desk.emu.photos) == 2


async def test_a_digest_telegram_could_not_take_is_sent_at_the_next_tick(desk: Desk) -> None:
    with Session(desk.db) as s, s.begin():
        save_prefs(
            s,
            ChatPrefs(DESK, digest="daily", digest_due_at=T0, digest_minute=8 * 60),
            T0,
        )
    desk.clock.now = T0 + timedelta(minutes=5)
    desk.emu.fail_next("sendMessage", 1, status=502)
    assert await send_due_digests(desk.app.bot, desk.deps) == 0
    assert desk.prefs().last_digest_at is None
    assert await send_due_digests(desk.app.bot, desk.deps) == 1
    assert desk.prefs().digest_due_at == T0 + timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/digest hourly", "The first word is daily, weekly or off. Usage: /digest"),
        ("/digest daily 25:00", "HH:MM is a time like 08:00 or 17:30. Usage: /digest"),
        ("/digest weekly someday", "DAY is one of mon, tue, wed, thu, fri, sat, sun. Usage:"),
        (
            "/digest weekly fri 07:15",
            "Digest: weekly on fri at 07:15 UTC, next 2025-08-15 07:15 UTC.",
        ),
        (
            "/digest weekly Tuesday",
            "Digest: weekly on tue at 08:00 UTC, next 2025-08-19 08:00 UTC.",
        ),
        ("/digest off", "No scheduled digest: /digest daily 08:00"),
    ],
)
async def test_the_schedule_is_parsed_strictly(desk: Desk, text: str, answer: str) -> None:
    desk.clock.now = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)  # a Tuesday
    assert (await desk.ask(text)).startswith(answer)


def test_the_next_digest_is_due_at_local_time_across_summer_time() -> None:
    london = ZoneInfo("Europe/London")
    # Saturday 25 Oct 2025 09:00 BST; the clocks go back on Sunday 26 Oct.
    after = datetime(2025, 10, 25, 8, 0, tzinfo=UTC)
    assert next_due("daily", 8 * 60, 0, after, london) == datetime(2025, 10, 26, 8, 0, tzinfo=UTC)
    assert next_due("daily", 10 * 60, 0, after, london) == datetime(2025, 10, 25, 9, 0, tzinfo=UTC)
    assert next_due("weekly", 8 * 60, 0, after, london) == datetime(2025, 10, 27, 8, 0, tzinfo=UTC)
    sunday_due = datetime(2025, 10, 26, 8, 0, tzinfo=UTC)
    assert next_due("weekly", 8 * 60, 6, sunday_due, london) == datetime(
        2025, 11, 2, 8, 0, tzinfo=UTC
    )
    assert next_due("off", 0, 0, after, london) is None


def test_a_running_bot_sends_a_digest_that_fell_due(tmp_path: Path) -> None:
    """`thesiswatch run` as users run it: a digest due at start goes out once Telegram is up."""
    db_path = tmp_path / "run.db"
    db = make_engine(f"sqlite:///{db_path}")
    migrate(db)
    past = datetime.now(UTC) - timedelta(minutes=5)
    with Session(db) as s, s.begin():
        save_prefs(s, ChatPrefs(2001, digest="daily", digest_due_at=past), past)
    db.dispose()
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text("feeds:\n  - {name: a, url: 'file.xml', tier: wire}\n")
    (tmp_path / "file.xml").write_text(
        "<rss version='2.0'><channel><title>a</title></channel></rss>"
    )
    with emulator() as emu:
        emu.add_chat(2001, "private")
        env = os.environ | {
            "THESISWATCH_DATABASE_URL": f"sqlite:///{db_path}",
            "THESISWATCH_FEEDS": str(feeds_file),
            "THESISWATCH_OPS_PORT": "0",
            "THESISWATCH_RULES_DIR": str(make_rules_dir(tmp_path)),
            "THESISWATCH_TELEGRAM_TOKEN": emu.token,
            "THESISWATCH_TELEGRAM_API_URL": emu.base_url,
            "THESISWATCH_ALLOWED_CHATS": "2001",
        }
        log = tmp_path / "stderr.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "thesiswatch"), "run"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            deadline = time.monotonic() + 60
            while not emu.photos and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        texts = [m.plain_text for m in emu.sent_to(2001)]
        assert [t.split("\n")[0] for t in texts] == ["📰 What changed · test"], log.read_text()
        assert len(emu.photos) == 1
    assert "Traceback" not in log.read_text()
