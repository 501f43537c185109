"""Delivery in real `thesiswatch run` processes: stalls in /healthz, wake-ups across processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.db import make_engine, migrate
from tests.helpers.botapi import BotApiEmulator, emulator
from tests.helpers.db import queue_alert
from tests.helpers.inline_rules import make_rules_dir

DESK = 2101


@pytest.fixture
def emu() -> Iterator[BotApiEmulator]:
    with emulator() as e:
        e.add_chat(DESK, "private")
        yield e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(
    tmp_path: Path, emu: BotApiEmulator, url: str, *args: str, **env: str
) -> tuple[subprocess.Popen[str], Path]:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n")
    log = tmp_path / "run.log"
    environ = os.environ | {
        "THESISWATCH_DATABASE_URL": url,
        "THESISWATCH_FEEDS": str(feeds),
        "THESISWATCH_OPS_PORT": "-1",
        "THESISWATCH_RULES_DIR": str(make_rules_dir(tmp_path)),
        "THESISWATCH_TELEGRAM_TOKEN": emu.token,
        "THESISWATCH_TELEGRAM_API_URL": emu.base_url,
        "THESISWATCH_ALLOWED_CHATS": str(DESK),
    }
    environ |= {f"THESISWATCH_{k.upper()}": v for k, v in env.items()}
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "thesiswatch"), "run", *args],
            cwd=tmp_path,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return proc, log


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return 0, {}  # not listening yet


def test_healthz_fails_while_alerts_wait_and_recovers_once_they_go(
    tmp_path: Path, emu: BotApiEmulator
) -> None:
    url = f"sqlite:///{tmp_path / 'run.db'}"
    db = make_engine(url)
    migrate(db)
    port = _free_port()
    proc, log = _start(tmp_path, emu, url, ops_port=str(port), health_max_delivery_stall_s="10")
    try:
        _until(lambda: _health(port)[0] == 200, 30, "a healthy start")
        # Telegram unreachable at start is another matter (the bot's own start-up).
        _until(lambda: bool(emu.calls_to("getUpdates")), 30, "Telegram polling started")
        emu.set_down(True)
        queue_alert(
            db, "queued news 0", [DESK], created_at=datetime.now(UTC) - timedelta(minutes=1)
        )
        _until(lambda: _health(port)[0] == 503, 30, "/healthz to see the stall")
        body = _health(port)[1]
        assert body["delivery"].startswith("alerts waiting for"), body
        emu.set_down(False)
        emu.wait_sent_blocking(1, chat_id=DESK, timeout=30)
        _until(lambda: _health(port)[0] == 200, 30, "/healthz green again")
    finally:
        _stop(proc)
        db.dispose()
    assert proc.returncode == 0, log.read_text()
    assert "queued news 0" in emu.sent_to(DESK)[0].plain_text


@pytest.mark.postgres
def test_an_alert_committed_by_another_process_is_sent_without_waiting_for_the_tick(
    tmp_path: Path, emu: BotApiEmulator, pg_url: str
) -> None:
    db = make_engine(pg_url)
    migrate(db)
    # The fallback tick is ten minutes: only the NOTIFY can bring the alert out in time.
    proc, log = _start(tmp_path, emu, pg_url, "--role", "notifier", delivery_tick_s="600")
    try:
        _until(lambda: "listening for alerts" in log.read_text(), 30, "the notifier's LISTEN")
        queue_alert(db, "queued news 0", [DESK], created_at=datetime.now(UTC))  # this process
        emu.wait_sent_blocking(1, chat_id=DESK, timeout=30)
    finally:
        _stop(proc)
        db.dispose()
    assert proc.returncode == 0, log.read_text()
    assert "queued news 0" in emu.sent_to(DESK)[0].plain_text
