"""The lead sentence and matched sentences: cut, capped, and safe to escape afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.telegram.render import alert_html
from bot.views.context import LEAD_CAP, cap_text, lead_sentence, sentences
from storage.outbox import StoredAlert
from tests.helpers.botapi import parse_html


def test_the_lead_is_the_first_sentence() -> None:
    summary = "The U.S. Commerce Dept. said No. 61 stays. Beijing disagreed."
    assert lead_sentence(summary) == "The U.S. Commerce Dept. said No. 61 stays."
    assert lead_sentence("  one   line\nwith breaks ") == "one line with breaks"
    assert lead_sentence("") == ""


def test_a_lead_that_repeats_the_headline_is_left_out() -> None:
    title = "China Urges Firms to Avoid Nvidia H20 Chips After Trump Resumes Sales"
    assert lead_sentence(f"{title}  Bloomberg", title) == ""
    assert lead_sentence("Chinese authorities sent notices to companies.", title) != ""


def test_a_long_lead_is_capped_at_a_word() -> None:
    lead = lead_sentence("word " * 200 + ".")
    assert len(lead) <= LEAD_CAP
    assert lead.endswith("word…")
    assert cap_text("a" * 500, 10) == "a" * 9 + "…"


def test_a_lead_is_cut_before_it_is_escaped() -> None:
    headline = {
        "title": "t",
        "source": "s",
        "tier": "wire",
        "url": None,
        "lead": "x" * (LEAD_CAP - 3) + " &&& <script>alert(1)</script>",
    }
    at = datetime(2025, 8, 12, tzinfo=UTC)
    payload = {"claim": "c", "sources": 1, "headlines": [headline], "tickers": {}}
    html = alert_html(
        StoredAlert(1, "transition", "l", "high", "intact", "broken", True, at, payload)
    )
    text, _ = parse_html(html)  # Telegram's parser accepts it: no half entity, no tag
    assert "<script>" not in html
    assert "x" * (LEAD_CAP - 3) in text


def test_sentences_mark_the_matched_words_in_their_sentence() -> None:
    text = "Markets were calm. China lifts its H20 ban, officials say. Nvidia rose."
    start = text.index("lifts")
    h20 = text.index("H20")
    [sentence] = sentences(text, [(h20, h20 + 3), (start, start + 5)])
    assert sentence.text() == "China «lifts» its «H20» ban, officials say."


def test_a_long_sentence_is_windowed_around_its_matches() -> None:
    text = "Intro " * 100 + "the ban on H20 is lifted " + "tail " * 100 + "."
    at = text.index("H20")
    [sentence] = sentences(text, [(at, at + 3)], cap=80)
    shown = sentence.text()
    assert shown.startswith("…")
    assert shown.endswith("…")
    assert "«H20»" in shown
    assert len(shown) < 100


def test_spans_past_the_text_are_ignored() -> None:
    assert sentences("short", [(10, 20)]) == []
