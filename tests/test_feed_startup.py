"""Start-up with many feeds: 0007 keeps feeds; an unchanged feeds file is not read again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlmodel import Session

import bot.feeds.config
import bot.feeds.startup
from bot.cli.main import main
from bot.pipeline.rulebook import Rulebook
from bot.settings import Settings
from storage.db import alembic_config, make_engine, migrate
from storage.feeds import claim_due
from storage.models import feed_t
from tests.helpers.feedserver import FeedServer, rss
from tests.helpers.news import make_rules


def test_the_cadence_migration_keeps_feeds_and_their_state(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0006")
        due = datetime(2026, 12, 1, 9, 0)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO feed (id, name, url, tier, interval_s, topics, active, etag,"
                    " consecutive_failures, failures_total, polls_total, next_poll_at)"
                    " VALUES (7, 'wire', 'https://w/rss', 'wire', 300, '[]', true, '\"e\"',"
                    " 2, 5, 40, :due)"
                ),
                {"due": due},
            )
        migrate(engine)
        with Session(engine) as s:
            row = s.execute(select(feed_t)).one()
            assert (row.id, row.etag, row.polls_total, row.consecutive_failures) == (
                7,
                '"e"',
                40,
                2,
            )
            assert row.next_poll_at == due.replace(tzinfo=UTC)
            assert (row.min_interval_s, row.max_interval_s, row.poll_interval_s) == (None,) * 3
        with Session(engine) as s, s.begin():
            (state,) = claim_due(
                s,
                owner="w",
                now=due.replace(tzinfo=UTC),
                lease=timedelta(minutes=2),
                limit=5,
            )
        assert (state.id, state.current_interval_s) == (7, 300)
    finally:
        engine.dispose()


def _settings(tmp_path: Path, feeds: Path, url: str) -> Settings:
    return Settings(database_url=url, feeds=feeds, rules_dir=make_rules(tmp_path))


def test_an_unchanged_feeds_file_is_not_parsed_again(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{name: f{i}, url: 'https://f{i}.example/rss', tier: wire}}\n" for i in range(50)
        )
    )
    settings = _settings(tmp_path, feeds, sqlite_url)
    engine: Engine = make_engine(sqlite_url)
    migrate(engine)
    rulebook = Rulebook(settings.rules_dir, datetime.now(UTC))
    reads: list[Path] = []
    real = bot.feeds.startup.load_feeds

    def counting(path: Path, **kwargs: object) -> object:
        reads.append(path)
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.feeds.startup, "load_feeds", counting)
    try:
        first = bot.feeds.startup.sync_at_start(engine, settings, "h:1:a", rulebook)
        again = bot.feeds.startup.sync_at_start(engine, settings, "h:1:a", rulebook)
        assert len(reads) == 1  # the restart skipped the file
        assert sorted(again) == sorted(first)
        assert len(first) == 50

        feeds.write_text(feeds.read_text().replace("f49", "g49"))  # an edit: read again
        edited = bot.feeds.startup.sync_at_start(engine, settings, "h:1:a", rulebook)
        assert len(reads) == 2
        with Session(engine) as s:
            active = set(s.scalars(select(feed_t.c.name).where(feed_t.c.active.is_(True))))
        assert "g49" in active
        assert "f49" not in active
        assert len(edited) == 50
    finally:
        engine.dispose()


def test_run_does_not_read_a_feeds_file_the_database_already_holds(
    tmp_path: Path,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``run`` checks the feeds file before opening the database; on a restart with the same
    file that check and the sync both skip it, so start-up does not grow with the feed count."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "tw.db"
    monkeypatch.setenv("THESISWATCH_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("THESISWATCH_RULES_DIR", str(make_rules(tmp_path)))
    url = feed_server.route("/a.xml", rss(("Dutch widen ASML licence rule", "https://x/a")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - {{name: a, url: '{url}', tier: wire}}\n")
    monkeypatch.setenv("THESISWATCH_FEEDS", str(feeds))
    reads: list[Path] = []
    real = bot.feeds.config.load_feeds

    def counting(path: Path, **kwargs: object) -> object:
        reads.append(path)
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.feeds.config, "load_feeds", counting)
    monkeypatch.setattr(bot.feeds.startup, "load_feeds", counting)
    settings = Settings(database_url=f"sqlite:///{db}", feeds=feeds, rules_dir=tmp_path / "rules")
    rulebook = Rulebook(settings.rules_dir, datetime.now(UTC))
    assert not bot.feeds.startup.feeds_already_synced(settings, rulebook)
    assert not db.exists()  # asking made no database

    assert main(["run", "--once"]) == 0
    assert len(reads) == 2  # checked before the database was opened, then synced
    assert bot.feeds.startup.feeds_already_synced(settings, rulebook)
    assert main(["run", "--once"]) == 0
    assert len(reads) == 2  # the restart read it nowhere

    feeds.write_text(feeds.read_text() + f"  - {{name: b, url: '{url}', tier: press}}\n")
    assert not bot.feeds.startup.feeds_already_synced(settings, rulebook)
    assert main(["run", "--once"]) == 0
    assert len(reads) == 4  # an edit is checked and synced again
    feeds.write_text(feeds.read_text() + "  - {name: c, url: 'https://c/', tier: tabloid}\n")
    assert main(["run", "--once"]) == 1  # a broken edit is still caught by the check
    assert "tier must be one of" in capsys.readouterr().err
