"""The command line as a trader meets it: quiet logs, clear errors, times, JSON for scripts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli.demo import run_demo
from bot.cli.main import main
from bot.views.times import set_display_zone
from tests.helpers.feedserver import FeedServer, rss


def _items(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("select count(*) from item").fetchone()[0])
    except sqlite3.OperationalError:  # no file or no schema yet
        return 0


def _thesiswatch(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_bad_feeds_file_prints_its_error_and_nothing_else(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: a\n    tier: tabloid\n    url: https://a/\n")
    done = _thesiswatch(tmp_path, "run", "--once", env={"THESISWATCH_FEEDS": str(feeds)})
    assert done.returncode == 1
    assert done.stderr == (
        f"thesiswatch: 1 problem(s):\n{feeds}:3:11: tier must be one of official, wire, press, "
        "blog\n"
    )
    assert not (tmp_path / "data").exists()  # nor was a database made for nothing


def test_a_running_process_logs_only_its_own_lines(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.route("/a.xml", rss(("Dutch widen ASML licence rule", "https://x.example/a")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - {{name: a, url: '{feed_server.url('/a.xml')}', tier: wire}}\n")
    env = os.environ | {
        "THESISWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "THESISWATCH_FEEDS": str(feeds),
        "THESISWATCH_OPS_PORT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _items(tmp_path / "run.db") < 1 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in err.splitlines()]
    assert any("polling 1 feeds" in e["message"] for e in lines)
    # Libraries speak at WARNING and above only (a stop in mid-job can still make APScheduler
    # log an ERROR: that is the shutdown's business, not this test's).
    chatter = [
        e
        for e in lines
        if not e["logger"].startswith(("bot.", "rules.", "storage."))
        and e["level"] in ("DEBUG", "INFO")
    ]
    assert chatter == []


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    monkeypatch.setenv("THESISWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'tw.db'}")
    return tmp_path


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    yield
    set_display_zone(UTC)  # the CLI sets the process's zone from THESISWATCH_TIMEZONE


def test_status_of_a_fresh_database_says_no_evidence_yet(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["ingest", "--no-rules", str(env)])  # makes the database, evaluates nothing
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    legs = [line for line in out.splitlines() if line.startswith("  ") and line[2] != " "]
    assert len(legs) == 4
    assert all(line.endswith("INTACT      no evidence yet") for line in legs)
    assert "since" not in out


async def test_the_demo_gives_every_alert_and_the_board_their_times() -> None:
    lines: list[str] = []
    assert await run_demo(out=lines.append) == 0
    out = "\n".join(lines)
    assert "    published 2025-05-12 08:00 UTC\n" in out  # the Geneva joint statement
    assert "  alert #3, 2025-05-12 08:00 UTC, as the news came out" in out
    assert "The boards of 2 theses at the last item (2025-11-10 21:14 UTC)" in out
    assert "no-trade-deal          BROKEN      since 2025-05-12 08:00 UTC (182d ago)" in out
    # The White House fact sheet moves two legs: one alert block names both, tickers once.
    merged = out.split("[CRITICAL] one story moves 2 legs:\n", 1)[1].split("\n\n", 1)[0]
    assert "chip-for-rare-earth/wfe-controls: intact -> broken" in merged
    assert "chip-for-rare-earth/rare-earth-leverage: challenged -> reversed" in merged
    assert "  - Fact Sheet: President Donald J. Trump Strikes Deal" in merged
    tickers = next(x for x in merged.splitlines() if x.startswith("  tickers: "))
    assert tickers.split().count("$MP") == 1
    assert "$ASML" in tickers
    assert "$LYC.AX" in tickers


def test_times_are_shown_in_the_configured_zone(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.telegram.render import alert_html
    from storage.outbox import StoredAlert

    monkeypatch.setenv("THESISWATCH_TIMEZONE", "Europe/London")
    assert main(["ingest", "--no-rules", str(env)]) == 0  # any command sets the zone
    headline = {
        "title": "t",
        "source": "s",
        "tier": "wire",
        "url": None,
        "published": "2025-08-12T08:00:00+00:00",
    }
    at = datetime(2025, 8, 12, 8, 5, tzinfo=UTC)
    alert = StoredAlert(
        1,
        "transition",
        "h20-ban",
        "high",
        "intact",
        "broken",
        True,
        at,
        {"claim": "c", "sources": 1, "headlines": [headline], "tickers": {}},
    )
    text = alert_html(alert)
    assert "published 2025-08-12 09:00 BST" in text
    assert "🕒 alert 2025-08-12 09:05 BST, 5m after the news" in text

    monkeypatch.setenv("THESISWATCH_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SystemExit):
        main(["status"])
    assert "THESISWATCH_TIMEZONE: unknown time zone 'Mars/Olympus'" in capsys.readouterr().err


def test_the_backtest_chart_labels_its_alerts(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bot.views.chart as chart
    from bot.cli.demo import DEMO_FEEDS

    drawn: list[list[chart.Marker]] = []
    real = chart.draw_states

    def spy(*args: Any, **kwargs: Any) -> bytes:
        drawn.append(list(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(chart, "draw_states", spy)
    assert main(["ingest", "--no-rules", "--tier", "wire", str(DEMO_FEEDS.parent)]) == 0
    assert main(["backtest", "--since", "2025-01-01", "--chart", str(env / "legs.png")]) == 0
    replay = capsys.readouterr().out
    [markers] = drawn
    alerts = [line for line in replay.splitlines() if line.startswith("2025-")]
    assert len(markers) == len(alerts) > 0
    assert {m.label for m in markers} <= {"early", "challenged", "broken", "reversed", "intact"}
    assert any(m.label == "broken" and m.leg == "h20-ban" for m in markers)


def test_a_misspelt_setting_is_warned_of_with_the_likely_name(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THESISWATCH_TELEGRAM_TOKNE", "123:abc")
    (env / ".env").write_text("THESISWATCH_ALOWED_CHATS=-1001\nTHESISWATCH_FROBNICATE=1\n")
    main(["ingest", "--no-rules", str(env)])
    err = capsys.readouterr().err.splitlines()
    assert (
        "thesiswatch: warning: THESISWATCH_TELEGRAM_TOKNE is not a setting, ignored; "
        "did you mean THESISWATCH_TELEGRAM_TOKEN?"
    ) in err
    assert (
        "thesiswatch: warning: THESISWATCH_ALOWED_CHATS is not a setting, ignored; "
        "did you mean THESISWATCH_ALLOWED_CHATS?"
    ) in err
    assert (
        "thesiswatch: warning: THESISWATCH_FROBNICATE is not a setting, ignored "
        "(README.md lists the settings)"
    ) in err
    assert not any("DATABASE_URL" in line for line in err)  # a real one is no stranger


def test_a_chat_given_by_username_is_told_to_use_the_numeric_id(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THESISWATCH_ALLOWED_CHATS", "-1001234, @desk")
    with pytest.raises(SystemExit) as exit_info:
        main(["status"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "thesiswatch: THESISWATCH_ALLOWED_CHATS: '@desk' is not a chat id: Telegram needs the "
        "numeric id (like -1001234567890 for a group), not a @username or a title; the bot's "
        "refusal in a chat it does not serve names that chat's id\n"
    )


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["recent"], ["feeds"]])
def test_reading_commands_make_no_database(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("THESISWATCH_DATABASE_URL", raising=False)
    assert main(command) == 1
    assert capsys.readouterr().err == (
        "thesiswatch: no database at data/thesiswatch.db (THESISWATCH_DATABASE_URL): "
        "`thesiswatch run` or `thesiswatch ingest` creates it\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"thesiswatch {version('thesiswatch')}\n"


def test_status_and_recent_as_json_for_scripts(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.demo import DEMO_FEEDS
    from storage.db import open_database
    from tests.helpers.db import queue_alert

    # The snapshots are months old: history, no alert. Two alerts written as the bot would.
    assert main(["ingest", "--tier", "wire", str(DEMO_FEEDS.parent)]) == 0
    capsys.readouterr()
    db = open_database(f"sqlite:///{env / 'tw.db'}")
    queue_alert(db, "China lifts ban", (), created_at=datetime(2025, 8, 12, 9, 0, tzinfo=UTC))
    queue_alert(db, "China bans again", (), created_at=datetime(2025, 8, 13, 9, 0, tzinfo=UTC))
    db.dispose()

    assert main(["status", "--json"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert main(["recent", "--json", "5"]) == 0
    recent = json.loads(capsys.readouterr().out)
    assert main(["recent", "1"]) == 0
    text = capsys.readouterr().out

    assert [leg["leg"] for leg in board["legs"]] == [
        "h20-ban",
        "wfe-controls",
        "rare-earth-leverage",
        "no-trade-deal",
    ]
    assert all(
        leg["state"] in ("intact", "challenged", "broken", "reversed") for leg in board["legs"]
    )
    assert datetime.fromisoformat(board["now"]).tzinfo is not None
    assert [a["id"] for a in recent] == [2, 1]
    assert recent[0]["created_at"] == "2025-08-13T09:00:00+00:00"
    assert recent[0]["payload"]["headlines"][0]["title"] == "China bans again"
    assert text.splitlines()[0].startswith("#2     2025-08-13 09:00 UTC (")
    assert text.splitlines()[1] == "       China bans again"


async def test_the_demo_leads_with_alerts_and_board_and_lists_stories_on_request() -> None:
    short: list[str] = []
    assert await run_demo(out=short.append) == 0
    long: list[str] = []
    assert await run_demo(out=long.append, verbose=True) == 0
    brief, full = "\n".join(short), "\n".join(long)

    assert short[0].startswith("thesiswatch demo: 4 bundled feed snapshots, 33 items in 32 stories")
    assert brief.index("Alerts (rules") < brief.index("The boards of 2 theses at the last item")
    assert "[2 feeds]" not in brief
    assert "demo --verbose" in short[-1]
    assert full.index("The boards of 2 theses at the last item") < full.index("The feeds:")
    assert "[2 feeds]" in full  # the syndicated story, stored once
