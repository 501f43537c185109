"""Feed text and links made clean: pure functions, plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.feeds.normalise import (
    canonical_url,
    clamp_published,
    content_hash,
    plain_text,
    title_signature,
)

NOW = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<p>China &amp; the <b>H20</b></p>", "China & the H20"),
        ("&lt;p&gt;escaped &amp;amp; markup&lt;/p&gt;", "escaped &amp; markup"),
        ("a<script>alert('x')</script>b<style>p{}</style>c", "a b c"),
        ("<!-- hidden -->shown", "shown"),
        ("  spread \n\t over\r\nlines  ", "spread over lines"),
        ("zero\u200bwidth\x00control\x07chars", "zerowidthcontrolchars"),
        ("unclosed <a href='x", "unclosed"),
        ("", ""),
        (None, ""),
    ],
)
def test_plain_text(raw: str | None, clean: str) -> None:
    assert plain_text(raw, 500) == clean


def test_plain_text_caps_at_a_word_boundary() -> None:
    text = plain_text("word " * 1000, 50)
    assert len(text) <= 50
    assert text.endswith("word…")


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTPS://Example.COM:443/a/b?utm_source=rss&id=3&utm_medium=feed#section",
            "https://example.com/a/b?id=3",
        ),
        ("http://x.example:80/p?fbclid=1&gclid=2", "http://x.example/p"),
        ("https://x.example:8443/p?b=2&a=1", "https://x.example:8443/p?a=1&b=2"),
        ("https://x.example", "https://x.example/"),
        ("  https://x.example/p  ", "https://x.example/p"),
        ("javascript:alert(1)", None),
        ("ftp://x.example/file", None),
        ("/relative/path", None),
        ("http://[bad", None),
        ("", None),
    ],
)
def test_canonical_url(url: str, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_title_signature_ignores_outlet_attribution_and_inflection() -> None:
    assert title_signature("China halts Nvidia H20 orders - Reuters") == title_signature(
        "China halted Nvidia H20 order, Reuters reports"
    )


LONG = "China tells tech firms to avoid Nvidia H20 chips in government work"


def test_content_hash_is_per_day() -> None:
    later_same_day = NOW + timedelta(hours=2)
    next_month = NOW + timedelta(days=30)
    assert content_hash(LONG, "", NOW, "https://a/1") == content_hash(
        LONG.upper() + " ", "", later_same_day, "https://b/2"
    )
    assert content_hash(LONG, "", NOW) != content_hash(LONG, "", next_month)


def test_short_generic_text_is_told_apart_by_url() -> None:
    assert content_hash("Press release", "", NOW, "https://gov/1") != content_hash(
        "Press release", "", NOW, "https://gov/2"
    )


def test_clamp_published() -> None:
    assert clamp_published(None, NOW) == NOW
    assert clamp_published(NOW + timedelta(days=365), NOW) == NOW
    assert clamp_published(NOW + timedelta(minutes=5), NOW) == NOW + timedelta(minutes=5)
    eastern = datetime(2025, 8, 12, 4, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("America/New_York")
    )
    assert clamp_published(eastern, NOW).tzinfo == UTC
