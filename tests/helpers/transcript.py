"""A real chat transcript for the README: the shipped rules, the demo's snapshots, the real PTB
Application and delivery against the Bot API emulator. Nothing here is typed by hand: every
answer is what the emulator received, as Telegram would show it.

    .venv/bin/python -m tests.helpers.transcript            # print it
    .venv/bin/python -m tests.helpers.transcript --readme   # and put it in README.md

The snapshots up to 1 November 2025 are read on time (the board's history, alerts to the
console); then the White House fact sheet on the Busan deal comes out at 22:00 UTC and is read
two minutes later, its alert (one push for the two legs it moves) goes to the desk, and a
trader asks /status, /why, /recent, /quiet and /digest.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot.cli.demo import DEMO_FEEDS
from bot.feeds.config import load_feeds
from bot.feeds.parse import parse_feed
from bot.pipeline.console import CONSOLE, deliver_console
from bot.pipeline.evaluate import Evaluator, chat_router
from bot.pipeline.rulebook import Rulebook
from bot.settings import DEFAULT_RULES
from bot.telegram.bot import BotDeps, build_application
from bot.telegram.delivery import TelegramNotifier
from storage.chats import ChatPrefs, save_prefs
from storage.db import open_database
from storage.feeds import sync_feeds
from storage.items import store_entries
from storage.records import NewEntry
from tests.helpers.botapi import BotApiEmulator, SentMessage, run_emulator

__all__ = ["README", "readme_block", "transcript"]

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- transcript: begin -->\n```text\n", "```\n<!-- transcript: end -->"

DESK, TRADER = -1001234567890, 4242
LIVE = datetime(2025, 11, 1, 22, 0, tzinfo=UTC)  # the White House fact sheet on the Busan deal


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _run_db(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


def _entries() -> list[tuple[int, str, NewEntry]]:
    """Every entry of the demo snapshots with its feed's name and tier, oldest first."""
    out = []
    for n, feed in enumerate(load_feeds(DEMO_FEEDS)):
        body = (DEMO_FEEDS.parent / feed.url).read_bytes()
        parsed = parse_feed(body, publisher=feed.name, now=LIVE + timedelta(days=30))
        out += [(n, feed.tier, e) for e in parsed.entries]
    return sorted(out, key=lambda t: t[2].published_at)


def _shown(message: SentMessage) -> str:
    buttons = [
        b["text"] for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row
    ]
    keys = "\n" + " ".join(f"[{b}]" for b in buttons) if buttons else ""
    return message.plain_text + keys


async def _ask(emu: BotApiEmulator, text: str, lines: list[str]) -> None:
    before, photos = len(emu.sent_to(DESK)), len(emu.photos)
    emu.push_message(DESK, TRADER, text, username="trader")
    await emu.wait_for(lambda: len(emu.sent_to(DESK)) > before, timeout=60, what=text)
    if text.startswith("/digest"):
        await emu.wait_for(lambda: len(emu.photos) > photos, timeout=60, what="its chart")
    await asyncio.sleep(0.3)  # a multi-part answer's later parts
    lines += [f"> {text}", *(_shown(m) for m in emu.sent_to(DESK)[before:])]
    lines += [f"[photo: {p.caption}]" for p in emu.photos[photos:]]
    lines.append("")


async def transcript() -> str:
    """The transcript, as plain text."""
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'transcript.db'}")
        defs = load_feeds(DEMO_FEEDS)
        with Session(db) as s, s.begin():
            ids = sync_feeds(s, defs, deactivate_others=True)
        entries = _entries()
        rulebook = Rulebook(DEFAULT_RULES, entries[0][2].published_at)
        history = Evaluator(rulebook, [CONSOLE])
        clock = _Clock(entries[0][2].published_at)
        for n, tier, e in entries:
            if e.published_at >= LIVE:
                break
            with Session(db) as s, s.begin():
                store_entries(s, feed_id=ids[n], tier=tier, entries=[e], now=e.published_at)
            history.run(db, e.published_at)
        deliver_console(db, LIVE, write=lambda _text: None)  # the board's history, not the chat's
        with Session(db) as s, s.begin():
            save_prefs(s, ChatPrefs(DESK, last_digest_at=LIVE - timedelta(days=1)), LIVE)

        async with run_emulator() as emu:
            emu.add_chat(DESK, "supergroup", "rates desk")
            deps = BotDeps(db, _run_db, rulebook, frozenset({DESK}), frozenset(), clock)
            app = build_application(emu.token, deps, base_url=emu.base_url, rate_limit=False)
            async with app:
                notifier = TelegramNotifier(app.bot, db, _run_db, clock=clock, per_chat_gap=0.01)
                n, tier, live = next(t for t in entries if t[2].published_at == LIVE)
                clock.now = LIVE + timedelta(minutes=2)
                with Session(db) as s, s.begin():
                    store_entries(s, feed_id=ids[n], tier=tier, entries=[live], now=clock.now)
                clock.now = LIVE + timedelta(minutes=3)
                Evaluator(rulebook, chat_router([DESK])).run(db, clock.now)
                await notifier.deliver_due()
                lines = ["(an alert arrives)", *(_shown(m) for m in emu.sent_to(DESK)), ""]
                await app.start()
                await app.updater.start_polling(poll_interval=0, timeout=1)
                try:
                    clock.now = LIVE + timedelta(minutes=9)
                    # A story that moves several legs is one push: "alerts #12, #13".
                    alert_id = int(re.findall(r"#(\d+)", lines[-2])[0])
                    asks = (
                        "/status rare-earth-leverage",
                        f"/why {alert_id}",
                        "/recent 2",
                        "/quiet low",
                    )
                    for text in asks:
                        await _ask(emu, text, lines)
                    clock.now = LIVE + timedelta(minutes=10)
                    await _ask(emu, "/digest", lines)
                finally:
                    await app.updater.stop()
                    await app.stop()
        db.dispose()
    return "\n".join(lines).rstrip() + "\n"


def readme_block(text: str | None = None) -> str:
    """The transcript as README.md holds it (``text``), or as it is now (None)."""
    source = README.read_text() if text is None else text
    return source.split(BEGIN, 1)[1].split(END, 1)[0]


if __name__ == "__main__":
    got = asyncio.run(transcript())
    print(got, end="")
    if "--readme" in sys.argv:
        old = README.read_text()
        README.write_text(old.replace(BEGIN + readme_block(old) + END, BEGIN + got + END))
