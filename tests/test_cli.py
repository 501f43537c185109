"""The command line as a user runs it: settings errors, --help, run --once, ingest, feeds, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli.main import build_parser, main
from tests.helpers.feedserver import FeedServer, rss


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    monkeypatch.setenv("THESISWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'tw.db'}")
    return tmp_path


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"run", "ingest", "feeds", "demo"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: thesiswatch {name}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ADMINS", "12,abc", "THESISWATCH_ADMINS: 'abc' is not a user id: Telegram needs"),
        ("DATABASE_URL", "mysql://x", "THESISWATCH_DATABASE_URL: must be a sqlite:/// or"),
        ("FEEDS", "/nonexistent/feeds.yaml", "THESISWATCH_FEEDS: no such file"),
        ("TELEGRAM_API_URL", "api.telegram.org", "THESISWATCH_TELEGRAM_API_URL: must start"),
        ("MAX_FEED_BYTES", "-1", "THESISWATCH_MAX_FEED_BYTES: Input should be greater than 0"),
    ],
)
def test_a_bad_setting_stops_with_one_line_and_exit_2(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(f"THESISWATCH_{name}", value)
    with pytest.raises(SystemExit) as exit_info:
        main(["feeds"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith(f"thesiswatch: {message}")
    assert err.count("\n") == 1


def test_settings_come_from_a_dotenv_file(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import load

    monkeypatch.delenv("THESISWATCH_DATABASE_URL")
    (env / ".env").write_text("THESISWATCH_ALLOWED_CHATS=-1001, 42\nTHESISWATCH_ADMINS=7\n")
    settings = load()
    assert (settings.allowed_chats, settings.admins) == ([-1001, 42], [7])
    assert settings.database_url == "sqlite:///./data/thesiswatch.db"


def test_run_once_then_feeds_shows_health(
    env: Path,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed_server.route("/ok.xml", rss(("China curbs rare earth exports", "https://x.example/re")))
    feed_server.route("/down.xml", b"", status=502)
    feeds = env / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        f"  - {{name: ok, url: '{feed_server.url('/ok.xml')}', tier: wire}}\n"
        f"  - {{name: down, url: '{feed_server.url('/down.xml')}', tier: press}}\n"
    )
    monkeypatch.setenv("THESISWATCH_FEEDS", str(feeds))

    assert main(["run", "--once"]) == 0
    ran = capsys.readouterr().out
    assert main(["feeds", "--json"]) == 0
    health = {h["name"]: h for h in json.loads(capsys.readouterr().out)}

    assert "ok" in ran
    assert "http 502" in ran
    assert health["ok"]["items"] == 1
    assert health["ok"]["consecutive_failures"] == 0
    assert health["down"]["last_error"] == "http 502: Bad Gateway"
    assert health["down"]["consecutive_failures"] == 1
    assert main(["feeds"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["feed", "tier", "last"]
    assert "http 502: Bad Gateway" in table


def test_a_broken_feeds_file_lists_every_problem(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds = env / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: a\n    tier: tabloid\n    url: https://a/\n    x: 1\n")
    monkeypatch.setenv("THESISWATCH_FEEDS", str(feeds))
    assert main(["run", "--once"]) == 1
    err = capsys.readouterr().err
    assert f"{feeds}:3:11: tier must be one of" in err
    assert f"{feeds}:5:5: unknown key 'x' in feed" in err


def test_ingest_prints_a_summary(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = env / "snapshots"
    folder.mkdir()
    (folder / "a.xml").write_text(
        rss(
            ("China suspends rare earth export controls for a year", "https://x.example/1"),
            ("Intel names a new chief executive", "https://x.example/2"),
            published=datetime.now(UTC) - timedelta(hours=1),
        )
    )
    (folder / "b.xml").write_text("<html>not a feed</html>")

    assert main(["ingest", str(folder)]) == 0

    out = capsys.readouterr().out
    # The suspension is a critical reversal from one blog: an unconfirmed early warning.
    assert out.splitlines()[0] == (
        "files 2, entries 2, new items 2, new stories 2, signals 1, alerts 1, errors 1"
    )
    assert "b.xml: not a feed" in out


def test_ingest_of_an_archive_stores_its_signals_but_alerts_nothing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same critical reversal, published in August 2025: history, not news.
    (env / "archive.xml").write_text(
        rss(("China suspends rare earth export controls for a year", "https://x.example/1"))
    )

    assert main(["ingest", str(env / "archive.xml")]) == 0

    assert capsys.readouterr().out.splitlines()[0] == (
        "files 1, entries 1, new items 1, new stories 1, signals 1, alerts 0, errors 0"
    )


def test_ingest_of_a_missing_path_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(env / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_demo_runs_offline_from_a_fresh_process(tmp_path: Path) -> None:
    # A separate process: the demo is the Quick start, it must work from nothing.
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--verbose"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "4 bundled feed snapshots" in done.stdout
    assert "[2 feeds]" in done.stdout  # the syndicated story, stored once
    assert not (tmp_path / "data").exists()  # the demo leaves the real database alone


def test_status_and_backtest_over_ingested_snapshots(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.demo import DEMO_FEEDS

    assert main(["ingest", "--tier", "wire", str(DEMO_FEEDS.parent)]) == 0
    capsys.readouterr()

    assert main(["status"]) == 0
    status = capsys.readouterr().out
    chart = env / "legs.png"
    assert main(["backtest", "--since", "2025-01-01", "--chart", str(chart)]) == 0
    replay = capsys.readouterr().out

    legs = ("h20-ban", "wfe-controls", "rare-earth-leverage", "no-trade-deal")
    assert all(f"  {leg} " in status for leg in legs)
    assert "a break moves: $AMD ▲ $NVDA ▲" in status
    assert replay.startswith("replayed ")
    assert f"chart written to {chart}" in replay
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_backtest_rejects_a_bad_date(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", "--since", "last tuesday"])
    assert exit_info.value.code == 2
    assert "not an ISO date: 'last tuesday'" in capsys.readouterr().err
