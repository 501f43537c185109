"""Parsing alone: bytes to normalised entries, against bare feedparser, in memory.

``parse_feed`` (the lxml fast path of ``bot/feeds/fastparse.py`` plus our normalising), the same
with ``fast=False`` (the feedparser path) and ``fast_parse`` alone (the lxml read, no
normalising), each against bare ``feedparser.parse`` with its defaults and with sanitising off.
Before the rounds every feed is parsed both ways once, and a note says how many took the fast
path and gave identical entries both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import feedparser
from benchlib import Row, Samples, rate, ratio, rounds, timed
from feeds_gen import GenFeed, render, total_entries

from bot.feeds.fastparse import fast_parse
from bot.feeds.parse import parse_feed

__all__ = ["ParseResult", "bench_parse", "parse_rows"]

BARE_OFF = {"sanitize_html": False, "resolve_relative_uris": False}


@dataclass(slots=True)
class ParseResult:
    corpus: str
    entries: int
    bare_default: Samples = field(default_factory=Samples)
    bare_off: Samples = field(default_factory=Samples)
    ours: Samples = field(default_factory=Samples)
    ours_fallback: Samples = field(default_factory=Samples)
    lxml_read: Samples = field(default_factory=Samples)
    notes: list[str] = field(default_factory=list)


def _parse_all(bodies: Sequence[bytes], *, fast: bool) -> int:
    now = datetime.now(UTC)
    return sum(
        len(parse_feed(body, publisher="bench", now=now, fast=fast).entries) for body in bodies
    )


def _agreement(bodies: Sequence[bytes]) -> str:
    """How many feeds took the fast path, and whether it read what feedparser reads."""
    now = datetime.now(UTC)
    fast = same = 0
    differ: list[int] = []
    for i, body in enumerate(bodies):
        quick = parse_feed(body, publisher="bench", now=now)
        slow = parse_feed(body, publisher="bench", now=now, fast=False)
        fast += quick.fast
        if quick.entries == slow.entries and quick.title == slow.title:
            same += 1
        else:
            differ.append(i)
    shown = f"; feeds that differ: {differ[:10]}" if differ else ""
    return (
        f"fast path taken for {fast}/{len(bodies)} feeds; fast path and feedparser give "
        f"identical entries for {same}/{len(bodies)}{shown}"
    )


def bench_parse(name: str, feeds: list[GenFeed], n_rounds: int) -> ParseResult:
    bodies = [render(f) for f in feeds]
    res = ParseResult(corpus=name, entries=total_entries(feeds))
    res.notes.append(f"parse {name}: " + _agreement(bodies))
    for _ in rounds(n_rounds, f"parse {name}"):
        with timed(res.bare_default):
            for body in bodies:
                feedparser.parse(body)
        with timed(res.ours):
            n_ours = _parse_all(bodies, fast=True)
        with timed(res.bare_off):
            for body in bodies:
                feedparser.parse(body, **BARE_OFF)
        with timed(res.lxml_read):
            for body in bodies:
                fast_parse(body, base=None, content_type=None)
        with timed(res.ours_fallback):
            _parse_all(bodies, fast=False)
    if n_ours != res.entries:
        res.notes.append(f"parse {name}: {n_ours} entries parsed of {res.entries}")
    return res


def parse_rows(res: ParseResult) -> list[Row]:
    rows = []
    for label, subject in (
        ("parse_feed (lxml path + normalise)", res.ours),
        ("parse_feed, feedparser path (fast=False)", res.ours_fallback),
        ("lxml read alone (fast_parse, no normalise)", res.lxml_read),
    ):
        for base_label, base in (
            ("feedparser defaults", res.bare_default),
            ("feedparser no-sanitise", res.bare_off),
        ):
            rows.append(
                Row(
                    name=f"{res.corpus}: {label} / {base_label}",
                    value=f"{rate(res.entries, subject.median)} entries",
                    baseline=f"{rate(res.entries, base.median)} entries",
                    ratio=ratio(subject, base)[1],
                    cpu_ratio=ratio(subject, base, cpu=True)[1],
                )
            )
    return rows
