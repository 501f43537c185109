"""Items stored once, sightings per feed, rewrites grouped into stories: on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from storage.db import make_engine, migrate
from storage.feeds import feed_health, feed_state, record_success, sync_feeds
from storage.models import item_t, sighting_t, story_t
from storage.records import FeedDef, StoreResult
from tests.helpers.db import T0, count, entry, feeds, store


def test_one_story_from_two_feeds_is_one_item_with_two_sources(engine: Engine) -> None:
    a, b = feeds(engine, "wire", "aggregator")
    url = "https://reuters.example/h20"

    first = store(engine, a, entry("China tells firms to avoid H20", url, publisher="Reuters"))
    second = store(engine, b, entry("China tells firms to avoid H20", url, publisher="Yahoo"))

    assert (first.new_items, second.new_items) == (1, 0)
    assert (first.new_sightings, second.new_sightings) == (1, 1)
    assert count(engine, item_t) == 1
    with Session(engine) as s:
        sources = s.execute(select(sighting_t.c.publisher).order_by(sighting_t.c.id)).scalars()
        assert list(sources) == ["Reuters", "Yahoo"]


def test_same_text_under_another_url_is_the_same_item(engine: Engine) -> None:
    a, b = feeds(engine, "a", "b")
    store(
        engine,
        a,
        entry(
            "Dutch government widens ASML servicing licence rule for China", "https://a.example/1"
        ),
    )
    result = store(
        engine,
        b,
        entry(
            "Dutch government widens ASML servicing licence rule for China", "https://b.example/x"
        ),
    )
    assert (result.new_items, result.new_sightings) == (0, 1)


def test_storing_again_inserts_nothing(engine: Engine) -> None:
    [fid] = feeds(engine, "f")
    batch = [
        entry(f"Headline number {i} about export controls", f"https://x/{i}") for i in range(5)
    ]
    store(engine, fid, *batch)

    again = store(engine, fid, *batch)

    assert again == StoreResult(entries=5)
    assert (count(engine, item_t), count(engine, sighting_t)) == (5, 5)


def test_a_restart_reinserts_nothing(db_url: str) -> None:
    batch = [entry(f"Export control headline {i}", f"https://x/{i}") for i in range(3)]
    first_engine = make_engine(db_url)
    migrate(first_engine)
    [fid] = feeds(first_engine, "f")
    store(first_engine, fid, *batch)
    first_engine.dispose()

    second_engine = make_engine(db_url)
    migrate(second_engine)  # a restart migrates again: a no-op
    [same] = feeds(second_engine, "f")
    result = store(second_engine, same, *batch)

    assert same == fid
    assert result.new_items == 0
    assert count(second_engine, item_t) == 3
    second_engine.dispose()


def test_one_item_twice_in_one_feed_under_two_keys(engine: Engine) -> None:
    [fid] = feeds(engine, "f")
    one = entry("Nvidia halts H20 production", "https://x/h20", key="guid-1")
    two = entry("Nvidia halts H20 production", "https://x/h20", key="guid-2")

    result = store(engine, fid, one, two)

    assert (result.new_items, result.new_sightings) == (1, 2)


def test_rewrites_by_two_outlets_join_one_story(engine: Engine) -> None:
    a, b = feeds(engine, "a", "b")
    store(engine, a, entry("China urges companies to avoid Nvidia H20 chips", "https://r/1"))
    store(
        engine,
        b,
        entry(
            "China Urges Firms to Avoid Nvidia H20 Chips, Bloomberg News reports",
            "https://b/2",
            at=T0 + timedelta(hours=3),
        ),
    )
    assert (count(engine, item_t), count(engine, story_t)) == (2, 1)
    with Session(engine) as s:
        first, last = s.execute(
            select(story_t.c.first_published_at, story_t.c.last_published_at)
        ).one()
    assert (first, last) == (T0, T0 + timedelta(hours=3))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (
            "US adds Chinese chip firms to entity list",
            "US removes Chinese chip firms from entity list",
        ),
        ("China imposes curbs on rare earth exports", "China lifts curbs on rare earth exports"),
        (
            "Nvidia halts H20 chip production for China",
            "Nvidia resumes H20 chip production for China",
        ),
    ],
)
def test_opposite_events_never_share_a_story(engine: Engine, one: str, other: str) -> None:
    [fid] = feeds(engine, "f")
    store(engine, fid, entry(one, "https://x/1"), entry(other, "https://x/2"))
    assert count(engine, story_t) == 2


def test_same_headline_days_apart_is_a_new_story(engine: Engine) -> None:
    [fid] = feeds(engine, "f")
    store(engine, fid, entry("China expands rare earth export controls", "https://x/1"))
    later = T0 + timedelta(days=30)
    store(engine, fid, entry("China expands rare earth export controls", "https://x/2", at=later))
    assert count(engine, story_t) == 2


def test_feeds_sync_by_name_and_forget_validators_when_the_url_changes(engine: Engine) -> None:
    [fid] = feeds(engine, "f")
    with Session(engine) as s, s.begin():
        record_success(
            s, fid, now=T0, next_poll_at=T0, etag='"v1"', last_modified="x", body_hash="h"
        )
    with Session(engine) as s, s.begin():
        [same] = sync_feeds(
            s, [FeedDef("f", "https://moved.example/rss", "wire", 600)], deactivate_others=True
        )
        state = feed_state(s, same)

    assert same == fid
    assert (state.url, state.tier, state.interval_s) == ("https://moved.example/rss", "wire", 600)
    assert (state.etag, state.last_modified, state.body_hash) == (None, None, None)


def test_feeds_removed_from_the_file_are_deactivated(engine: Engine) -> None:
    feeds(engine, "kept", "dropped")
    with Session(engine) as s, s.begin():
        sync_feeds(s, [FeedDef("kept", "https://k/rss", "press", 300)], deactivate_others=True)
        names = [h.name for h in feed_health(s)]
        every = [h.name for h in feed_health(s, include_inactive=True)]
    assert names == ["kept"]
    assert every == ["dropped", "kept"]


def test_generic_headlines_do_not_make_a_story(engine: Engine) -> None:
    [fid] = feeds(engine, "gov")
    store(
        engine,
        fid,
        entry("Press release", "https://gov/1"),
        entry("Press release", "https://gov/2"),
    )
    assert (count(engine, item_t), count(engine, story_t)) == (2, 2)
