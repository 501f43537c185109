"""The Alembic migrations build exactly the tables the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, SQLModel

from bot.feeds.normalise import short_hash
from storage.db import alembic_config, make_engine, migrate
from storage.items import store_entries
from storage.records import StoreResult
from tests.helpers.db import entry


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []


def test_migrating_twice_is_harmless(engine: Engine) -> None:
    migrate(engine)
    assert {"feed", "item", "sighting", "story", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )


def test_sqlite_runs_in_wal_mode(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _migrate_to(engine: Engine, target: str) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def test_the_revisions_migration_carries_existing_data(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        _migrate_to(engine, "0004")
        at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
        naive = at.replace(tzinfo=None)  # raw SQL: the column type is not applied
        with engine.begin() as conn:
            for sql in (
                "INSERT INTO feed (id, name, url, tier, interval_s, topics, active,"
                " consecutive_failures, failures_total, polls_total)"
                " VALUES (1, 'wire', 'https://w/rss', 'wire', 300, '[]', true, 0, 0, 0)",
                "INSERT INTO story (id, key, title, title_sig, first_published_at,"
                " last_published_at, created_at) VALUES (1, 'k', 'T', 't', :at, :at, :at)",
                "INSERT INTO item (id, story_id, feed_id, tier, publisher, title, summary, url,"
                " content_hash, published_at, first_seen_at, evaluated_at) VALUES (1, 1, 1,"
                " 'wire', 'W', 'China weighs approving Nvidia H20 purchases', '',"
                " 'https://w/1', 'h', :at, :at, :at)",
                "INSERT INTO sighting (item_id, feed_id, entry_key, publisher, url, seen_at)"
                " VALUES (1, 1, :key, 'W', 'https://w/1', :at)",
                "INSERT INTO signal (item_id, rule_id, ruleset_version, leg, effect, direction,"
                " severity, hedged, tickers, spans, created_at) VALUES (1, 'r', 'v1', 'h20-ban',"
                " 'breaks', 'easing', 'high', false, '{}', '[]', :at)",
            ):
                conn.execute(text(sql), {"at": naive, "key": short_hash("https://w/1")})

        migrate(engine)

        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, revision, title FROM item")).all() == [
                (1, 1, "China weighs approving Nvidia H20 purchases")
            ]
            assert conn.execute(text("SELECT item_id, revision FROM signal")).all() == [(1, 1)]
            assert conn.execute(text("SELECT text_hash FROM sighting")).all() == [(None,)]

        def poll(title: str, minutes: int) -> StoreResult:
            when = at + timedelta(minutes=minutes)
            rewrite = entry(title, "https://w/1", at=at)  # its key is the sighting's
            with Session(engine) as s, s.begin():
                return store_entries(s, feed_id=1, tier="wire", entries=[rewrite], now=when)

        # The first poll after the upgrade learns what the feed says: no rewrite, nothing to
        # read again, even though the text differs from what was stored.
        assert poll("China weighs approving Nvidia H20 purchases (corrected)", 5).revised_items == 0
        assert poll("China approves Nvidia H20 purchases", 10).revised_items == 1
        with engine.begin() as conn:
            assert conn.execute(text("SELECT revision, evaluated_at FROM item")).all() == [
                (2, None)
            ]
            # The same rule on the new text is a new signal: the key now includes the revision.
            conn.execute(
                text(
                    "INSERT INTO signal (item_id, revision, rule_id, ruleset_version, leg, effect,"
                    " direction, severity, hedged, tickers, spans, created_at) VALUES (1, 2, 'r',"
                    " 'v1', 'h20-ban', 'breaks', 'easing', 'high', false, '{}', '[]', :at)"
                ),
                {"at": naive},
            )
    finally:
        engine.dispose()


def test_the_push_and_quiet_migration_keeps_alerts_and_chat_settings(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        _migrate_to(engine, "0006")
        naive = datetime(2026, 11, 30, 8, 0)
        with engine.begin() as conn:
            for sql in (
                "INSERT INTO alert (id, kind, leg, severity, confirmed, created_at, payload)"
                " VALUES (1, 'transition', 'h20-ban', 'high', true, :at, '{\"reason\": \"r\"}')",
                "INSERT INTO delivery (alert_id, target, status, attempts, parts_sent,"
                " next_attempt_at) VALUES (1, 'chat:5', 'pending', 0, 0, :at)",
                "INSERT INTO chat_pref (chat_id, subscribed, legs, tickers, min_severity,"
                " muted_legs, paused, updated_at, digest) VALUES (5, true, '[]', '[\"NVDA\"]',"
                " 'medium', '{}', false, :at, 'daily')",
            ):
                conn.execute(text(sql), {"at": naive})

        migrate(engine)

        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, leg, push_id FROM alert")).all() == [
                (1, "h20-ban", None)  # an old alert is a push of its own
            ]
            assert conn.execute(text("SELECT status FROM delivery")).all() == [("pending",)]
            row = conn.execute(
                text("SELECT min_severity, digest, quiet, quiet_digest FROM chat_pref")
            ).one()
            assert tuple(row) == ("medium", "daily", "info", False)
    finally:
        engine.dispose()
