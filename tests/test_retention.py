"""Retention: old items and deliveries go, the board's evidence and unevaluated items stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlmodel import Session

from bot.ops.retention import prune_old
from bot.pipeline.console import CONSOLE, deliver_console
from bot.pipeline.evaluate import Evaluator
from bot.pipeline.rulebook import Rulebook
from storage.models import alert_t, delivery_t, item_revision_t, item_t, signal_t, story_t
from storage.retention import Pruned
from storage.retention import prune as prune_rows
from tests.helpers.db import T0, count, entry, feeds, queue_alert, store
from tests.helpers.inline_rules import make_rules_dir


def test_old_rows_go_and_the_evidence_stays(engine: Engine, tmp_path: Path) -> None:
    book = Rulebook(make_rules_dir(tmp_path), T0)
    evaluator = Evaluator(book, [CONSOLE])
    [gov, press] = feeds(engine, "gov", "press")
    old = T0 - timedelta(days=200)
    store(engine, press, entry("Intel names a new chief executive", "https://p/0", at=old), now=old)
    store(
        engine,
        gov,
        entry("China lifts ban on Nvidia H20 purchases", "https://g/1", at=old),
        tier="official",
        now=old,
    )
    evaluator.run(engine, old)  # the break: a transition, its alert, evidence on the board
    deliver_console(engine, old, write=lambda _t: None)
    store(engine, press, entry("Fresh headline about tariffs", "https://p/2"))  # not evaluated

    pruned = prune_old(engine, book.engine.ruleset.thesis, T0, days=90)

    with Session(engine) as s:
        titles = sorted(s.execute(select(item_t.c.title)).scalars())
    assert titles == ["China lifts ban on Nvidia H20 purchases", "Fresh headline about tariffs"]
    assert (pruned.items, pruned.deliveries, pruned.stories) == (1, 1, 1)
    assert count(engine, delivery_t) == 0
    assert count(engine, alert_t) == 1  # the record of what was said stays
    assert count(engine, signal_t) == 1  # the evidence's signal stays with it
    assert count(engine, story_t) == 2


def test_nothing_recent_is_pruned(engine: Engine, tmp_path: Path) -> None:
    book = Rulebook(make_rules_dir(tmp_path), T0)
    [f] = feeds(engine, "f")
    store(engine, f, entry("China urges firms to avoid Nvidia H20 chips", "https://f/1"))
    Evaluator(book, [CONSOLE]).run(engine, T0)
    pruned = prune_old(engine, book.engine.ruleset.thesis, T0 + timedelta(days=10), days=90)
    assert (pruned.items, pruned.deliveries) == (0, 0)
    assert count(engine, item_t) == 1


def test_an_old_rewritten_item_goes_with_its_earlier_texts(engine: Engine, tmp_path: Path) -> None:
    book = Rulebook(make_rules_dir(tmp_path), T0)
    [f] = feeds(engine, "f")
    old = T0 - timedelta(days=200)
    store(engine, f, entry("Intel names a chief", "https://f/1", at=old), now=old)
    Evaluator(book, [CONSOLE]).run(engine, old)
    later = old + timedelta(hours=1)
    rewrite = entry("Intel names a new chief executive", "https://f/1", at=old)
    assert store(engine, f, rewrite, now=later).revised_items == 1
    Evaluator(book, [CONSOLE]).run(engine, later)

    pruned = prune_old(engine, book.engine.ruleset.thesis, T0, days=90)

    assert pruned.items == 1
    assert (count(engine, item_t), count(engine, item_revision_t)) == (0, 0)


def test_deliveries_never_delivered_expire_with_their_alert(engine: Engine) -> None:
    old = queue_alert(engine, "old news", [1001, 1002], created_at=T0 - timedelta(days=100))
    new = queue_alert(engine, "new news", [1001], created_at=T0 - timedelta(days=1))
    with Session(engine) as s, s.begin():
        s.execute(  # one of the old ones went out; the other chat never got it
            update(delivery_t)
            .where(delivery_t.c.target == "chat:1001", delivery_t.c.alert_id == old)
            .values(status="sent")
        )

    with Session(engine) as s, s.begin():
        pruned: Pruned = prune_rows(s, before=T0 - timedelta(days=90), keep_items=())

    with Session(engine) as s:
        left = s.execute(select(delivery_t.c.alert_id, delivery_t.c.status)).all()
    assert left == [(new, "pending")]
    assert (pruned.deliveries, pruned.pending) == (2, 1)
    assert count(engine, alert_t) == 2  # the record of what was said stays
