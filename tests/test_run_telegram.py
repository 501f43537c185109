"""`thesiswatch run` with a token, as a real process, against the Bot API emulator."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage.db import make_engine, migrate
from tests.helpers.botapi import BotApiEmulator, emulator
from tests.helpers.db import queue_alert
from tests.helpers.feedserver import FeedServer, rss
from tests.helpers.inline_rules import make_rules_dir

DESK, ADMIN = 2001, 42  # private chats: 1 message a second, not a group's 20 a minute


@pytest.fixture
def emu() -> Iterator[BotApiEmulator]:
    with emulator() as e:
        e.add_chat(DESK, "private")
        e.add_chat(ADMIN, "private")
        yield e


class _Run(subprocess.Popen[str]):
    """A `thesiswatch run` process and the file its stderr goes to (read while it runs)."""

    log: Path


def _start(tmp_path: Path, emu: BotApiEmulator, feeds: Path) -> _Run:
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "THESISWATCH_FEEDS": str(feeds),
        "THESISWATCH_OPS_PORT": "0",
        "THESISWATCH_RULES_DIR": str(make_rules_dir(tmp_path)),
        "THESISWATCH_TELEGRAM_TOKEN": emu.token,
        "THESISWATCH_TELEGRAM_API_URL": emu.base_url,
        "THESISWATCH_ALLOWED_CHATS": str(DESK),
        "THESISWATCH_ADMINS": str(ADMIN),
    }
    # The installed entry point, as users run it: `python -m bot` from a folder holding a
    # rules/ directory would import that folder as the rules package.
    log = tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*.log')))}.log"
    with log.open("w") as err:
        proc = _Run(
            [str(Path(sys.executable).parent / "thesiswatch"), "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    proc.log = log
    return proc


def _err(proc: _Run) -> str:
    return proc.log.read_text()


def _stop(proc: _Run, timeout: float = 30) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return _err(proc)


def _until(proc: _Run, check: Callable[[], bool], what: str) -> None:
    """Poll until ``check()``; fail at once if the process died meanwhile."""
    deadline = time.monotonic() + 60
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"exited ({proc.returncode}) before {what}:\n{_err(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{_err(proc)}")
        time.sleep(0.05)


def _health(proc: _Run) -> tuple[int, dict[str, Any]]:
    found = re.search(r"/healthz and /metrics on http://127\.0\.0\.1:(\d+)", _err(proc))
    assert found, "the ops server says where it listens"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{found[1]}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _pending(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            q = "select count(*) from delivery where status = 'pending'"
            return int(conn.execute(q).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_news_to_telegram_and_back(
    tmp_path: Path, emu: BotApiEmulator, feed_server: FeedServer
) -> None:
    feed_server.route(
        "/gov.xml",
        rss(
            ("China lifts ban on Nvidia H20 purchases", "https://gov.example/1"),
            published=datetime.now(
                UTC
            ),  # news: older than THESISWATCH_MAX_ALERT_AGE_H never alerts
        ),
    )
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - {{name: gov, url: '{feed_server.url('/gov.xml')}', tier: official}}\n"
    )
    proc = _start(tmp_path, emu, feeds)
    try:
        [alert] = emu.wait_sent_blocking(1, chat_id=DESK, timeout=30)
        emu.push_message(DESK, 7, "/status")
        emu.wait_sent_blocking(2, chat_id=DESK, timeout=15)
        emu.push_message(-100_999, 7, "/status")  # a chat nobody allowed
        emu.wait_sent_blocking(1, chat_id=-100_999, timeout=15)
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err
    assert "h20-ban: intact → broken" in alert.plain_text
    assert "$AMD ▲ $NVDA ▲" in alert.plain_text
    assert "h20-ban: broken" in emu.sent_to(DESK)[1].plain_text
    assert emu.sent_to(-100_999)[0].plain_text.startswith("This bot is private")
    assert [c["command"] for c in emu.commands][:2] == ["status", "recent"]
    assert emu.token not in err
    assert "Traceback" not in err


def test_killed_mid_delivery_then_restarted_loses_nothing(
    tmp_path: Path, emu: BotApiEmulator
) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'run.db'}")
    migrate(db)
    for i in range(5):
        queue_alert(db, f"queued news {i}", [DESK], created_at=datetime.now(UTC))
    db.dispose()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n")
    emu.slow("sendMessage", 1.0)  # slow enough to kill the process with alerts still queued
    proc = _start(tmp_path, emu, feeds)
    try:
        emu.wait_sent_blocking(2, chat_id=DESK, timeout=30)
    finally:
        proc.kill()  # SIGKILL: no clean shutdown, no last write
        proc.communicate()
    emu.slow("sendMessage", 0)
    restarted = _start(tmp_path, emu, feeds)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(set(_numbers(emu))) < 5:
            time.sleep(0.2)
        # The one repeat allowed is the message in flight at the kill, sent before the rest.
        time.sleep(1)  # a later duplicate would arrive by now
    finally:
        err = _stop(restarted)
    assert restarted.returncode == 0, err
    got = _numbers(emu)
    assert sorted(set(got)) == [0, 1, 2, 3, 4]  # nothing lost
    assert got == sorted(got)  # in order
    assert len(got) - len(set(got)) <= 1  # at most the one in flight at the kill repeats


def _numbers(emu: BotApiEmulator) -> list[int]:
    return [
        int(m.plain_text.split("queued news ")[1].split()[0])
        for m in emu.sent_to(DESK)
        if "queued news" in m.plain_text
    ]


def test_telegram_down_at_start_feeds_are_polled_and_the_bot_connects_later(
    tmp_path: Path, emu: BotApiEmulator, feed_server: FeedServer
) -> None:
    fresh = datetime.now(UTC)  # news read on the real clock must be fresh to alert
    feed_server.route(
        "/gov.xml",
        rss(("China lifts ban on Nvidia H20 purchases", "https://gov.example/1"), published=fresh),
    )
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - {{name: gov, url: '{feed_server.url('/gov.xml')}', tier: official}}\n"
    )
    emu.set_down(True)  # connections refused: Telegram unreachable
    proc = _start(tmp_path, emu, feeds)
    try:
        _until(proc, lambda: _pending(tmp_path / "run.db") > 0, "the feed's alert is queued")
        _until(proc, lambda: "error" in _health(proc)[1].get("telegram", {}), "a failed attempt")
        down_status, down = _health(proc)
        emu.set_down(False)
        [alert] = emu.wait_sent_blocking(1, chat_id=DESK, timeout=90)
        emu.push_message(DESK, 7, "/status")
        emu.wait_sent_blocking(2, chat_id=DESK, timeout=30)
        up_status, up = _health(proc)
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err
    assert down_status == 503
    assert down["telegram"]["state"] == "connecting"
    assert down["telegram"]["error"] == "NetworkError"
    assert "telegram unreachable since" in down["reason"]
    assert down["last_poll_ok"] is not None  # the feed was polled all the same
    assert "Telegram is unreachable (NetworkError" in err
    assert "h20-ban: intact → broken" in alert.plain_text
    assert "h20-ban: broken" in emu.sent_to(DESK)[1].plain_text
    assert (up_status, up["telegram"]) == (200, {"state": "up"})
    assert "Traceback" not in err
    assert emu.token not in err


def test_sigterm_with_an_answer_in_flight_stops_promptly(
    tmp_path: Path, emu: BotApiEmulator
) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n")
    proc = _start(tmp_path, emu, feeds)
    try:
        emu.push_message(DESK, 7, "/help")
        emu.wait_sent_blocking(1, chat_id=DESK, timeout=30)  # the bot is up and answering
        emu.slow("sendMessage", 4.0)  # every message takes 4 s (under PTB's 5 s read timeout)
        words = " ".join(f"China lifts ban on Nvidia H20 purchases {i}" for i in range(2500))
        emu.push_message(DESK, 7, f"/test {words}")  # 100 KB: once 25 messages, 100 s here
        _until(proc, lambda: len(emu.calls_to("sendMessage")) == 2, "the answer on its way")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)  # a liveness bound, far above the 2 s grace
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err
    assert "cut 1 answer(s) still in flight" in err
    assert "Traceback" not in err
