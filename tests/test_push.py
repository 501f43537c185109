"""One story, one push: a headline that moves several legs is one message per chat.

Against the Bot API emulator (whose strict HTML parser refuses a malformed message with a 400),
with the real evaluator writing the outbox and the real notifier delivering it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.pipeline.console import CONSOLE, deliver_console
from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from bot.telegram.keyboard import MAX_CALLBACK_BYTES
from storage.chats import load_prefs
from storage.models import alert_t, delivery_t
from tests.conftest import FakeClock
from tests.helpers.botapi import BotApiEmulator, SentMessage, parse_html, run_emulator
from tests.helpers.db import T0, entry, feeds, store
from tests.helpers.inline_rules import RULES, THESIS

GROUP, OTHER = -100_3001, -100_3002
USER = 77
LONG_LEG = "rare-earth-export-controls-stay-binding-on-every-magnet-maker-x"  # 63 characters

# The inline thesis with a second leg whose break moves NVDA the other way.
TWO_LEGS = THESIS.replace(
    "      tickers: {NVDA: bullish, AMD: bullish}\n",
    "      tickers: {NVDA: bullish, AMD: bullish}\n"
    f"    {LONG_LEG}:\n"
    "      claim: China keeps its rare-earth leverage.\n"
    "      tickers: {MP: bearish, NVDA: bearish}\n",
)
RARE_EARTH_RULE = f"""\
  - id: rare-earth-eased
    leg: {LONG_LEG}
    effect: breaks
    severity: critical
    match: {{all: [rare earth, [suspend~]]}}
