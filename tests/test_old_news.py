"""Old news never alerts: evidence is timed by publication, over HTTP through the poll path."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.pipeline.backtest import backtest
from bot.pipeline.rulebook import Rulebook
from bot.settings import SettingsError, load
from storage.models import delivery_t, signal_t, transition_t
from storage.signals import items_between, load_board
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer
from tests.helpers.news import Entry, add_feed, alerts, dated_rss, make_rules, news_pipeline

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return make_rules(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def _count(engine: Engine, table: object) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def _archive() -> list[Entry]:
    """An official feed's back catalogue: every entry would break or reverse a leg today."""
    old = [
        Entry(
            "US and China sign phase one trade deal",
            "https://gov.example/2020/deal",
            datetime(2020, 1, 15, 16, 0, tzinfo=UTC),
        ),
        Entry(
            "China approves Nvidia H20 purchases",
            "https://gov.example/h20-just-too-old",
            NOW - 73 * H,
        ),
    ]
    for n in range(40):  # one a month, back to 2023
        when = NOW - timedelta(days=4 + 30 * n)
        title = (
            f"Commerce ministry lifts H20 curbs for batch {n}"
            if n % 2
            else f"US and China sign trade deal annex {n}"
        )
        old.append(Entry(title, f"https://gov.example/archive/{n}", when))
    return old


async def test_an_archived_feed_raises_no_alert_and_a_fresh_item_still_does(
    engine: Engine,
    feed_server: FeedServer,
    rules_dir: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    archive = _archive()
    url = feed_server.route("/gov.xml", dated_rss(*archive))
    gov = add_feed(engine, "gov", url, "official")

    async with news_pipeline(engine, rules_dir, clock) as pipeline:
        with caplog.at_level(logging.INFO, logger="bot.pipeline.evaluate"):
            first = await pipeline.poll(gov)

        assert first.new_items == len(archive)
        # Stored and read: every entry fired its rule, kept as history ...
        assert _count(engine, signal_t) == len(archive)
        # ... and none of it moved a leg or reached the outbox, so no chat hears of it.
        assert alerts(engine) == []
        assert _count(engine, delivery_t) == 0
        assert _count(engine, transition_t) == 0
        with Session(engine) as s:
            stored = load_board(s, "test")
        assert stored is not None
        assert [leg["state"] for leg in stored[0]["legs"]] == ["intact", "intact"]
        assert (
            f"{len(archive)} item(s) published more than 72 h ago (oldest 2020-01-15)"
            in caplog.text
        )

        # Fresh news on the same feed still alerts at once.
        feed_server.route(
            "/gov.xml",
            dated_rss(
                Entry(
                    "China approves Nvidia H20 purchases",
                    "https://gov.example/today",
                    NOW + 6 * H - timedelta(minutes=10),
                ),
                *archive,
            ),
        )
        clock.advance(hours=6)
        second = await pipeline.poll(gov)

    assert (second.status, second.new_items) == ("new", 1)
    assert alerts(engine) == [("transition", "h20-ban", "broken", True)]

    # The archive still enters the backtest: replayed at its own times, it fires there.
    with Session(engine) as s:
        replay = backtest(Rulebook(rules_dir, NOW).engine, items_between(s, None, None))
    assert {d.leg for _, d in replay.alerts} == {"h20-ban", "no-trade-deal"}
    assert len(replay.alerts) > len(alerts(engine))


async def test_the_age_limit_is_the_operators_choice(
    engine: Engine, feed_server: FeedServer, rules_dir: Path, clock: FakeClock
) -> None:
    url = feed_server.route(
        "/gov.xml",
        dated_rss(
            Entry("US and China sign trade deal on chips", "https://gov.example/1", NOW - 30 * H),
            Entry("China approves Nvidia H20 purchases", "https://gov.example/2", NOW - 20 * H),
        ),
    )
    gov = add_feed(engine, "gov", url, "official")

    async with news_pipeline(engine, rules_dir, clock, max_age=24 * H) as pipeline:
        await pipeline.poll(gov)

    # 30 h old is past a 24 h limit; 20 h old is not.
    assert alerts(engine) == [("transition", "h20-ban", "broken", True)]


def test_the_age_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THESISWATCH_MAX_ALERT_AGE_H", "24")
    assert load().max_alert_age == 24 * H
    monkeypatch.delenv("THESISWATCH_MAX_ALERT_AGE_H")
    assert load().max_alert_age == 72 * H
    monkeypatch.setenv("THESISWATCH_MAX_ALERT_AGE_H", "0")
    with pytest.raises(SettingsError, match=r"^THESISWATCH_MAX_ALERT_AGE_H: "):
        load()
