"""0007 carries a single-thesis database (made by the schema before it) over without loss."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, text

from storage.db import alembic_config, make_engine, migrate

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC).replace(tzinfo=None)  # raw SQL: naive UTC


def _migrate_to(engine: Engine, target: str) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def _fill_single_thesis_db(engine: Engine, board_thesis: str | None) -> None:
    """What today's main writes: one item, its signal, a transition, an alert, a chat."""
    rows = [
        "INSERT INTO feed (id, name, url, tier, interval_s, topics, active,"
        " consecutive_failures, failures_total, polls_total)"
        " VALUES (1, 'wire', 'https://w/rss', 'wire', 300, '[]', true, 0, 0, 0)",
        "INSERT INTO story (id, key, title, title_sig, first_published_at,"
        " last_published_at, created_at) VALUES (1, 'k', 'T', 't', :at, :at, :at)",
        "INSERT INTO item (id, story_id, feed_id, tier, publisher, title, summary, url,"
        " content_hash, published_at, first_seen_at, evaluated_at) VALUES (1, 1, 1,"
        " 'wire', 'W', 'China lifts H20 ban', '', 'https://w/1', 'h', :at, :at, :at)",
        "INSERT INTO signal (item_id, revision, rule_id, ruleset_version, leg, effect,"
        " direction, severity, hedged, tickers, spans, created_at) VALUES (1, 1, 'r', 'v1',"
        " 'h20-ban', 'breaks', 'easing', 'high', false, '{\"NVDA\": \"bullish\"}', '[]', :at)",
        "INSERT INTO transition (id, leg, old_state, new_state, at, reason, ruleset_version,"
        " evidence) VALUES (7, 'h20-ban', 'intact', 'broken', :at, 'confirmed', 'v1', '[]')",
        "INSERT INTO alert (id, kind, leg, severity, old_state, new_state, confirmed,"
        " story_id, transition_id, created_at, payload) VALUES (3, 'transition', 'h20-ban',"
        " 'high', 'intact', 'broken', true, 1, 7, :at, '{\"leg\": \"h20-ban\"}')",
        "INSERT INTO delivery (alert_id, target, status, attempts, parts_sent,"
        " next_attempt_at) VALUES (3, 'chat:42', 'pending', 0, 0, :at)",
        "INSERT INTO chat_pref (chat_id, subscribed, legs, tickers, min_severity, muted_legs,"
        " paused, updated_at) VALUES (42, true, '[\"h20-ban\"]', '[]', 'low', '{}', false, :at)",
    ]
    if board_thesis is not None:
        rows.append(
            "INSERT INTO board_state (thesis, ruleset_version, updated_at, data)"
            " VALUES (:thesis, 'v1', :at, '{}')"
        )
    with engine.begin() as conn:
        for sql in rows:
            conn.execute(text(sql), {"at": AT, "thesis": board_thesis})


@pytest.mark.parametrize(
    ("board", "expected"),
    [
        ("chip-for-rare-earth", "chip-for-rare-earth"),
        ("my-desk-view", "my-desk-view"),
        (None, "chip-for-rare-earth"),
    ],
)
def test_single_thesis_rows_move_to_the_thesis_that_wrote_them(
    db_url: str, board: str | None, expected: str
) -> None:
    engine = make_engine(db_url)
    try:
        _migrate_to(engine, "0006")
        _fill_single_thesis_db(engine, board)
        migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT thesis, leg, rule_id FROM signal")).all() == [
                (expected, "h20-ban", "r")
            ]
            assert conn.execute(
                text("SELECT id, thesis, leg, new_state FROM transition")
            ).all() == [(7, expected, "h20-ban", "broken")]
            assert conn.execute(
                text("SELECT id, thesis, leg, story_id, transition_id FROM alert")
            ).all() == [(3, expected, "h20-ban", 1, 7)]
            assert conn.execute(text("SELECT alert_id, status FROM delivery")).all() == [
                (3, "pending")
            ]
            chat = conn.execute(text("SELECT chat_id, legs, theses FROM chat_pref")).one()
            assert chat[0] == 42
            assert chat[1] in ('["h20-ban"]', ["h20-ban"])
            assert chat[2] in ("[]", [])  # every thesis
            boards = conn.execute(text("SELECT thesis FROM board_state")).all()
            assert boards == ([(board,)] if board else [])
    finally:
        engine.dispose()
