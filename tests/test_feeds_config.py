"""The feeds file: strict, and every problem reported as file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds.config import load_feeds, parse_duration, parse_feeds
from bot.settings import DEFAULT_FEEDS
from rules.yamlsrc import YamlError


def problems(text: str) -> list[str]:
    with pytest.raises(YamlError) as info:
        parse_feeds(text, "feeds.yaml", Path("/srv"))
    return [str(p) for p in info.value.problems]


def test_a_good_file() -> None:
    feeds = parse_feeds(
        """
feeds:
  - name: gnews-h20
    url: https://news.google.com/rss/search?q=Nvidia+H20
    tier: press
    interval: 10m
    topics: [h20-ban]
  - name: local
    url: snapshots/wire.xml
    tier: wire
""",
        "feeds.yaml",
        Path("/srv"),
    )
    assert [(f.name, f.tier, f.interval_s, f.topics) for f in feeds] == [
        ("gnews-h20", "press", 600, ("h20-ban",)),
        ("local", "wire", 300, ()),
    ]
    assert feeds[1].url == "/srv/snapshots/wire.xml"


def test_every_problem_is_reported_with_its_place() -> None:
    found = problems(
        """feeds:
  - name: ok
    url: https://a.example/rss
    tier: press
    intervall: 5m
  - name: Bad Name
    url: gopher://old.example
    tier: tabloid
    interval: 30s
  - name: ok
    url: https://b.example/rss
    tier: wire
  - url: https://c.example/rss
    tier: wire
"""
    )
    assert found == [
        "feeds.yaml:5:5: unknown key 'intervall' in feed;"
        " did you mean 'interval' or 'min_interval'?",
        "feeds.yaml:6:11: name must be a lowercase slug (a-z, 0-9, . _ -)",
        "feeds.yaml:7:10: url scheme must be http, https or a local path",
        "feeds.yaml:8:11: tier must be one of official, wire, press, blog",
        "feeds.yaml:9:15: interval must be at least 1m",
        "feeds.yaml:10:11: duplicate feed name 'ok' (first at line 2)",
        "feeds.yaml:13:5: feed is missing required key 'name'",
    ]


def test_duplicate_keys_are_errors() -> None:
    assert problems("feeds:\n  - name: a\n    name: b\n    url: x\n    tier: wire\n") == [
        "feeds.yaml:3:5: duplicate key 'name' (first at line 2)"
    ]


def test_broken_yaml_names_the_line() -> None:
    [problem] = problems("feeds:\n  - name: a\n   url: [unclosed\n")
    assert problem.startswith("feeds.yaml:3:")


def test_unsafe_tags_are_refused() -> None:
    [problem] = problems("feeds: !!python/object/apply:os.system ['true']\n")
    assert problem.startswith("feeds.yaml:1:8:")


def test_alias_bombs_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 7):
        bomb += (
            f"{'b' * i}: &{'b' * i} [{', '.join(['*' + ('b' * (i - 1) if i > 1 else 'a')] * 10)}]\n"
        )
    bomb += "feeds: []\n"
    [problem] = problems(bomb)
    assert "too large" in problem


@pytest.mark.parametrize(("value", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), (120, 120)])
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


def test_the_shipped_feeds_file_loads() -> None:
    feeds = load_feeds(DEFAULT_FEEDS)
    assert len(feeds) >= 6
    assert {f.tier for f in feeds} >= {"official", "press"}
    assert all(f.url.startswith("https://") for f in feeds)


def test_an_unreadable_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(YamlError) as info:
        load_feeds(tmp_path / "missing.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'missing.yaml'}:1:1: cannot read")
