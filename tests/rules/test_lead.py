"""``in: lead``: the first sentence of the summary (official notices put the news there)."""

from __future__ import annotations

from collections.abc import Callable

from rules import Engine, Item, Tier
from tests.rules.conftest import item

MakeEngine = Callable[..., Engine]

RULES = """\
rules:
  - id: lead-cut
    leg: h20-ban
    effect: breaks
    severity: high
    match:
      all:
        - {in: title, all: [modifying, duties]}
        - {in: lead, all: [[reduce~, lower~], [duty, duties]], within: 6}
  - id: lead-regex
    leg: h20-ban
    effect: breaks
    severity: high
    match: {in: lead, regex: 'cuts? (?:the )?tariff'}
"""


def fired(engine: Engine, it: Item) -> list[str]:
    return [s.rule_id for s in engine.evaluate(it)]


def case(title: str, summary: str, tier: Tier = "official") -> Item:
    return item(title, summary, tier=tier)


def test_lead_reads_only_the_first_sentence(make_engine: MakeEngine) -> None:
    engine = make_engine(RULES)
    title = "Modifying Duties on Products of China"
    assert fired(engine, case(title, "The order reduces the duty to 10 percent. It ends.")) == [
        "lead-cut"
    ]
    # The easing is in the second sentence: background, not the lead.
    background = "The order raises duties. Earlier orders reduced duties."
    assert fired(engine, case(title, background)) == []
    # No sentence end at all: the whole summary is the lead.
    assert fired(engine, case(title, "the order lowers duties")) == ["lead-cut"]


def test_abbreviations_do_not_end_the_lead(make_engine: MakeEngine) -> None:
    engine = make_engine(RULES)
    title = "Modifying Duties on Products of China"
    summary = "Under the U.S. order signed on Nov. 10 by Mr. Trump, duties are reduced. Next."
    assert fired(engine, case(title, summary)) == ["lead-cut"]


def test_lead_regex_stops_at_the_first_sentence(make_engine: MakeEngine) -> None:
    engine = make_engine(RULES)
    assert fired(engine, case("Notice", "Washington cuts the tariff. More.")) == ["lead-regex"]
    assert fired(engine, case("Notice", "Talks went on. Washington cuts the tariff.")) == []
    # Never the title.
    assert fired(engine, case("US cuts tariff", "Nothing here.")) == []
