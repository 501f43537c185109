"""The lxml fast path and feedparser agree, and the fast path declines what it cannot read."""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.feeds.fastparse import fast_parse
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.parse import ParsedFeed, parse_feed
from bot.feeds.poller import Poller
from storage.feeds import sync_feeds
from storage.records import FeedDef
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer, rss

NOW = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)
BASE = "https://feeds.example/dir/feed.xml"
FIELDS = ("title", "url", "entry_key", "published_at")
# Corpus files where both paths read the feed but disagree on a field above: none today.
# A new difference fails the test; fix the fast path (or decline the construct) first.
KNOWN_DIFFERENCES: dict[str, set[str]] = {}


def _both(body: bytes, **kwargs: object) -> tuple[ParsedFeed | None, ParsedFeed | None]:
    """(fast path, feedparser), each None where that path finds no feed."""
    out: list[ParsedFeed | None] = []
    for fast in (True, False):
        try:
            out.append(parse_feed(body, publisher="p", now=NOW, fast=fast, **kwargs))  # type: ignore[arg-type]
        except Exception:
            out.append(None)
    return out[0], out[1]


def _differences(a: ParsedFeed, b: ParsedFeed) -> set[str]:
    if len(a.entries) != len(b.entries):
        return {"entry count"}
    return {
        field
        for x, y in zip(a.entries, b.entries, strict=True)
        for field in FIELDS
        if getattr(x, field) != getattr(y, field)
    }


def test_the_fast_path_agrees_with_feedparser_over_the_corpus(corpora: Path) -> None:
    files = sorted(
        p
        for p in (corpora / "feedparser-tests").rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name != "LICENSE"
    )
    counts: Counter[str] = Counter()
    differ: dict[str, set[str]] = {}
    entries = 0
    for path in files:
        fast, slow = _both(path.read_bytes(), base_url=BASE)
        if fast is None or not fast.fast:
            counts["declined"] += 1
            continue
        counts["fast"] += 1
        if slow is None:
            # feedparser flags a body served without Content-Type as bozo, and a bozo feed
            # without entries is an error: the same nothing, reported differently.
            counts["empty" if not fast.entries else "feedparser finds no feed"] += 1
            continue
        entries += len(fast.entries)
        found = _differences(fast, slow)
        if found:
            differ[str(path.relative_to(corpora))] = found
        counts["differ" if found else "agree"] += 1
    report = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"\n{len(files)} corpus files: {report}; {entries} entries compared")
    for name, fields in sorted(differ.items()):
        print(f"  differs: {name}: {', '.join(sorted(fields))}")
    assert differ == KNOWN_DIFFERENCES
    assert counts["feedparser finds no feed"] == 0
    # The fast path is taken for a good share of the corpus, not declined wholesale.
    assert counts["fast"] > 800
    assert entries > 200


def _feed(*items: str, head: str = '<?xml version="1.0" encoding="utf-8"?>', ns: str = "") -> bytes:
    return (
        f'{head}<rss version="2.0"{ns}><channel><title>Wire</title>'
        f"<link>https://wire.example/</link>{''.join(items)}</channel></rss>"
    ).encode()


