"""Two theses evaluated side by side: one board each, signals, ledger and alerts per thesis."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.pipeline.backtest import backtest
from bot.pipeline.console import CONSOLE
from bot.pipeline.evaluate import Evaluator
from bot.pipeline.rulebook import Rulebook
from storage.models import alert_t, signal_t, transition_t
from storage.signals import items_between, load_board, rules_fired
from tests.helpers.db import T0, entry, feeds, store
from tests.helpers.inline_rules import make_theses_dir


def rows(engine: Engine, table: object, *columns: str) -> list[tuple[object, ...]]:
    with Session(engine) as s:
        cols = [getattr(table.c, c) for c in columns]  # type: ignore[attr-defined]
        order = table.c.id  # type: ignore[attr-defined]
        return [tuple(r) for r in s.execute(select(*cols).order_by(order))]


def test_one_story_moves_a_leg_in_each_thesis(engine: Engine, tmp_path: Path) -> None:
    evaluator = Evaluator(Rulebook(make_theses_dir(tmp_path), T0), targets=[CONSOLE])
    [gov] = feeds(engine, "mofcom", tier="official")
    store(
        engine,
        gov,
        entry("China lifts ban on Nvidia H20 purchases", "https://gov/1"),
        tier="official",
    )

    summary = evaluator.run(engine, T0)

    assert (summary.items, summary.signals, summary.transitions, summary.alerts) == (1, 2, 2, 2)
    assert sorted(rows(engine, signal_t, "thesis", "leg", "rule_id")) == [
        ("second", "hbm-demand", "h20-lift-hbm"),
        ("test", "h20-ban", "h20-ban-lifted"),
    ]
    assert sorted(rows(engine, transition_t, "thesis", "leg", "new_state")) == [
        ("second", "hbm-demand", "broken"),
        ("test", "h20-ban", "broken"),
    ]
    alerts = rows(engine, alert_t, "thesis", "leg", "story_id", "payload")
    assert sorted((a[0], a[1]) for a in alerts) == [("second", "hbm-demand"), ("test", "h20-ban")]
    assert len({a[2] for a in alerts}) == 1  # the same story
    assert {a[3]["thesis"] for a in alerts} == {"second", "test"}  # type: ignore[index]
    with Session(engine) as s:
        boards = {name: load_board(s, name) for name in ("test", "second")}
    assert boards["test"] is not None
    assert boards["test"][0]["legs"][0]["state"] == "broken"
    assert boards["second"] is not None
    assert boards["second"][0]["legs"][0]["state"] == "broken"


def test_what_fired_before_a_rewrite_is_remembered_per_thesis(
    engine: Engine, tmp_path: Path
) -> None:
    # Rule ids are unique only within a thesis: a rewrite must tell each board what ITS rules
    # said of the earlier text, not what some thesis's rule of the same id said.
    evaluator = Evaluator(Rulebook(make_theses_dir(tmp_path), T0), targets=[CONSOLE])
    [gov] = feeds(engine, "mofcom", tier="official")
    store(
        engine,
        gov,
        entry("China lifts ban on Nvidia H20 purchases", "https://gov/1"),
        tier="official",
    )
    evaluator.run(engine, T0)
    with Session(engine) as s:
        [item] = items_between(s, None, None)
        rewritten = replace(item, revision=2)
        assert rules_fired(s, [rewritten], "test") == {item.id: frozenset({"h20-ban-lifted"})}
        assert rules_fired(s, [rewritten], "second") == {item.id: frozenset({"h20-lift-hbm"})}
        # A replay of each thesis on its own gives the alerts the live run wrote for it.
        replay = {
            e.ruleset.thesis.name: backtest(e, items_between(s, None, None))
            for e in evaluator.rulebook.engines
        }
    assert {n: len(r.alerts) for n, r in replay.items()} == {"second": 1, "test": 1}
