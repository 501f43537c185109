"""Feed bytes to normalised entries: lxml or feedparser, then our own cleaning.

A well-formed RSS 2.0, RSS 1.0 or Atom 1.0 document is read by :mod:`bot.feeds.fastparse`;
anything it declines (ill-formed, DTDs, what only feedparser knows) by feedparser, as before.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from bot.feeds.cadence import sy_period_s, ttl_s
from bot.feeds.fastparse import fast_parse
from bot.feeds.normalise import (
    SUMMARY_CHARS,
    TITLE_CHARS,
    canonical_url,
    clamp_published,
    content_hash,
    plain_text,
    short_hash,
    title_signature,
)
from storage.records import NewEntry

__all__ = ["FeedParseError", "ParsedFeed", "normalise_entries", "parse_feed"]

log = logging.getLogger(__name__)

# Keys a feed's headers may carry that feedparser uses to pick the encoding and base URL.
_PASSED_HEADERS = ("content-type", "content-location", "content-language")


class FeedParseError(Exception):
    """Nothing usable in the body: the feed's own failure, never the process's."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: list[NewEntry]
    bozo: str | None  # why feedparser found the XML ill-formed, when it did
    skipped: int = 0  # entries dropped because they could not be normalised
    skip_reason: str | None = None  # why the first of them was
    fast: bool = False  # read by the lxml path rather than feedparser
    # The publisher's own pace (RSS ttl, sy:updatePeriod/Frequency), in seconds.
    pace_s: int | None = None
    # Content hashes of entries that carry no date (timed by when first seen).
    undated: frozenset[str] = frozenset()
    hub: str | None = None  # a WebSub hub the feed declares, and the topic it pushes
    topic: str | None = None


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if isinstance(parsed, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, OSError, ValueError):
                continue
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _entry(
    raw: Mapping[str, Any], *, publisher: str, now: datetime, base: str | None
) -> NewEntry | None:
    title = plain_text(_text(raw.get("title")), TITLE_CHARS)
    summary = plain_text(_text(raw.get("summary")) or _content(raw), SUMMARY_CHARS)
    link = _text(raw.get("link"))
    url = canonical_url(urljoin(base, link) if base and link else link)
    guid = _text(raw.get("id"))
    published = clamp_published(_published(raw), now)
    if not (title or summary or url):
        return None
    if guid and guid.strip():
        key = short_hash("id", guid.strip())
    elif url:
        key = short_hash("url", url)
    else:
        key = short_hash("text", title, summary, published.isoformat())
    source = raw.get("source")
    outlet = _text(source.get("title")) if isinstance(source, Mapping) else None
    _check_storable(title, summary, url, outlet)
    return NewEntry(
        entry_key=key,
        url=url,
        content_hash=content_hash(title, summary, published, url or key),
        title=title or summary[:TITLE_CHARS],
        summary=summary,
        title_sig=title_signature(title or summary[:TITLE_CHARS]),
        publisher=plain_text(outlet, 200) or publisher,
        published_at=published,
    )


def _check_storable(*texts: str | None) -> None:
    """Raise on text a database refuses: NUL (PostgreSQL), a lone surrogate (not UTF-8)."""
    for text in texts:
        if not text:
            continue
        if "\x00" in text:
            raise ValueError("NUL character in text")
        if not text.isascii():
            text.encode("utf-8")


def normalise_entries(
    raws: Iterable[Mapping[str, Any]], *, publisher: str, now: datetime, base: str | None
) -> tuple[list[NewEntry], int, str | None]:
    """Entries made from parsed ``raws``; one that fails costs only itself.

    Returns the entries, how many were skipped and why the first skipped one was.
    """
    entries: list[NewEntry] = []
    skipped = 0
    reason: str | None = None
    for raw in raws:
        try:
            entry = _entry(raw, publisher=publisher, now=now, base=base)
        except Exception as exc:  # hostile input we did not foresee: this entry's failure only
            skipped += 1
            reason = reason or f"{type(exc).__name__}: {exc}"[:200]
            continue
        if entry is not None:
            entries.append(entry)
    if skipped:
        log.warning(
            "feed %s: skipped %d of %d entries that could not be read (first: %s)",
            publisher,
            skipped,
            skipped + len(entries),
            reason,
        )
    return entries, skipped, reason


# Numeric character references feedparser turns into a character it cannot encode (a lone
# surrogate) or cannot make at all (past U+10FFFF): either makes the whole parse raise.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT_REF = b"&#xFFFD;"
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _impossible_char(ref: re.Match[bytes]) -> bytes:
    hexa, dec = ref.group(1), ref.group(2)
    if len((hexa or dec).lstrip(b"0")) > 8:
        return _REPLACEMENT_REF
    code = int(hexa, 16) if hexa else int(dec)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return _REPLACEMENT_REF
    return ref.group(0)