"""
BOTH = "China lifts H20 ban and suspends rare earth export curbs"


async def run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@dataclass
class Desk:
    emu: BotApiEmulator
    db: Engine
    notifier: TelegramNotifier
    evaluator: Evaluator
    clock: FakeClock

    def news(self, title: str) -> None:
        [gov] = feeds(self.db, "gov", tier="official")
        url = f"https://gov.example/{abs(hash(title))}"
        store(self.db, gov, entry(title, url), tier="official")
        self.evaluator.run(self.db, self.clock())

    def pending(self) -> list[int]:
        with Session(self.db) as s:
            q = select(delivery_t.c.id).where(delivery_t.c.status == "pending")
            return list(s.execute(q).scalars())

    async def deliver_all(self) -> None:
        for _ in range(10):
            await self.notifier.deliver_due()
            if not self.pending():
                return
            self.clock.advance(seconds=2)
        raise AssertionError(f"still pending: {self.pending()}")

    async def ask(self, text: str, chat: int = GROUP) -> str:
        before = len(self.emu.sent_to(chat))
        self.emu.push_message(chat, USER, text)
        await self.emu.wait_for(lambda: len(self.emu.sent_to(chat)) > before, what=text)
        return self.emu.sent_to(chat)[-1].plain_text

    async def press(self, message: SentMessage, data: str) -> str | None:
        before = len(self.emu.callback_answers)
        self.emu.push_callback(message.chat_id, USER, message.message_id, data)
        await self.emu.wait_for(lambda: len(self.emu.callback_answers) > before, what=data)
        return self.emu.callback_answers[-1].text


def rules_dir(parent: Path) -> Path:
    folder = parent / "rules"
    folder.mkdir()
    (folder / "thesis.yaml").write_text(TWO_LEGS)
    (folder / "rules.yaml").write_text(RULES + RARE_EARTH_RULE)
    return folder


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Desk]:
    rulebook = Rulebook(rules_dir(tmp_path), T0)
    async with run_emulator() as emu:
        emu.add_chat(GROUP, "supergroup", "desk")
        emu.add_chat(OTHER, "supergroup", "other desk")
        chats = frozenset({GROUP, OTHER})
        deps = BotDeps(engine, run_db, rulebook, chats, frozenset({USER}), clock)
        app = build_application(emu.token, deps, base_url=emu.base_url, rate_limit=False)
        async with app:
            notifier = TelegramNotifier(app.bot, engine, run_db, clock=clock, per_chat_gap=0.01)
            evaluator = Evaluator(rulebook, chat_router(sorted(chats)))
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield Desk(emu, engine, notifier, evaluator, clock)
            finally:
                await app.updater.stop()
                await app.stop()


def _buttons(message: SentMessage) -> list[list[tuple[str, str]]]:
    rows = message.reply_markup["inline_keyboard"]  # type: ignore[index]
    return [[(b["text"], b["callback_data"]) for b in row] for row in rows]


async def test_a_story_moving_two_legs_is_one_message_naming_both(desk: Desk) -> None:
    desk.news(BOTH)
    with Session(desk.db) as s:
        rows = s.execute(select(alert_t.c.id, alert_t.c.leg, alert_t.c.push_id)).all()
    assert len(rows) == 2  # one alert per leg (each with its own evidence for /why)
    assert {r.push_id for r in rows} == {min(r.id for r in rows)}

    await desk.deliver_all()

    for chat in (GROUP, OTHER):
        [message] = desk.emu.sent_to(chat)  # one push, not one per leg
        parse_html(message.text)
        text = message.plain_text
        assert text.startswith("🔴 CRITICAL · one story moves 2 legs")
        assert f"{LONG_LEG}: intact → broken · critical · confirmed by 1 source" in text
        assert "h20-ban: intact → broken · high · confirmed by 1 source" in text
        assert text.index(LONG_LEG) < text.index("h20-ban")  # the worst first
        assert text.count(BOTH) == 1  # the headline once
        # Every ticker once; NVDA's legs disagree, and the message says which says what.
        assert f"$AMD ▲ $MP ▼ $NVDA split: ▼ {LONG_LEG} / ▲ h20-ban" in text
        assert text.count("$NVDA") == 1
        assert "alerts #1, #2" in text


async def test_each_leg_has_its_own_why_and_mute_and_every_button_fits(desk: Desk) -> None:
    desk.news(BOTH)
    await desk.deliver_all()
    [message] = desk.emu.sent_to(GROUP)
    rows = _buttons(message)

    assert [[t for t, _ in row] for row in rows] == [
        ["Why rare-earth-export-contr…?", "Mute rare-earth-export-contr… 4h"],
        ["Why h20-ban?", "Mute h20-ban 4h"],
        ["Ack"],
    ]
    datas = [d for row in rows for _, d in row]
    assert all(len(d.encode()) <= MAX_CALLBACK_BYTES for d in datas)
    assert datas == ["why:2", "mute:#2:4h", "why:1", "mute:h20-ban:4h", "ack:1"]

    answer = await desk.press(message, "mute:#2:4h")  # the long leg, named by its alert
    assert answer == f"{LONG_LEG} muted for 4h"
    with Session(desk.db) as s:
        assert set(load_prefs(s, [GROUP])[GROUP].muted_legs) == {LONG_LEG}

    before = len(desk.emu.sent_to(GROUP))
    await desk.press(message, "why:1")
    await desk.emu.wait_for(lambda: len(desk.emu.sent_to(GROUP)) > before, what="why")
    why = desk.emu.sent_to(GROUP)[-1].plain_text
    assert why.startswith("Why alert #1 (h20-ban)")
    assert "h20-ban-lifted" in why  # that leg's evidence, not the other's
    assert "rare-earth-eased" not in why

    await desk.press(message, "ack:1")
    await desk.emu.wait_for(lambda: len(desk.emu.edits) == 1, what="the ack edit")
    [edit] = desk.emu.edits
    kept = [[b["text"] for b in row] for row in edit.reply_markup["inline_keyboard"]]  # type: ignore[index]
    assert kept == [[t for t, _ in row] for row in rows[:2]]  # Ack gone, the legs' buttons kept


async def test_a_chat_that_muted_one_leg_gets_the_story_as_the_other_legs_alert(
    desk: Desk,
) -> None:
    desk.emu.push_message(OTHER, USER, "/mute 1d h20-ban")
    await desk.emu.wait_for(lambda: bool(desk.emu.sent_to(OTHER)), what="/mute")
    desk.news(BOTH)
    await desk.deliver_all()

    [_, message] = desk.emu.sent_to(OTHER)
    assert message.plain_text.startswith(f"🔴 CRITICAL · {LONG_LEG}: intact → broken")
    assert "h20-ban" not in message.plain_text
    assert [t for t, _ in _buttons(message)[0]] == ["Why?", "Mute leg 4h", "Ack"]
    [full] = desk.emu.sent_to(GROUP)
    assert "one story moves 2 legs" in full.plain_text


async def test_stories_on_one_leg_each_stay_apart(desk: Desk) -> None:
    desk.news("China lifts H20 ban")
    desk.clock.advance(minutes=5)
    desk.news("Beijing suspends rare earth export curbs")
    await desk.deliver_all()
    first, second = desk.emu.sent_to(GROUP)
    assert "h20-ban: intact → broken" in first.plain_text
    assert f"{LONG_LEG}: intact → broken" in second.plain_text


async def test_a_push_interrupted_by_a_429_goes_out_once_whole(desk: Desk) -> None:
    desk.news(BOTH)
    desk.emu.fail_next("sendMessage", retry_after=1)
    await desk.deliver_all()
    assert len(desk.emu.sent_to(GROUP)) == 1
    assert len(desk.emu.sent_to(OTHER)) == 1
    assert not desk.pending()


def test_the_console_prints_one_block_per_story(
    engine: Engine, tmp_path: Path, clock: FakeClock
) -> None:
    evaluator = Evaluator(Rulebook(rules_dir(tmp_path), T0), [CONSOLE])
    [gov] = feeds(engine, "gov", tier="official")
    store(engine, gov, entry(BOTH, "https://gov.example/both"), tier="official")
    evaluator.run(engine, T0)
    out: list[str] = []

    assert deliver_console(engine, T0 + timedelta(seconds=1), out.append) == 1

    [block] = out
    assert block.startswith("[CRITICAL] one story moves 2 legs:")
    assert f"[CRITICAL] {LONG_LEG}: intact -> broken (confirmed by 1 source), alert #2" in block
    assert "[HIGH] h20-ban: intact -> broken (confirmed by 1 source), alert #1" in block
    assert f"tickers: $AMD ▲ $MP ▼ $NVDA ▼ {LONG_LEG} / ▲ h20-ban" in block
    assert block.count(BOTH) == 1
