"""The real PTB Application and the delivery worker against the Bot API emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import Session
from telegram import Update

from bot.ops.logs import setup_logging
from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.rulebook import Rulebook
from bot.process import release_dead_leases
from bot.telegram.bot import BotDeps, build_application, register_commands
from bot.telegram.commands import HANDLERS
from bot.telegram.delivery import TelegramNotifier
from storage.chats import load_prefs
from storage.models import delivery_t
from tests.conftest import FakeClock
from tests.helpers import drain
from tests.helpers.botapi import BotApiEmulator, run_emulator
from tests.helpers.db import T0, entry, feeds, queue_alert, store
from tests.helpers.inline_rules import make_rules_dir

GROUP, OTHER, STRANGER = -100_1001, -100_1002, -100_666
ADMIN, USER = 42, 77


async def run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@dataclass
class Harness:
    emu: BotApiEmulator
    db: Engine
    app: Any
    notifier: TelegramNotifier
    evaluator: Evaluator
    clock: FakeClock

    async def deliver_all(self, rounds: int = 20, step: float = 2.0) -> None:
        await drain.deliver_all(self.notifier, self.db, self.clock, rounds=rounds, step=step)

    def pending(self) -> list[int]:
        return drain.pending(self.db)

    def alert(self, title: str, chats: tuple[int, ...] = (GROUP,), **payload: Any) -> int:
        return queue_alert(self.db, title, chats, created_at=self.clock(), **payload)


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with run_emulator() as e:
        e.add_chat(GROUP, "supergroup", "desk")
        e.add_chat(OTHER, "supergroup", "other desk")
        e.add_chat(STRANGER, "group", "strangers")
        e.add_chat(ADMIN, "private")
        yield e


@pytest.fixture
async def tg(
    engine: Engine, emu: BotApiEmulator, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Harness]:
    rulebook = Rulebook(make_rules_dir(tmp_path), T0)
    chats = [GROUP, OTHER]
    deps = BotDeps(engine, run_db, rulebook, frozenset(chats), frozenset({ADMIN}), clock)
    # Telegram's limits, but 20/min per group would make each group test take minutes.
    app = build_application(emu.token, deps, base_url=emu.base_url, group_per_min=600)
    async with app:
        notifier = TelegramNotifier(app.bot, engine, run_db, clock=clock, per_chat_gap=0.01)
        yield Harness(emu, engine, app, notifier, Evaluator(rulebook, chat_router(chats)), clock)


def texts(emu: BotApiEmulator, chat: int) -> list[str]:
    return [m.plain_text for m in emu.sent_to(chat)]


async def test_an_alert_reaches_every_allowed_chat_with_its_tickers(tg: Harness) -> None:
    [gov] = feeds(tg.db, "gov", tier="official")
    store(
        tg.db, gov, entry("China lifts ban on Nvidia H20 purchases", "https://g/1"), tier="official"
    )
    tg.evaluator.run(tg.db, T0)

    await tg.deliver_all()

    for chat in (GROUP, OTHER):
        [message] = tg.emu.sent_to(chat)
        assert "h20-ban: intact → broken" in message.plain_text
        assert "$AMD ▲ $NVDA ▲" in message.plain_text
        buttons = [b["text"] for b in message.reply_markup["inline_keyboard"][0]]  # type: ignore[index]
        assert buttons == ["Why?", "Mute leg 4h", "Ack"]


async def test_html_in_a_headline_arrives_harmless(tg: Harness) -> None:
    tg.alert('<b>Exclusive</b> & "quotes" <script>alert(1)</script>')
    await tg.deliver_all()
    [text] = texts(tg.emu, GROUP)
    assert '<b>Exclusive</b> & "quotes" <script>alert(1)</script>' in text  # shown, not parsed


async def test_a_ten_thousand_character_alert_arrives_in_order(tg: Harness) -> None:
    many = [
        {"title": f"Headline {i:02d} " + "y" * 200, "source": "S", "tier": "press", "url": None}
        for i in range(45)
    ]
    tg.alert("first", headlines=many)
    await tg.deliver_all()
    parts = texts(tg.emu, GROUP)
    assert len(parts) >= 3
    joined = "\n".join(parts)
    assert [int(line[11:13]) for line in joined.splitlines() if "Headline" in line] == list(
        range(45)
    )
    assert tg.emu.sent_to(GROUP)[-1].reply_markup is not None  # buttons on the last part only
    assert all(m.reply_markup is None for m in tg.emu.sent_to(GROUP)[:-1])


async def test_a_429_storm_and_an_outage_lose_nothing_and_keep_order(tg: Harness) -> None:
    ids = [tg.alert(f"alert number {i}") for i in range(6)]
    tg.emu.fail_next("sendMessage", 4, status=429, retry_after=3)
    await tg.deliver_all(step=4)
    tg.emu.set_down(True)
    ids += [tg.alert(f"alert number {i}") for i in range(6, 9)]
    await tg.notifier.deliver_due()  # refused: every delivery backs off
    assert len(tg.pending()) == 3
    tg.clock.advance(seconds=31)
    tg.emu.set_down(False)
    await tg.deliver_all(step=10)

    got = [t for t in texts(tg.emu, GROUP) if "alert number" in t]
    assert [int(t.split("alert number ")[1].split()[0]) for t in got] == list(range(9))


async def test_a_blocked_chat_is_paused_and_holds_up_no_one(tg: Harness) -> None:
    tg.emu.block(OTHER)
    for i in range(3):
        tg.alert(f"news {i}", chats=(OTHER, GROUP))

    await tg.deliver_all()

    assert len(texts(tg.emu, GROUP)) == 3
    with Session(tg.db) as s:
        statuses = s.execute(
            select(delivery_t.c.status).where(delivery_t.c.target == f"chat:{OTHER}")
        ).scalars()
        assert set(statuses) == {"failed"}
        assert load_prefs(s, [OTHER])[OTHER].paused


def _sent_count(db: Engine) -> int:
    with Session(db) as s:
        q = select(delivery_t.c.id).where(delivery_t.c.status == "sent")
        return len(list(s.execute(q).scalars()))


@pytest.mark.parametrize("in_flight", [False, True], ids=["between-sends", "during-a-send"])
async def test_a_restart_mid_delivery_loses_nothing(
    tg: Harness, emu: BotApiEmulator, engine: Engine, clock: FakeClock, in_flight: bool
) -> None:
    for i in range(5):
        tg.alert(f"queued {i}")
    tg.notifier.per_chat_gap = 0.3
    task = asyncio.create_task(tg.notifier.deliver_due())
    if in_flight:  # Telegram took message 2; the process dies before recording it
        await emu.wait_sent(2, chat_id=GROUP, timeout=10)
    else:  # message 2 is recorded as sent; the process dies waiting to send 3
        await emu.wait_for(lambda: _sent_count(engine) == 2, timeout=10, what="2 recorded")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)  # a write already handed to the database thread may still land

    fresh = TelegramNotifier(tg.app.bot, engine, run_db, clock=clock, per_chat_gap=0.01)
    with Session(engine) as s, s.begin():  # what a restarted process does first
        assert release_dead_leases(s, fresh.owner) == [tg.notifier.owner]
    await fresh.deliver_due()

    got = [int(t.split("queued ")[1].split()[0]) for t in texts(emu, GROUP)]
    assert sorted(set(got)) == [0, 1, 2, 3, 4]  # nothing lost
    assert got == sorted(got)  # in order
    # Sent is recorded only after Telegram accepted: a death in between repeats one message.
    assert len(got) - 5 == (1 if in_flight and got.count(1) == 2 else 0)


async def _start(tg: Harness) -> None:
    await tg.app.start()
    await register_commands(tg.app)
    await tg.app.updater.start_polling(poll_interval=0, timeout=1)


async def _stop(tg: Harness) -> None:
    await tg.app.updater.stop()
    await tg.app.stop()


async def _ask(emu: BotApiEmulator, chat: int, text: str, user: int = USER) -> str:
    before = len(emu.sent_to(chat))
    emu.push_message(chat, user, text)
    await emu.wait_for(lambda: len(emu.sent_to(chat)) > before, timeout=30, what=text)
    return emu.sent_to(chat)[-1].plain_text


async def test_commands_answer_in_allowed_chats(tg: Harness) -> None:
    [gov] = feeds(tg.db, "gov", tier="official")
    store(
        tg.db, gov, entry("China lifts ban on Nvidia H20 purchases", "https://g/1"), tier="official"
    )
    tg.evaluator.run(tg.db, T0)
    await _start(tg)
    try:
        status = await _ask(tg.emu, GROUP, "/status")
        why = await _ask(tg.emu, GROUP, "/why 1")
        test = await _ask(tg.emu, GROUP, "/test Beijing ends its H20 ban")
        recent = await _ask(tg.emu, GROUP, "/recent 3")
        bad = await _ask(tg.emu, GROUP, "/recent lots")
        unknown = await _ask(tg.emu, GROUP, "/frobnicate")
        leg = await _ask(tg.emu, GROUP, "/status h20-ban")
    finally:
        await _stop(tg)
    assert "h20-ban: broken" in status
    assert "Why alert #1" in why
    assert "China lifts ban on Nvidia H20 purchases" in why
    assert "h20-ban-lifted → h20-ban breaks" in test
    assert "#1" in recent
    assert bad.startswith("N must be a number from 1 to 50. Usage: /recent [N]")
    assert unknown == "Unknown command. /help lists what I understand."
    assert "breaks: China lifts ban on Nvidia H20 purchases" in leg
    assert [c["command"] for c in tg.emu.commands][:3] == ["status", "recent", "why"]


async def test_test_says_when_the_second_stage_hedged_a_break(tg: Harness) -> None:
    folder = tg.evaluator.rulebook.folders[0]
    model = {"threshold": 0.5, "bias": 2.0, "weights": {"t:rumoured": -5.0}}
    (folder / "doubt.json").write_text(json.dumps(model))
    report = tg.evaluator.rulebook.refresh(T0, force=True)
    assert report is not None
    assert report.changed
    await _start(tg)
    try:
        doubted = await _ask(tg.emu, GROUP, "/test H20 ban lifted, rumoured")
        plain = await _ask(tg.emu, GROUP, "/test H20 ban lifted")
    finally:
        await _stop(tg)
    assert "h20-ban-lifted → h20-ban breaks [high] (hedged: unconfirmed)" in doubted
    assert "worded like a near-miss (denial, offer, rumour): «rumoured»" in doubted
    assert "hedged" not in plain
    assert "near-miss" not in plain


async def test_a_stranger_gets_one_refusal_line_and_nothing_else(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await _start(tg)
    try:
        refusal = await _ask(tg.emu, STRANGER, "/status")
        await asyncio.sleep(0.3)
    finally:
        await _stop(tg)
    assert refusal == f"This bot is private. Ask an admin to allow chat {STRANGER}."
    assert len(tg.emu.sent_to(STRANGER)) == 1
    assert f"refused update from chat {STRANGER}" in caplog.text


async def test_buttons_and_admin_commands(tg: Harness) -> None:
    alert_id = tg.alert("China lifts ban on Nvidia H20 purchases")
    await tg.deliver_all()
    message = tg.emu.sent_to(GROUP)[-1]
    await _start(tg)
    try:
        tg.emu.push_callback(GROUP, USER, message.message_id, f"why:{alert_id}")
        await tg.emu.wait_for(lambda: len(tg.emu.sent_to(GROUP)) == 2, timeout=10, what="why")
        tg.emu.push_callback(GROUP, USER, message.message_id, "mute:h20-ban:4h")
        await tg.emu.wait_for(lambda: len(tg.emu.callback_answers) == 2, timeout=10, what="mute")
        refused = await _ask(tg.emu, GROUP, "/reload", user=USER)
        reloaded = await _ask(tg.emu, ADMIN, "/reload", user=ADMIN)
    finally:
        await _stop(tg)
    assert f"Why alert #{alert_id}" in tg.emu.sent_to(GROUP)[1].plain_text
    assert [a.text for a in tg.emu.callback_answers] == [None, "h20-ban muted for 4h"]
    with Session(tg.db) as s:
        prefs = load_prefs(s, [GROUP])[GROUP]
    assert prefs.muted_legs["h20-ban"] == tg.clock() + timedelta(hours=4)
    assert refused == "Only an admin can reload the rules."
    assert reloaded.startswith("Rules reloaded: version ")


async def test_the_token_never_reaches_a_log_line(
    tg: Harness, capfd: pytest.CaptureFixture[str]
) -> None:
    setup_logging("DEBUG", (tg.emu.token,))
    try:
        tg.emu.fail_next("sendMessage", 1, status=500)
        tg.alert("anything")
        await tg.notifier.deliver_due()
        logging.getLogger("httpx").warning("GET %s", f"{tg.emu.base_url}{tg.emu.token}/getMe")
        try:
            raise RuntimeError(f"boom at {tg.emu.base_url}{tg.emu.token}/sendMessage")
        except RuntimeError:
            logging.getLogger("test").exception("failed")
    finally:
        logging.getLogger().handlers.clear()
    err = capfd.readouterr().err
    assert "[redacted]" in err
    assert tg.emu.token not in err


async def test_subscriptions_mutes_rules_feeds_and_chart(tg: Harness) -> None:
    await _start(tg)
    try:
        sub = await _ask(tg.emu, GROUP, "/subscribe h20-ban $NVDA severity=high")
        bad_sub = await _ask(tg.emu, GROUP, "/subscribe moon-landing")
        mute = await _ask(tg.emu, GROUP, "/mute 2h h20-ban")
        bad_mute = await _ask(tg.emu, GROUP, "/mute forever")
        unmute = await _ask(tg.emu, GROUP, "/unmute")
        unsub = await _ask(tg.emu, GROUP, "/unsubscribe")
        rules = await _ask(tg.emu, GROUP, "/rules")
        health = await _ask(tg.emu, GROUP, "/feeds")
        helped = await _ask(tg.emu, GROUP, "/help")
        tg.emu.push_message(GROUP, USER, "/chart 7")
        await tg.emu.wait_for(lambda: len(tg.emu.photos) == 1, timeout=20, what="chart")
        started = await _ask(tg.emu, GROUP, "/start")
    finally:
        await _stop(tg)
    assert sub == "Subscribed to h20-ban; tickers NVDA; severity high and above."
    assert bad_sub.startswith("Unknown leg or ticker 'moon-landing'. Usage: /subscribe")
    assert mute == "Muted h20-ban for 2h."
    assert bad_mute.startswith("DURATION is like 30m, 4h or 2d (at most 30d). Usage: /mute")
    assert unmute == "Unmuted."
    assert unsub.startswith("Unsubscribed")
    assert "3 rules" in rules
    assert "last reload" in rules
    assert health == "No feeds."
    assert "/why ID — the evidence and rules behind alert ID" in helped
    assert tg.emu.photos[0].data[:8] == b"\x89PNG\r\n\x1a\n"
    assert started.startswith("Subscribed: this chat gets thesis alerts.")
    with Session(tg.db) as s:
        prefs = load_prefs(s, [GROUP])[GROUP]
    assert prefs.subscribed
    assert prefs.muted_legs == {}
    assert (prefs.legs, prefs.tickers, prefs.min_severity) == (("h20-ban",), ("NVDA",), "high")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/why ²", "ID is an alert number, as /recent lists them. Usage: /why ID"),
        ("/recent ²", "N must be a number from 1 to 50. Usage: /recent [N]"),
        ("/chart ³", "DAYS must be a number from 1 to 365. Usage: /chart [THESIS] [DAYS]"),
        ("/why 12345678901234567890123456", "ID is an alert number"),
        ("/why #99999999999999999999", "ID is an alert number"),
        ("/recent 99999999999999999999999", "N must be a number from 1 to 50"),
        ("/mute 99999999999999d", "DURATION is like 30m, 4h or 2d (at most 30d). Usage: /mute"),
        ("/mute 4h h20-ban now", "/mute takes at most 2. Usage: /mute DURATION [LEG]"),
        ("/help me", "/help takes no arguments. Usage: /help"),
    ],
)
async def test_a_bad_argument_gets_the_usage_line(tg: Harness, text: str, answer: str) -> None:
    await _start(tg)
    try:
        got = await _ask(tg.emu, GROUP, text)
    finally:
        await _stop(tg)
    assert got.startswith(answer)


# What broke handlers once, or nearly: superscript and other non-ASCII digits, numbers past
# any column or timedelta, signs, exponents, empty values.
_NASTY: tuple[str, ...] = ("²", "٣", "①", "12345678901234567890123456", "#99999999999999999999")
_NASTY += ("99999999999999d", "-1", "0", "1e3", "4h", "h20-ban", "$NVDA", "nvda", "severity=")
_NASTY += ("#", "$")
_WORDS = st.one_of(
    st.sampled_from(_NASTY),
    st.text(max_size=30),
    st.from_regex(r"#?[0-9]{1,30}", fullmatch=True),
    st.from_regex(r"[0-9]{1,20}[smhdwy]", fullmatch=True),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=4),
)


async def test_no_handler_raises_whatever_its_arguments(
    engine: Engine, emu: BotApiEmulator, tmp_path: Path, clock: FakeClock
) -> None:
    """Every command, arbitrary argument strings: each gets an answer, and none raises."""
    rulebook = Rulebook(make_rules_dir(tmp_path), T0)
    deps = BotDeps(engine, run_db, rulebook, frozenset({GROUP}), frozenset({ADMIN}), clock)
    # No rate limiter: a group's 20 a minute would make 200 answers take minutes.
    app = build_application(emu.token, deps, base_url=emu.base_url, rate_limit=False)
    errors: list[BaseException] = []

    async def record(update: object, context: Any) -> None:
        errors.append(context.error)

    app.add_error_handler(record)
    loop = asyncio.get_running_loop()
    names = [name for name, _ in HANDLERS]

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(name=st.sampled_from(names), words=st.lists(_WORDS, max_size=4))
    def check(name: str, words: list[str]) -> None:
        text = f"/{name} {' '.join(words)}"
        errors.clear()  # hypothesis replays and shrinks: each example reports its own
        before = len(emu.sent_to(GROUP)) + len(emu.photos)
        update = Update.de_json(emu.push_message(GROUP, ADMIN, text), app.bot)
        asyncio.run_coroutine_threadsafe(app.process_update(update), loop).result(60)
        assert not errors, f"{text!r} raised {errors[0]!r}"
        assert len(emu.sent_to(GROUP)) + len(emu.photos) > before, f"{text!r}: no answer"

    for name in names:  # every command meets every nasty word, whatever the draw
        for word in _NASTY:
            check = example(name=name, words=[word])(check)
    async with app:
        await asyncio.to_thread(check)  # the app's loop stays free to run each update


async def test_forged_buttons_change_nothing(tg: Harness, caplog: pytest.LogCaptureFixture) -> None:
    alert_id = tg.alert("China lifts ban on Nvidia H20 purchases")
    await tg.deliver_all()
    message = tg.emu.sent_to(GROUP)[-1]
    forged = [
        "mute:h20-ban:99999d",  # past the 30-day cap (main muted until the 2290s)
        "mute:h20-ban:3650000h",
        "mute:" + "x" * 10_000 + ":4h",  # a 10 KB key
        "mute:no-such-leg:4h",
        "mute:h20-ban",
        "why:²",
        "why:99999999999999999999999999",
        "ack:",
        "launch:missiles",
    ]
    await _start(tg)
    try:
        for n, data in enumerate(forged, start=1):
            tg.emu.push_callback(GROUP, USER, message.message_id, data)
            answered = partial(lambda n: len(tg.emu.callback_answers) == n, n)
            await tg.emu.wait_for(answered, what=data[:40])
        tg.emu.push_callback(GROUP, USER, message.message_id, f"why:{alert_id + 1000}")
        await tg.emu.wait_for(lambda: len(tg.emu.callback_answers) == len(forged) + 1)
    finally:
        await _stop(tg)
    answers = [a.text for a in tg.emu.callback_answers]
    assert answers == ["Unknown button"] * len(forged) + [f"No alert #{alert_id + 1000}"]
    with Session(tg.db) as s:
        prefs = load_prefs(s, [GROUP])[GROUP]
    assert (prefs.muted_legs, prefs.muted_until) == ({}, None)
    assert len(tg.emu.sent_to(GROUP)) == 1  # no answer in the chat either
    assert "handler failed" not in caplog.text
    assert "unknown button 'mute:xxxxxxxx" in caplog.text
    assert "x" * 100 not in caplog.text  # the log line is cut too


async def test_a_stranger_is_refused_once_however_often_it_writes(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.telegram.gate")
    await _start(tg)
    try:
        for i in range(150):
            tg.emu.push_message(STRANGER, USER, f"/status {i}")
        await tg.emu.wait_for(
            lambda: caplog.text.count(f"refused update from chat {STRANGER}") == 150,
            timeout=60,
            what="150 updates refused",
        )
        helped = await _ask(tg.emu, GROUP, "/help")
    finally:
        await _stop(tg)
    assert [m.plain_text for m in tg.emu.sent_to(STRANGER)] == [
        f"This bot is private. Ask an admin to allow chat {STRANGER}."
    ]
    assert "/why ID" in helped


def _calls_to_chat(emu: BotApiEmulator, chat: int) -> int:
    return sum(str(c.params.get("chat_id")) == str(chat) for c in emu.calls_to("sendMessage"))


async def test_a_refusal_never_goes_ahead_of_an_alert(tg: Harness) -> None:
    tg.alert("China lifts ban on Nvidia H20 purchases")
    tg.emu.hold(GROUP)  # the alert is on its way, and slow
    await _start(tg)
    try:
        delivery = asyncio.create_task(tg.notifier.deliver_due())
        await tg.emu.wait_for(lambda: tg.emu.holding(GROUP) == 1, what="the alert in flight")
        tg.emu.push_message(STRANGER, USER, "/status")
        limiter = tg.app.bot.rate_limiter
        await tg.emu.wait_for(  # the refusal waits for the budget (or, before the fix, went)
            lambda: getattr(limiter, "waiting", 0) == 1 or _calls_to_chat(tg.emu, STRANGER) > 0,
            what="the refusal ready to go",
        )
        tg.emu.release(GROUP)
        assert await delivery == 1
        [refusal] = await tg.emu.wait_sent(1, chat_id=STRANGER, timeout=10)
    finally:
        await _stop(tg)
    [alert] = tg.emu.sent_to(GROUP)
    assert alert.time < refusal.time


async def test_a_slow_chat_holds_up_no_other(tg: Harness) -> None:
    tg.emu.hold(GROUP)
    await _start(tg)
    try:
        tg.emu.push_message(GROUP, USER, "/help")
        await tg.emu.wait_for(lambda: tg.emu.holding(GROUP) == 1, what="GROUP's answer held")
        rules = await _ask(tg.emu, OTHER, "/rules")
        held_meanwhile = tg.emu.holding(GROUP)
        tg.emu.release(GROUP)
        [helped] = await tg.emu.wait_sent(1, chat_id=GROUP, timeout=30)
    finally:
        await _stop(tg)
    assert "last reload" in rules
    assert held_meanwhile == 1  # OTHER was answered while GROUP's answer was still on its way
    assert "/why ID" in helped.plain_text


async def test_one_chats_answers_keep_their_order(tg: Harness) -> None:
    await _start(tg)
    try:
        tg.emu.push_message(GROUP, USER, "/chart 7")  # slow: draws a PNG first
        tg.emu.push_message(GROUP, USER, "/help")
        await tg.emu.wait_for(
            lambda: len(tg.emu.photos) == 1 and len(tg.emu.sent_to(GROUP)) == 1,
            timeout=30,
            what="both answers",
        )
    finally:
        await _stop(tg)
    assert tg.emu.photos[0].time < tg.emu.sent_to(GROUP)[0].time


async def test_long_answers_are_capped(tg: Harness) -> None:
    many = [
        {"title": f"Headline {i:03d} " + "y" * 300, "source": "S", "tier": "press", "url": None}
        for i in range(100)
    ]
    alert_id = tg.alert("a story carried everywhere", headlines=many)  # about 33 KB as HTML
    words = " ".join(f"China lifts ban on Nvidia H20 purchases {i}" for i in range(2500))
    await _start(tg)
    try:
        tg.emu.push_message(GROUP, USER, f"/test {words}")  # 100 KB
        tg.emu.push_message(GROUP, USER, f"/why {alert_id}")
        await _ask(tg.emu, GROUP, "/rules")  # answered after both: one chat, in order
    finally:
        await _stop(tg)
    answers = texts(tg.emu, GROUP)[:-1]
    assert len(answers) == 1 + 3 + 1
    assert "(read the first 500 characters only)" in answers[0]
    assert "Why alert" in answers[1]
    assert answers[-1].startswith("(cut: ")
