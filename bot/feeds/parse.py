"""Feed bytes to normalised entries: feedparser, then our own cleaning."""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

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

__all__ = ["FeedParseError", "ParsedFeed", "parse_feed"]

# Keys a feed's headers may carry that feedparser uses to pick the encoding and base URL.
_PASSED_HEADERS = ("content-type", "content-location", "content-language")


class FeedParseError(Exception):
    """Nothing usable in the body: the feed's own failure, never the process's."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: list[NewEntry]
    bozo: str | None  # why feedparser found the XML ill-formed, when it did


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
) -> ParsedFeed:
    """Parse ``body`` (never a URL or path: feedparser would fetch it) into entries.

    HTML sanitising and URI resolving are off: we keep plain text only and never render feed
    HTML, so both would be spent on markup that is thrown away.
    """
    response_headers = {k: v for k, v in (headers or {}).items() if k.lower() in _PASSED_HEADERS}
    if base_url and "content-location" not in response_headers:
        response_headers["content-location"] = base_url
    parsed = feedparser.parse(
        bytes(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    bozo = str(parsed.get("bozo_exception") or "ill-formed") if parsed.get("bozo") else None
    entries: list[NewEntry] = []
    for raw in parsed.get("entries") or ():
        entry = _entry(raw, publisher=publisher, now=now, base=base_url)
        if entry is not None:
            entries.append(entry)
    if not entries and (bozo or not parsed.get("version")):
        # An empty but well-formed feed is fine; an unrecognised document is the feed's error.
        raise FeedParseError(f"not a feed: {bozo or 'no RSS, Atom or RDF document'}"[:300])
    feed = parsed.get("feed") or {}
    return ParsedFeed(title=plain_text(_text(feed.get("title")), 200), entries=entries, bozo=bozo)
