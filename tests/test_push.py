"""One story, one push: a headline that moves several legs is one message per chat.

Against the Bot API emulator (whose strict HTML parser refuses a malformed message with a 400),
with the real evaluator writing the outbox and the real notifier delivering it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from telegram import Bot

from bot.pipeline.console import CONSOLE, deliver_console
from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.routing import silent, wants
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from bot.telegram.keyboard import MAX_CALLBACK_BYTES
from bot.telegram.render import collapsed_html
from bot.views.times import set_display_zone
from storage.chats import ChatPrefs, load_prefs
from storage.models import alert_t, delivery_t
from storage.outbox import add_alert, join_push
from tests.conftest import FakeClock
from tests.helpers import drain
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
        return drain.pending(self.db)

    async def deliver_all(self) -> None:
        await drain.deliver_all(self.notifier, self.db, self.clock)

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


def _queue(db: Engine, severity: str, title: str, chat: int = GROUP) -> int:
    with Session(db) as s, s.begin():
        return add_alert(
            s,
            kind="transition",
            leg="h20-ban",
            severity=severity,
            old_state="intact",
            new_state="challenged",
            confirmed=False,
            created_at=T0,
            payload={
                "claim": "China blocks the H20.",
                "reason": "unconfirmed evidence against the claim",
                "headlines": [{"title": title, "source": "S", "tier": "press", "url": None}],
                "tickers": {"NVDA": "bullish"},
            },
            targets=[f"chat:{chat}"],
        )


async def test_quiet_alerts_arrive_silently_by_severity_set_per_chat(desk: Desk) -> None:
    _queue(desk.db, "info", "info news")
    _queue(desk.db, "low", "low news")
    _queue(desk.db, "high", "high news")
    await desk.deliver_all()
    assert _rings(desk.emu) == {"info news": False, "low news": True, "high news": True}

    assert await desk.ask("/quiet medium") == (
        "Alerts of severity medium and lower arrive silently; higher ones ring."
    )
    _queue(desk.db, "medium", "medium news")
    _queue(desk.db, "high", "high news 2")
    await desk.ask("/quiet off", chat=OTHER)
    _queue(desk.db, "info", "info news 2", chat=OTHER)
    await desk.deliver_all()
    rings = _rings(desk.emu)
    assert rings["medium news"] is False
    assert rings["high news 2"] is True
    assert _rings(desk.emu, OTHER) == {"info news 2": True}
    assert await desk.ask("/quiet") == (
        "Alerts of severity medium and lower arrive silently; higher ones ring."
    )
    bad = await desk.ask("/quiet loud")
    assert bad.startswith("Unknown level 'loud' (one of off, info, low, medium, high)")


async def test_quiet_digest_holds_low_moves_back_from_the_push(desk: Desk) -> None:
    answer = await desk.ask("/quiet high digest")
    assert answer.startswith("Alerts of severity high and lower are not pushed: the digest")
    desk.news(BOTH)  # critical on one leg, high on the other
    await desk.deliver_all()

    [_, message] = desk.emu.sent_to(GROUP)
    assert message.plain_text.startswith(f"🔴 CRITICAL · {LONG_LEG}: intact → broken")
    assert "h20-ban" not in message.plain_text  # the high move waits for the digest
    [full] = desk.emu.sent_to(OTHER)
    assert "one story moves 2 legs" in full.plain_text


def _rings(emu: BotApiEmulator, chat: int = GROUP) -> dict[str, bool]:
    """Each queued alert's headline -> whether the phone rang (no disable_notification)."""
    return {
        m.plain_text.split("• ")[1].split(" — ")[0]: not m.silent
        for m in emu.sent_to(chat)
        if " — S (press)" in m.plain_text
    }


def test_routing_leaves_quiet_moves_and_evidence_free_stale_alerts_to_the_digest() -> None:
    now = T0
    plain = ChatPrefs(1, min_severity="info")
    held = ChatPrefs(2, min_severity="info", quiet="medium", quiet_digest=True)
    assert wants(plain, leg="l", severity="info", tickers=[], now=now)
    assert not wants(plain, leg="l", severity="info", tickers=[], now=now, evidence=False)
    assert wants(plain, leg="l", severity="low", tickers=[], now=now, evidence=False)
    assert not wants(held, leg="l", severity="medium", tickers=[], now=now)
    assert wants(held, leg="l", severity="high", tickers=[], now=now)
    assert silent(plain, "info")
    assert not silent(plain, "low")
    assert not silent(ChatPrefs(3, quiet="off"), "info")


