"""Retention keeps the evidence of every thesis's board."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.ops.retention import prune_old
from bot.pipeline.console import CONSOLE
from bot.pipeline.evaluate import Evaluator
from bot.pipeline.rulebook import Rulebook
from storage.models import item_t
from tests.helpers.db import T0, entry, feeds, store
from tests.helpers.inline_rules import make_theses_dir

HBM = "China lifts curbs on HBM imports"


def test_evidence_only_the_second_thesis_stands_on_survives(engine: Engine, tmp_path: Path) -> None:
    shelf = make_theses_dir(tmp_path)
    rules = shelf / "second" / "rules.yaml"
    rules.write_text(rules.read_text().replace("[H20, [lift~, end~]]", "[HBM, [lift~]]"))
    rules.write_text(rules.read_text().replace("China lifts H20 ban", HBM))
    book = Rulebook(shelf, T0)
    [gov] = feeds(engine, "gov", tier="official")
    old = T0 - timedelta(days=200)
    store(engine, gov, entry(HBM, "https://g/1", at=old), tier="official", now=old)
    Evaluator(book, [CONSOLE]).run(engine, old)  # "second" breaks on it; "test" ignores it

    theses = [e.ruleset.thesis for e in book.engines]
    assert [t.name for t in theses] == ["second", "test"]
    prune_old(engine, theses, T0, days=90)
    with Session(engine) as s:
        assert list(s.execute(select(item_t.c.title)).scalars()) == [HBM]
    # The default thesis alone (what the job passed before) would have let it go.
    prune_old(engine, theses[1], T0, days=90)
    with Session(engine) as s:
        assert list(s.execute(select(item_t.c.title)).scalars()) == []
