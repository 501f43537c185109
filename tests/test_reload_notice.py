"""Rules reloads told to the admins through the outbox, against the Bot API emulator.

Real reloads: the rule files are edited on disk and the Rulebook reloads them (by /reload, or
by the periodic look that needs two in a row to agree), then the notifier delivers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.pipeline.announce import announce_reload
from bot.pipeline.console import CONSOLE, deliver_console
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from storage.outbox import recent_alerts
from tests.conftest import FakeClock
from tests.helpers.botapi import BotApiEmulator, parse_html, run_emulator
from tests.helpers.db import T0
from tests.helpers.inline_rules import RULES, THESIS, make_rules_dir

GROUP = -100_4001
ADMIN, OTHER_ADMIN = 42, 43

NEW_LEG = THESIS.replace(
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
    rulebook: Rulebook
    notifier: TelegramNotifier
    clock: FakeClock
    folder: Path

    async def ask(self, chat: int, user: int, text: str) -> str:
        before = len(self.emu.sent_to(chat))
        self.emu.push_message(chat, user, text)
        await self.emu.wait_for(lambda: len(self.emu.sent_to(chat)) > before, what=text)
        return self.emu.sent_to(chat)[before].plain_text

    def periodic_reload(self) -> None:
        """What the pipeline's reload job does: a look, then the announcement."""
        for _ in range(2):  # an edit is judged once two looks agree
            report = self.rulebook.refresh(self.clock())
        with Session(self.db) as s, s.begin():
            announce_reload(
                s,
                report,
                self.rulebook.engine.ruleset,
                folder=str(self.folder),
                targets=[f"chat:{ADMIN}", f"chat:{OTHER_ADMIN}"],
                now=self.clock(),
            )


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Desk]:
    folder = make_rules_dir(tmp_path)
    rulebook = Rulebook(folder, T0)
    async with run_emulator() as emu:
        emu.add_chat(GROUP, "supergroup", "desk")
        emu.add_chat(ADMIN, "private")
        emu.add_chat(OTHER_ADMIN, "private")
        admins = frozenset({ADMIN, OTHER_ADMIN})
        deps = BotDeps(engine, run_db, rulebook, frozenset({GROUP}), admins, clock)
        app = build_application(emu.token, deps, base_url=emu.base_url, rate_limit=False)
        async with app:
            notifier = TelegramNotifier(app.bot, engine, run_db, clock=clock, per_chat_gap=0.01)
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield Desk(emu, engine, rulebook, notifier, clock, folder)
            finally:
                await app.updater.stop()
                await app.stop()


async def test_an_accepted_reload_tells_every_admin_what_changed(desk: Desk) -> None:
    old = desk.rulebook.version
    rules = RULES.replace("severity: medium", "severity: low")  # h20-ban-held changed
    rules = rules.replace("  - id: h20-sales-resume", "  - id: h20-sales-restart")
    (desk.folder / "rules.yaml").write_text(rules)
    desk.periodic_reload()
    await desk.notifier.deliver_due()

    for admin in (ADMIN, OTHER_ADMIN):
        [notice] = desk.emu.sent_to(admin)
        parse_html(notice.text)
        assert notice.reply_markup is None
        assert notice.plain_text.splitlines() == [
            f"📘 Rules reloaded: version {desk.rulebook.version[:12]} (was {old[:12]})",
            "• rules added: h20-sales-restart",
            "• rules removed: h20-sales-resume",
            "• rules changed: h20-ban-held",
        ]
    assert desk.emu.sent_to(GROUP) == []  # the admins' business
    desk.periodic_reload()  # nothing changed since: nothing more to say
    await desk.notifier.deliver_due()
    assert len(desk.emu.sent_to(ADMIN)) == 1
    with Session(desk.db) as s:
        assert recent_alerts(s) == []  # /recent lists the thesis' alerts only


async def test_a_rejected_reload_lists_its_problems_with_file_line_and_column(
    desk: Desk,
) -> None:
    old = desk.rulebook.version
    (desk.folder / "rules.yaml").write_text(RULES.replace("effect: breaks", "effect: brakes"))
    answer = await desk.ask(ADMIN, ADMIN, "/reload")
    await desk.notifier.deliver_due()

    assert answer.startswith(f"Rejected, version {old[:12]} keeps running:")
    [_, notice] = desk.emu.sent_to(ADMIN)  # the answer, then the notice
    [other] = desk.emu.sent_to(OTHER_ADMIN)  # who did not ask hears of it too
    assert other.plain_text == notice.plain_text
    lines = notice.plain_text.splitlines()
    assert lines[0] == f"⛔ Rules reload rejected: version {old[:12]} keeps running"
    assert lines[1] == str(desk.folder)
    assert lines[2].startswith(f"• {desk.folder / 'rules.yaml'}:4:")
    assert "brakes" in lines[2]
    assert not notice.silent  # a rejected reload rings


async def test_a_leg_left_without_rules_is_a_loud_warning(desk: Desk) -> None:
    (desk.folder / "thesis.yaml").write_text(NEW_LEG)  # a new leg no rule names
    desk.periodic_reload()
    await desk.notifier.deliver_due()
    [notice] = desk.emu.sent_to(ADMIN)
    assert notice.plain_text.splitlines() == [
        f"📘 Rules reloaded: version {desk.rulebook.version[:12]} "
        f"(was {notice.plain_text.split('(was ')[1][:12]})",
        "• legs added: rare-earth",
        "⚠️ leg rare-earth has no rules: no news can move it",
    ]
    assert not notice.silent


def test_without_telegram_the_console_prints_the_notice(
    engine: Engine, tmp_path: Path, clock: FakeClock
) -> None:
    folder = make_rules_dir(tmp_path)
    rulebook = Rulebook(folder, T0)
    (folder / "rules.yaml").write_text(RULES.replace("effect: breaks", "effect: brakes"))
    report = rulebook.refresh(T0, force=True)
    with Session(engine) as s, s.begin():
        announce_reload(
            s, report, rulebook.engine.ruleset, folder=str(folder), targets=[CONSOLE], now=T0
        )
    out: list[str] = []
    assert deliver_console(engine, T0, out.append) == 1
    [text] = out
    assert text.startswith(f"[RULES] reload REJECTED: keeping version {rulebook.version[:12]}")
    assert f"{folder / 'rules.yaml'}:4:" in text


async def test_rules_vocab_in_the_chat_shows_what_a_vocabulary_matches(desk: Desk) -> None:
    (desk.folder / "vocab.yaml").write_text("vocabularies:\n  easing: [lift~, <b>end</b>]\n")
    (desk.folder / "rules.yaml").write_text(RULES.replace("[lift~, end~]", "[$easing]"))
    desk.periodic_reload()
    answer = await desk.ask(GROUP, ADMIN, "/rules vocab easing")
    wrong = await desk.ask(GROUP, ADMIN, "/rules vocab easeing")
    bad = await desk.ask(GROUP, ADMIN, "/rules easing")

    lines = answer.splitlines()
    assert lines[0].startswith("$easing (vocab.yaml:2): 6 phrases")
    assert lines[1] == "lift, lifted, liftes, lifting, lifts, b end b"  # the HTML shown as text
    assert lines[2] == "used by h20-ban-lifted"
    assert wrong.startswith("No vocabulary 'easeing'; did you mean 'easing'?")
    assert bad.startswith("The only argument is vocab NAME")
