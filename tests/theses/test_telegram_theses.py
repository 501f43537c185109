"""Two theses through the real PTB Application and the Bot API emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application, register_commands
from bot.telegram.delivery import TelegramNotifier
from storage.models import alert_t
from tests.conftest import FakeClock
from tests.helpers import drain
from tests.helpers.botapi import BotApiEmulator, run_emulator
from tests.helpers.db import T0, entry, feeds, store
from tests.helpers.inline_rules import make_theses_dir

GROUP, OTHER = -100_1001, -100_1002
ADMIN, USER = 42, 77
STORY = "China lifts ban on Nvidia H20 purchases"


async def run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@dataclass
class Harness:
    emu: BotApiEmulator
    db: Engine
    app: Any
    notifier: TelegramNotifier
    evaluator: Evaluator
    shelf: Path

    async def deliver_all(self) -> None:
        await drain.deliver_all(self.notifier, self.db, rounds=20)

    async def ask(self, chat: int, text: str, user: int = USER) -> str:
        before = len(self.emu.sent_to(chat))
        self.emu.push_message(chat, user, text)
        await self.emu.wait_for(lambda: len(self.emu.sent_to(chat)) > before, timeout=30, what=text)
        return self.emu.sent_to(chat)[-1].plain_text


@pytest.fixture
async def tg(engine: Engine, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    shelf = make_theses_dir(tmp_path)
    rulebook = Rulebook(shelf, T0)
    chats = [GROUP, OTHER]
    deps = BotDeps(engine, run_db, rulebook, frozenset(chats), frozenset({ADMIN}), clock)
    async with run_emulator() as emu:
        emu.add_chat(GROUP, "supergroup", "desk")
        emu.add_chat(OTHER, "supergroup", "other desk")
        app = build_application(emu.token, deps, base_url=emu.base_url, group_per_min=600)
        async with app:
            notifier = TelegramNotifier(app.bot, engine, run_db, clock=clock, per_chat_gap=0.01)
            harness = Harness(
                emu, engine, app, notifier, Evaluator(rulebook, chat_router(chats)), shelf
            )
            await app.start()
            await register_commands(app)
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield harness
            finally:
                await app.updater.stop()
                await app.stop()


def _official_story(db: Engine) -> None:
    [gov] = feeds(db, "gov", tier="official")
    store(db, gov, entry(STORY, "https://g/1"), tier="official")


def _story_text(tg: Harness, chat: int) -> str:
    """Every message the chat got about the story, as one text."""
    return "\n".join(m.plain_text for m in tg.emu.sent_to(chat) if STORY in m.plain_text)


async def test_one_story_moving_both_theses_reaches_a_new_chat_for_each(tg: Harness) -> None:
    _official_story(tg.db)
    tg.evaluator.run(tg.db, T0)
    await tg.deliver_all()

    with Session(tg.db) as s:
        alerts = s.execute(select(alert_t.c.thesis, alert_t.c.leg, alert_t.c.story_id)).all()
    assert sorted((a.thesis, a.leg) for a in alerts) == [
        ("second", "hbm-demand"),
        ("test", "h20-ban"),
    ]
    assert len({a.story_id for a in alerts}) == 1  # one story behind both
    # A chat that never chose follows every thesis: both legs reach it, in one push that names
    # each thesis with its leg.
    for chat in (GROUP, OTHER):
        [push] = [m.plain_text for m in tg.emu.sent_to(chat) if STORY in m.plain_text]
        assert "one story moves 2 legs of 2 theses" in push
        assert "test/h20-ban: intact → broken" in push
        assert "second/hbm-demand: intact → broken" in push
        assert push.count(STORY) == 1


async def test_a_chat_that_subscribes_to_one_thesis_gets_only_its_alerts(tg: Harness) -> None:
    answer = await tg.ask(GROUP, "/subscribe second")
    assert answer == "Subscribed to second; legs all; tickers all; severity low and above."
    leg = await tg.ask(OTHER, "/subscribe test h20-ban")
    assert leg == "Subscribed to test; legs test/h20-ban; tickers all; severity low and above."
    bad = await tg.ask(GROUP, "/subscribe moon")
    assert bad.startswith("Unknown thesis, leg or ticker 'moon': no leg 'moon' (legs: ")
    _official_story(tg.db)
    tg.evaluator.run(tg.db, T0)
    await tg.deliver_all()

    group = _story_text(tg, GROUP)
    other = _story_text(tg, OTHER)
    assert "hbm-demand" in group
    assert "h20-ban" not in group
    assert "h20-ban" in other
    assert "hbm-demand" not in other


async def test_status_and_exposure_by_thesis(tg: Harness) -> None:
    _official_story(tg.db)
    tg.evaluator.run(tg.db, T0)
    both = await tg.ask(GROUP, "/status")
    assert both.index("second") < both.index("test (")
    one = await tg.ask(GROUP, "/status second")
    assert "hbm-demand: broken" in one
    assert "h20-ban" not in one
    leg = await tg.ask(GROUP, "/status test h20-ban")
    assert "h20-ban: broken" in leg
    bare = await tg.ask(GROUP, "/status hbm-demand")  # a leg only one thesis has
    assert "hbm-demand: broken" in bare
    bad = await tg.ask(GROUP, "/status nope h20-ban")
    assert bad.startswith("No thesis 'nope' (theses: second, test). Usage: /status")
    exposure = await tg.ask(GROUP, "/exposure")
    [nvda] = [line for line in exposure.splitlines() if line.startswith("$NVDA")]
    assert nvda == "$NVDA · 2 theses: second/hbm-demand broken ▲, test/h20-ban broken ▲"


async def test_a_thesis_added_and_retired_by_folder_through_reload(
    tg: Harness, tmp_path: Path
) -> None:
    kept = shutil.move(tg.shelf / "second", tmp_path / "kept")
    retired = await tg.ask(GROUP, "/reload", user=ADMIN)
    assert retired.startswith("Rules reloaded")
    status = await tg.ask(GROUP, "/status")
    assert "second" not in status
    shutil.move(kept, tg.shelf / "second")
    (tg.shelf / "second" / "rules.yaml").write_text("rules: [")  # a broken copy: refused
    refused = await tg.ask(GROUP, "/reload", user=ADMIN)
    assert refused.startswith("Rejected")
    assert "rules.yaml:1:" in refused
    from tests.helpers.inline_rules import SECOND_RULES

    (tg.shelf / "second" / "rules.yaml").write_text(SECOND_RULES)
    added = await tg.ask(GROUP, "/reload", user=ADMIN)
    assert added.startswith("Rules reloaded")
    assert "second" in await tg.ask(GROUP, "/status second")


async def test_rules_and_test_speak_for_every_thesis(tg: Harness) -> None:
    rules = await tg.ask(GROUP, "/rules")
    assert "second " in rules
    assert "test " in rules
    assert "1 legs, 1 rules" in rules
    tested = await tg.ask(GROUP, f"/test {STORY}")
    assert "second/hbm-demand" in tested
    assert "test/h20-ban" in tested


async def test_chart_draws_the_thesis_named(tg: Harness) -> None:
    _official_story(tg.db)
    tg.evaluator.run(tg.db, T0)
    for text, caption in (
        ("/chart second 7", "second: leg states, last 7 days"),
        ("/chart 3 test", "test: leg states, last 3 days"),
    ):
        before = len(tg.emu.photos)
        tg.emu.push_message(GROUP, USER, text)
        await tg.emu.wait_for(lambda n=before: len(tg.emu.photos) > n, timeout=60, what=text)
        assert tg.emu.photos[-1].caption == caption
        assert tg.emu.photos[-1].data[:8] == b"\x89PNG\r\n\x1a\n"
    bad = await tg.ask(GROUP, "/chart moon")
    assert bad.startswith("DAYS must be a number from 1 to 365, or a thesis: second, test.")


async def test_mute_takes_one_thesis_leg(tg: Harness) -> None:
    muted = await tg.ask(GROUP, "/mute 2h hbm-demand")  # only one thesis has it
    assert muted == "Muted second/hbm-demand for 2h."
    unknown = await tg.ask(GROUP, "/mute 2h nope")
    assert unknown.startswith("No leg 'nope' (legs: ")
    _official_story(tg.db)
    tg.evaluator.run(tg.db, T0)
    await tg.deliver_all()

    group = _story_text(tg, GROUP)
    other = _story_text(tg, OTHER)
    assert "h20-ban" in group
    assert "hbm-demand" not in group
    assert "hbm-demand" in other  # the mute is the group's alone


async def test_digest_has_a_part_per_thesis_the_chat_follows(tg: Harness) -> None:
    _official_story(tg.db)
    tg.evaluator.run(tg.db, T0)
    before = len(tg.emu.photos)
    tg.emu.push_message(GROUP, USER, "/digest")
    await tg.emu.wait_for(lambda: len(tg.emu.photos) >= before + 2, timeout=60, what="charts")
    captions = [p.caption or "" for p in tg.emu.photos[before:]]
    assert [c.split(":")[0] for c in captions] == ["second", "test"]
    texts = [m.plain_text for m in tg.emu.sent_to(GROUP) if "What changed" in m.plain_text]
    assert [t.splitlines()[0] for t in texts] == [
        "📰 What changed · second",
        "📰 What changed · test",
    ]
    # Each thesis's own leg and no other's; the feeds are said once, in the last part.
    assert "hbm-demand" in texts[0]
    assert "h20-ban" not in texts[0]
    assert "h20-ban" in texts[1]
    assert "hbm-demand" not in texts[1]
    assert ["Feeds" in t for t in texts] == [False, True]

    await tg.ask(OTHER, "/subscribe second")
    before = len(tg.emu.photos)
    tg.emu.push_message(OTHER, USER, "/digest")
    await tg.emu.wait_for(lambda: len(tg.emu.photos) > before, timeout=60, what="chart")
    assert [(p.chat_id, (p.caption or "").split(":")[0]) for p in tg.emu.photos[before:]] == [
        (OTHER, "second")
    ]
    [text] = [m.plain_text for m in tg.emu.sent_to(OTHER) if "What changed" in m.plain_text]
    assert "Feeds" in text  # the last part says the feeds: no other thesis's part follows
