"""Fuzzed text never raises, gives the same answer twice, and spans point into the text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import Engine, Item, Tier, YamlError, compile_ruleset, load_ruleset

THESIS = (Path(__file__).parent / "data" / "thesis.yaml").read_text(encoding="utf-8")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def item(title: str, summary: str = "", *, tier: Tier = "wire") -> Item:
    return Item("k1", title, summary, "Example Wire", tier, "https://example.com/a", NOW)


WORDS = st.sampled_from(
    [
        "China",
        "lifts",
        "ban",
        "H20",
        "Nvidia",
        "not",
        "may",
        "U.S.",
        "rare-earth",
        "controls",
        "suspends",
        "deal",
        "truce",
        "’s",
        "—",
        "İ",
        "ﬁ",
        "…",
        "\u00a0",
        "ASML",
        "tariffs",
    ]
)
TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(WORDS, st.text(max_size=6)), max_size=40).map(" ".join),
)
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(title=TEXT, summary=TEXT)
def test_any_text_evaluates(default_engine: Engine, title: str, summary: str) -> None:
    subject = item(title, summary)
    signals = default_engine.evaluate(subject)
    assert signals == default_engine.evaluate(subject)
    for signal in signals:
        for span in signal.spans:
            assert 0 <= span.start < span.end
            assert span.text.strip()


@FAST
@given(text=st.text(max_size=400))
def test_any_rules_file_loads_or_reports(text: str) -> None:
    problems: list[str] = []
    try:
        load_ruleset({"r.yaml": text})
    except YamlError as exc:
        problems = [str(p) for p in exc.problems] or ["<empty YamlError>"]
    assert all(p.startswith("r.yaml:") for p in problems)


REGEX_ENGINE = compile_ruleset(
    load_ruleset(
        {
            "t.yaml": THESIS,
            "r.yaml": (
                "rules:\n  - id: rx\n    leg: h20-ban\n    effect: breaks\n"
                "    match: {regex: 'h20 (ban|curb)s? (on|for) \\w+'}\n"
            ),
        }
    )
)


@FAST
@given(title=TEXT)
def test_regex_rules_on_any_text(title: str) -> None:
    found = REGEX_ENGINE.evaluate(item(f"{title} H20 bans on chips"))
    assert [s.rule_id for s in found] == ["rx"]