async def test_a_chat_no_longer_allowed_gets_nothing_queued_for_it(
    engine: Engine, clock: FakeClock
) -> None:
    async with run_emulator() as emu:
        emu.add_chat(GROUP, "supergroup", "desk")
        emu.add_chat(OTHER, "supergroup", "dropped desk")
        ids = [
            _queue(engine, "high", f"news {n}", chat) for n in range(2) for chat in (GROUP, OTHER)
        ]
        async with Bot(emu.token, base_url=emu.base_url) as bot:
            notifier = TelegramNotifier(
                bot, engine, run_db, clock=clock, per_chat_gap=0.01, allowed={GROUP}
            )
            await notifier.deliver_due()
            await notifier.deliver_due()
        assert len(emu.sent_to(GROUP)) == 2
        assert emu.sent_to(OTHER) == []
    with Session(engine) as s:
        rows = s.execute(
            select(delivery_t.c.target, delivery_t.c.status, delivery_t.c.last_error)
        ).all()
    assert len(ids) == 4
    assert sorted(rows) == [
        (f"chat:{GROUP}", "sent", None),
        (f"chat:{GROUP}", "sent", None),
        (f"chat:{OTHER}", "failed", "chat no longer allowed"),
        (f"chat:{OTHER}", "failed", "chat no longer allowed"),
    ]


def test_the_collapsed_backlog_message_uses_the_display_zone() -> None:
    set_display_zone(ZoneInfo("Europe/Berlin"))
    try:
        text = collapsed_html(5, T0, T0 + timedelta(minutes=4))
        late = collapsed_html(2, T0, T0 + timedelta(hours=20))
    finally:
        set_display_zone(UTC)
    assert "raised 2025-08-12 10:00 CEST – 10:04 CEST," in text
    assert "raised 2025-08-12 10:00 CEST – 2025-08-13 06:00 CEST," in late


async def test_two_notifiers_send_each_push_once_and_in_order(
    engine: Engine, clock: FakeClock
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several notifiers share a PostgreSQL outbox (SKIP LOCKED); SQLite has one")
    pushes = 6
    for n in range(pushes):
        with Session(engine) as s, s.begin():
            ids = [
                add_alert(
                    s,
                    kind="transition",
                    leg=leg,
                    severity="high",
                    old_state="intact",
                    new_state="broken",
                    confirmed=True,
                    created_at=T0,
                    payload={
                        "claim": "c",
                        "reason": "r",
                        "sources": 1,
                        "headlines": [{"title": f"story {n}", "source": "S", "tier": "wire"}],
                        "tickers": {"NVDA": "bullish"},
                    },
                    targets=[f"chat:{GROUP}", f"chat:{OTHER}"],
                )
                for leg in ("h20-ban", LONG_LEG)
            ]
            join_push(s, ids)
    async with run_emulator() as emu:
        emu.add_chat(GROUP, "supergroup", "desk")
        emu.add_chat(OTHER, "supergroup", "other desk")
        async with Bot(emu.token, base_url=emu.base_url) as bot:
            workers = [
                TelegramNotifier(bot, engine, run_db, clock=clock, per_chat_gap=0, owner=name)
                for name in ("w1", "w2")
            ]
            for _ in range(pushes * 2):
                await asyncio.gather(*(w.deliver_due() for w in workers))
                if len(emu.sent_to(GROUP)) + len(emu.sent_to(OTHER)) == 2 * pushes:
                    break
        for chat in (GROUP, OTHER):
            got = [m.plain_text.split("• ")[1].split(" — ")[0] for m in emu.sent_to(chat)]
            assert got == [f"story {n}" for n in range(pushes)]  # each once, in order
    with Session(engine) as s:
        statuses = s.execute(select(delivery_t.c.status)).scalars().all()
    assert statuses == ["sent"] * (4 * pushes)
