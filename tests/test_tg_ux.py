"""What a trader sees in the chat, against the Bot API emulator: times, context, buttons.

Every message here went through the emulator's strict HTML parser (a malformed one is a 400
and fails the test), and the assertions read the plain text Telegram would show.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest
from sqlalchemy import Engine

from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.rulebook import Rulebook
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from bot.views.times import set_display_zone
from tests.conftest import FakeClock
from tests.helpers import drain
from tests.helpers.botapi import BotApiEmulator, parse_html, run_emulator
from tests.helpers.db import T0, entry, feeds, queue_alert, store
from tests.helpers.inline_rules import RULES, THESIS

GROUP = -100_2001
USER = 77

# The inline thesis with a second leg no rule ever matches: "no evidence yet".
TWO_LEGS = THESIS.replace(
    "      tickers: {NVDA: bullish, AMD: bullish}\n",
    "      tickers: {NVDA: bullish, AMD: bullish}\n"
    "    rare-earth:\n"
    "      claim: China keeps its rare-earth leverage.\n"
    "      tickers: {MP: bearish}\n",
)
RARE_EARTH_RULE = """\
  - id: rare-earth-eased
    leg: rare-earth
    effect: breaks
    severity: high
    match: {all: [rare earth, [suspend~]]}
"""


async def run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@dataclass
class Chat:
    emu: BotApiEmulator
    db: Engine
    app: Any
    notifier: TelegramNotifier
    evaluator: Evaluator
    clock: FakeClock

    def pending(self) -> list[int]:
        return drain.pending(self.db)

    async def deliver_all(self) -> None:
        await drain.deliver_all(self.notifier, self.db, self.clock)

    async def ask(self, text: str, user: int = USER) -> str:
        before = len(self.emu.sent_to(GROUP))
        self.emu.push_message(GROUP, user, text)
        await self.emu.wait_for(lambda: len(self.emu.sent_to(GROUP)) > before, what=text)
        return self.emu.sent_to(GROUP)[-1].plain_text

    def news(self, title: str, *, published: timedelta, read: timedelta, summary: str = "") -> None:
        """An official item published at T0 + ``published``, first read at T0 + ``read``."""
        [gov] = feeds(self.db, "gov", tier="official")
        url = f"https://gov.example/{abs(hash(title))}"
        store(
            self.db,
            gov,
            entry(title, url, at=T0 + published, summary=summary, publisher="Commerce"),
            tier="official",
            now=T0 + read,
        )


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    set_display_zone(UTC)  # another test may have set a zone
    yield
    set_display_zone(UTC)


@pytest.fixture
async def chat(engine: Engine, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Chat]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "thesis.yaml").write_text(TWO_LEGS)
    (rules / "rules.yaml").write_text(RULES + RARE_EARTH_RULE)
    rulebook = Rulebook(rules, T0)
    async with run_emulator() as emu:
        emu.add_chat(GROUP, "supergroup", "desk")
        deps = BotDeps(engine, run_db, rulebook, frozenset({GROUP}), frozenset(), clock)
        app = build_application(emu.token, deps, base_url=emu.base_url, rate_limit=False)
        async with app:
            notifier = TelegramNotifier(app.bot, engine, run_db, clock=clock, per_chat_gap=0.01)
            evaluator = Evaluator(rulebook, chat_router([GROUP]))
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield Chat(emu, engine, app, notifier, evaluator, clock)
            finally:
                await app.updater.stop()
                await app.stop()


def _valid_html(emu: BotApiEmulator) -> None:
    for message in emu.sent_to(GROUP):
        if message.parse_mode == "HTML":
            parse_html(message.text)  # what the emulator already did on send: raises if bad


async def test_an_alert_says_when_the_news_came_out_and_how_late_we_are(chat: Chat) -> None:
    chat.news(
        "China lifts ban on Nvidia H20 purchases", published=timedelta(0), read=timedelta(minutes=2)
    )
    chat.clock.now = T0 + timedelta(minutes=3)
    chat.evaluator.run(chat.db, chat.clock())
    await chat.deliver_all()

    [alert] = chat.emu.sent_to(GROUP)
    assert "published 2025-08-12 08:00 UTC, read 2m later" in alert.plain_text
    assert "🕒 alert 2025-08-12 08:03 UTC, 3m after the news" in alert.plain_text
    recent = await chat.ask("/recent")
    assert "#1 🟠 h20-ban intact → broken 2025-08-12 08:03 UTC (0s ago)" in recent
    _valid_html(chat.emu)


async def test_status_gives_times_and_says_which_legs_have_no_evidence(chat: Chat) -> None:
    fresh = await chat.ask("/status")
    chat.evaluator.run(chat.db, T0 - timedelta(hours=1))  # the bot was running before the news
    chat.news(
        "China lifts ban on Nvidia H20 purchases", published=timedelta(0), read=timedelta(minutes=1)
    )
    chat.clock.now = T0 + timedelta(hours=3)
    chat.evaluator.run(chat.db, chat.clock())
    moved = await chat.ask("/status")
    one = await chat.ask("/status h20-ban")

    assert "not evaluated yet" in fresh
    assert "h20-ban: intact no evidence yet" in fresh
    assert "rare-earth: intact no evidence yet" in fresh
    assert "since" not in fresh  # the database's age is no leg's age
    assert "board as of 2025-08-12 11:00 UTC" in moved
    assert "h20-ban: broken since 2025-08-12 08:00 UTC (3h ago)" in moved
    assert "rare-earth: intact no evidence yet" in moved
    assert "breaks: China lifts ban on Nvidia H20 purchases — Commerce, 2025-08-12 08:00 UTC" in one
    assert "rare-earth" not in one
    _valid_html(chat.emu)


def _styled(message: Any, kind: str) -> list[str]:
    """The pieces of a message shown as ``kind`` (bold, italic); offsets count UTF-16 units."""
    units = message.plain_text.encode("utf-16-le")
    return [
        units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in message.entities
        if e["type"] == kind
    ]


async def test_the_lead_sentence_stands_under_the_headline_and_why_shows_the_words(
    chat: Chat,
) -> None:
    chat.news(
        "Beijing changes course on Nvidia chips",
        published=timedelta(0),
        read=timedelta(minutes=1),
        summary=(
            "China has lifted its ban on H20 purchases by <b>state</b> firms, the U.S. Commerce "
            "Department said. Shipments could resume within weeks."
        ),
    )
    chat.clock.now = T0 + timedelta(minutes=2)
    chat.evaluator.run(chat.db, chat.clock())
    await chat.deliver_all()
    [alert] = chat.emu.sent_to(GROUP)
    why = await chat.ask("/why 1")

    lead = (
        "China has lifted its ban on H20 purchases by <b>state</b> firms, the U.S. Commerce "
        "Department said."
    )
    assert (
        f"Beijing changes course on Nvidia chips — Commerce (official)\n  {lead}\n"
        in alert.plain_text
    )
    assert "Shipments could resume" not in alert.plain_text  # the lead only
    assert lead in _styled(alert, "italic")
    assert f"• h20-ban-lifted in the summary: {lead}" in why
    assert "• h20-sales-resume in the summary: China has lifted its ban on H20 purchases" in why
    assert "Department said. … Shipments could resume within weeks.\n" in why
    bold = _styled(chat.emu.sent_to(GROUP)[-1], "bold")
    assert bold == ["Why alert #1", "What the rules matched", "lifted", "H20", "H20", "resume"]
    _valid_html(chat.emu)


async def test_chart_of_a_young_database_marks_its_alerts(chat: Chat) -> None:
    chat.news("China lifts ban on Nvidia H20 purchases", published=timedelta(0), read=timedelta(0))
    chat.clock.now = T0 + timedelta(minutes=1)
    chat.evaluator.run(chat.db, chat.clock())
    chat.emu.push_message(GROUP, USER, "/chart 7")
    await chat.emu.wait_for(lambda: len(chat.emu.photos) == 1, timeout=30, what="chart")

    [photo] = chat.emu.photos
    assert photo.caption == "test: leg states, last 7 days"
    image = matplotlib.image.imread(io.BytesIO(photo.data))
    assert image.shape[:2] == (260, 1100)  # two legs, 11 x 2.6 inches at 100 dpi


def _buttons(markup: Any) -> list[str]:
    return [b["text"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def test_ack_keeps_the_other_buttons(chat: Chat) -> None:
    alert_id = queue_alert(
        chat.db, "China lifts ban on Nvidia H20 purchases", (GROUP,), created_at=chat.clock()
    )
    await chat.deliver_all()
    [message] = chat.emu.sent_to(GROUP)
    chat.emu.push_callback(GROUP, USER, message.message_id, f"ack:{alert_id}", username="trader")
    await chat.emu.wait_for(lambda: len(chat.emu.edits) == 1, what="the ack edit")

    [edit] = chat.emu.edits
    assert edit.text.endswith("\n\n✔ acknowledged by @trader")
    assert _buttons(edit.reply_markup) == ["Why?", "Mute leg 4h"]
    assert [a.text for a in chat.emu.callback_answers] == ["Acknowledged"]


async def test_buttons_on_old_alerts_say_they_are_stale(chat: Chat) -> None:
    chat.clock.now = T0
    old = queue_alert(chat.db, "China lifts ban on Nvidia H20 purchases", (GROUP,), created_at=T0)
    await chat.deliver_all()
    chat.clock.now = T0 + timedelta(hours=2)
    newer = queue_alert(chat.db, "China bans the H20 again", (GROUP,), created_at=chat.clock())
    await chat.deliver_all()
    first, second = chat.emu.sent_to(GROUP)
    chat.clock.now = T0 + timedelta(days=2)

    for data in (f"why:{old}", "mute:h20-ban:4h", f"ack:{old}"):
        chat.emu.push_callback(GROUP, USER, first.message_id, data)
        n = len(chat.emu.callback_answers) + 1
        await chat.emu.wait_for(lambda n=n: len(chat.emu.callback_answers) == n, what=data)
    chat.emu.push_callback(GROUP, USER, second.message_id, "mute:h20-ban:4h")
    await chat.emu.wait_for(lambda: len(chat.emu.callback_answers) == 4, what="fresh mute")
    chat.clock.now = T0 + timedelta(hours=3)
    chat.emu.push_callback(GROUP, USER, second.message_id, f"why:{newer}")
    await chat.emu.wait_for(
        lambda: any(
            m.plain_text.startswith(f"Why alert #{newer}") for m in chat.emu.sent_to(GROUP)
        ),
        what="fresh why",
    )

    stale = (
        f"Stale: alert #{old} is from 2025-08-12 08:00 UTC (2d ago); "
        f"h20-ban moved since (#{newer}: now broken)."
    )
    answers = [a.text for a in chat.emu.callback_answers]
    assert answers[0] == stale
    assert answers[1] == f"h20-ban muted for 4h. {stale}"
    assert answers[2] == f"Acknowledged. {stale}"
    assert answers[3] == (
        f"h20-ban muted for 4h. Stale: alert #{newer} is from 2025-08-12 10:00 UTC (1d ago)."
    )
    assert answers[4] is None  # fresh: no note
    whys = [m.plain_text for m in chat.emu.sent_to(GROUP) if m.plain_text.startswith(("⚠️", "Why"))]
    assert whys[0].startswith(f"⚠️ {stale}\n\nWhy alert #{old}")
    assert whys[1].startswith(f"Why alert #{newer}")
    _valid_html(chat.emu)
