"""Start-up with many feeds: 0007 keeps feeds; an unchanged feeds file is not read again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlmodel import Session

import bot.feeds.startup
from bot.pipeline.rulebook import Rulebook
from bot.settings import Settings
from storage.db import alembic_config, make_engine, migrate
from storage.feeds import claim_due
from storage.models import feed_t
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