ITEM = (
    "<item><title>China bans H20 purchases</title><link>https://wire.example/h20</link>"
    "<guid>https://wire.example/h20</guid><pubDate>Tue, 12 Aug 2025 08:00:00 GMT</pubDate>"
    "<description>&lt;p&gt;Regulators told firms&amp;nbsp;to stop.&lt;/p&gt;</description></item>"
)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (_feed(ITEM), {}),
        (_feed(ITEM), {"content-type": "application/rss+xml; charset=utf-8"}),
        # a permalink guid stands in for a missing link; a relative one is resolved
        (_feed("<item><title>A</title><guid>/news/a</guid></item>"), {}),
        (_feed('<item><title>A</title><guid isPermaLink="false">a-1</guid></item>'), {}),
        # xml:base, relative links and ids, Atom link choice and dates
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://gov.example/news/">'
            b"<title>Gov</title><entry><title type='html'>Rules &amp;lt;b&amp;gt;eased"
            b"&amp;lt;/b&amp;gt;</title><id>item/1</id>"
            b'<link rel="enclosure" href="a.pdf"/><link href="1.html" type="text/html"/>'
            b'<link rel="alternate" type="application/pdf" href="1.pdf"/>'
            b"<updated>2025-08-12T08:00:00+02:00</updated>"
            b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Body'
            b"</p></div></content></entry></feed>",
            {},
        ),
        # content:encoded before and after the description
        (
            _feed(
                "<item><title>A</title><content:encoded>&lt;p&gt;Long&lt;/p&gt;"
                "</content:encoded><description>Short</description></item>",
                ns=' xmlns:content="http://purl.org/rss/1.0/modules/content/"',
            ),
            {},
        ),
        # RSS 1.0
        (
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            b'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            b'<channel rdf:about="https://x.example/"><title>X</title></channel>'
            b'<item rdf:about="https://x.example/1"><title>One</title>'
            b"<link>https://x.example/1</link><dc:date>2025-08-12T08:00:00Z</dc:date></item>"
            b"</rdf:RDF>",
            {},
        ),
        # UTF-8 that was read as Latin-1 somewhere upstream, and cp1252 controls
        (_feed("<item><title>Caf\u00c3\u00a9 \u0093quoted\u0094</title></item>"), {}),
    ],
    ids=[
        "rss", "rss-header", "guid-link", "guid-not-link", "atom-base", "content-order",
        "rdf", "mojibake",
    ],
)  # fmt: skip
def test_the_fast_path_reads_what_feedparser_reads(body: bytes, headers: dict[str, str]) -> None:
    fast, slow = _both(body, headers=headers, base_url=BASE)
    assert fast is not None
    assert slow is not None
    assert fast.fast
    assert not slow.fast
    assert fast.entries == slow.entries
    assert fast.title == slow.title


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (_feed(ITEM).replace(b"</rss>", b""), {}),  # ill-formed
        (_feed(ITEM).replace(b"firms", b"firms&nbsp;"), {}),  # undefined entity
        (_feed(ITEM, head='<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">]>'), {}),
        (_feed(ITEM), {"content-type": "text/html; charset=utf-8"}),
        (_feed(ITEM), {"content-type": "application/xml; charset=iso-8859-1"}),
        (_feed(ITEM.replace("China", "Chin\u00e4")), {"content-type": "text/xml"}),
        (
            _feed(
                ITEM.replace("</item>", "<dc:title>Other</dc:title></item>"),
                ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"',
            ),
            {},
        ),
        (
            _feed(
                ITEM.replace(
                    "</item>", "<media:group><media:title>Other</media:title></media:group></item>"
                ),
                ns=' xmlns:media="http://search.yahoo.com/mrss/"',
            ),
            {},
        ),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>T</title>'
            b'<content type="image/png">aGVsbG8=</content></entry></feed>',
            {},
        ),
        (b'<feed xmlns="http://purl.org/atom/ns#"><entry><title>0.3</title></entry></feed>', {}),
    ],
    ids=[
        "ill-formed", "undefined-entity", "doctype", "html-type", "charset-contradicts",
        "text-xml-without-charset", "dc-title", "nested-media-title", "base64-content",
        "atom-0.3",
    ],
)  # fmt: skip
def test_the_fast_path_declines_what_feedparser_reads_its_own_way(
    body: bytes, headers: dict[str, str]
) -> None:
    assert fast_parse(body, base=BASE, content_type=headers.get("content-type")) is None
    parsed = parse_feed(body, publisher="p", now=NOW, headers=headers, base_url=BASE)
    assert not parsed.fast
    assert parsed.entries  # feedparser still reads it


def test_entities_are_not_expanded_nor_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    lol = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {"a" * (i + 2)} "{("&" + "a" * (i + 1) + ";") * 10}">' for i in range(8)
    )
    for doctype in (
        f'<!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>',
        f"<!DOCTYPE rss [{lol}]>",
    ):
        body = _feed(ITEM.replace("bans", "bans &x; &aaaaaaaaaa;"), head=doctype)
        assert fast_parse(body, base=None, content_type=None) is None
        parsed = parse_feed(body, publisher="p", now=NOW)
        assert all("TOP-SECRET" not in e.title and len(e.title) < 500 for e in parsed.entries)


@pytest.fixture
async def poller(sqlite_engine: Engine, clock: FakeClock) -> AsyncIterator[Poller]:
    limits = FetchLimits(max_bytes=256 * 1024, read_timeout=2.0, total_timeout=10.0)
    async with make_client(limits) as client:
        p = Poller(sqlite_engine, Fetcher(client, limits), clock=clock)
        yield p
        p.close()


def _add(engine: Engine, url: str) -> int:
    with Session(engine) as s, s.begin():
        return sync_feeds(s, [FeedDef("f", url, "press", 300)], deactivate_others=False)[0]


async def test_a_gzip_bomb_is_cut_at_the_size_cap(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine
) -> None:
    body = rss(("Bomb", "https://x.example/b"), extra=" " * (32 * 1024 * 1024))
    assert len(gzip.compress(body.encode())) < 64 * 1024  # small on the wire
    fid = _add(sqlite_engine, feed_server.route("/bomb.xml", body, gzip=True))

    outcome = await poller.poll(fid, force=True)

    assert outcome.error == "too large: over 262144 bytes"


async def test_deep_nesting_is_left_to_feedparser(
    feed_server: FeedServer, poller: Poller, sqlite_engine: Engine
) -> None:
    deep = "<x>" * 1000 + "deep" + "</x>" * 1000  # past libxml2's depth limit without huge_tree
    body = rss(("Deep but fine", "https://x.example/d"), extra=deep).encode()
    assert fast_parse(body, base=None, content_type=None) is None
    fid = _add(sqlite_engine, feed_server.route("/deep.xml", body))

    outcome = await poller.poll(fid, force=True)

    assert (outcome.status, outcome.new_items) == ("new", 1)