def replace_impossible_chars(body: bytes) -> bytes:
    """``body`` with references to characters that cannot exist made U+FFFD."""
    return _CHAR_REF.sub(_impossible_char, body) if b"&#" in body else body


def _as_utf8(body: bytes) -> bytes:
    """``body`` re-encoded as UTF-8 from its declared encoding, lone surrogates made U+FFFD.

    UTF-7 can spell a lone surrogate, which feedparser decodes and then fails to re-encode.
    """
    declared = _DECLARED.match(body)
    if declared is None:
        return body
    try:
        text = body[declared.end() :].decode(declared.group(1).decode("ascii"), "replace")
    except LookupError:
        return body
    start, end = declared.span(1)
    head = body[:start] + b"utf-8" + body[end : declared.end()]
    return head + _SURROGATE.sub("\ufffd", text).encode("utf-8")


def _content(raw: Mapping[str, Any]) -> str | None:
    content = raw.get("content")
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return _text(content[0].get("value"))
    return None


def parse_feed(
    body: bytes,
    *,
    publisher: str,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    base_url: str | None = None,
    fast: bool = True,
) -> ParsedFeed:
    """Parse ``body`` (never a URL or path: feedparser would fetch it) into entries.

    HTML sanitising and URI resolving are off: we keep plain text only and never render feed
    HTML, so both would be spent on markup that is thrown away. ``fast=False`` sends every
    body to feedparser (to compare the two paths).
    """
    response_headers = {
        k.lower(): v for k, v in (headers or {}).items() if k.lower() in _PASSED_HEADERS
    }
    if base_url and "content-location" not in response_headers:
        response_headers["content-location"] = base_url
    quick = (
        fast_parse(
            body,
            base=response_headers.get("content-location"),
            content_type=response_headers.get("content-type"),
        )
        if fast
        else None
    )
    if quick is not None:
        raws, title, bozo, version = quick.entries, quick.title, None, True
        pace: Mapping[str, Any] = quick.pace or {}
    else:
        parsed = _parse_repairing(body, response_headers)
        bozo = str(parsed.get("bozo_exception") or "ill-formed") if parsed.get("bozo") else None
        raws, version = parsed.get("entries") or [], bool(parsed.get("version"))
        pace = parsed.get("feed") or {}
        title = _text(pace.get("title"))
    entries, skipped, reason = normalise_entries(raws, publisher=publisher, now=now, base=base_url)
    # First seen now and dated now: an entry timed by first sight had no date of its own.
    undated = frozenset(e.content_hash for e in entries if e.published_at == now)
    hub, topic = _links(pace)
    if hub and not hub.startswith(("http://", "https://")):
        hub = None
    if not entries and skipped:
        raise FeedParseError(f"no readable entry: {skipped} skipped, first: {reason}"[:300])
    if not entries and (bozo or not version):
        # An empty but well-formed feed is fine; an unrecognised document is the feed's error.
        raise FeedParseError(f"not a feed: {bozo or 'no RSS, Atom or RDF document'}"[:300])
    return ParsedFeed(
        title=plain_text(title, 200),
        entries=entries,
        bozo=bozo,
        skipped=skipped,
        skip_reason=reason,
        fast=quick is not None,
        pace_s=_pace_s(pace),
        undated=undated,
        hub=hub,
        topic=topic,
    )


def _links(feed: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The hub and self links: the fast path reads them as keys, feedparser as ``links``."""
    hub, me = _text(feed.get("hub")), _text(feed.get("self"))
    for link in feed.get("links") or ():
        if isinstance(link, Mapping):
            rel, href = link.get("rel"), _text(link.get("href"))
            if rel == "hub" and hub is None:
                hub = href
            elif rel == "self" and me is None:
                me = href
    return hub, me


def _pace_s(feed: Mapping[str, Any]) -> int | None:
    hints = [
        ttl_s(feed.get("ttl")),
        sy_period_s(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
    ]
    found = [h for h in hints if h]
    return max(found) if found else None


def _parse_repairing(body: bytes, response_headers: dict[str, str]) -> Any:
    """feedparser's result; a body that makes it raise is repaired once and parsed again.

    A reference to a character that cannot exist (&#xD800;) or a lone surrogate spelt in
    UTF-7 raises inside feedparser: that entry gets a replacement character instead of the
    feed losing every entry.
    """
    try:
        return _feedparser(body, response_headers)
    except (UnicodeError, ValueError, OverflowError):
        repaired = _as_utf8(replace_impossible_chars(body))
        if repaired == body:
            raise
    parsed = _feedparser(repaired, response_headers)
    parsed["bozo"], parsed["bozo_exception"] = 1, "character that cannot exist, replaced"
    return parsed


def _feedparser(body: bytes, response_headers: dict[str, str]) -> Any:
    return feedparser.parse(
        bytes(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
