"""Well-formed RSS 2.0, RSS 1.0 and Atom 1.0 read with lxml, the way feedparser reads them.

feedparser parses a feed through SAX callbacks in Python, costing several times what the rest
of the ingest does. lxml builds the tree in C. This module reads only what
:mod:`bot.feeds.parse` keeps (title, link, guid, dates, summary or content, source) and gives
it the shape of feedparser's entries, following feedparser's own rules where they matter (the
first non-empty title wins, a permalink guid stands in for a missing link, guids and links are
resolved against ``xml:base``, dates as :mod:`bot.feeds.dates` reads them). Anything it is
not sure to read as feedparser would (ill-formed XML, a DOCTYPE or entity declarations, an
element feedparser gives a meaning this module does not know, a charset the HTTP header
contradicts) is declined: :func:`fast_parse` returns None and the body goes to feedparser, as
before.

The parser resolves no entity, loads no DTD and touches no network; ``huge_tree`` stays off,
so libxml2's own limits on depth and text size hold.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from lxml import etree

from bot.feeds.dates import read_date

__all__ = ["FastFeed", "fast_parse"]

_ATOM = "http://www.w3.org/2005/Atom"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS10 = "http://purl.org/rss/1.0/"
_XML_TYPES = re.compile(r"^(application|text)/([a-z0-9.+-]+\+)?xml$|^application/(rss|atom|rdf)$")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset(
    {"text", "html", "xhtml", "text/plain", "text/html", "application/xhtml+xml"}
)
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(/*)(.*?)")
_LINK_REF = re.compile(r"&([A-Za-z0-9_]+);")
_PREFIXES = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_CP1252 = {code: char for code, char in _cp1252.items()}

# What feedparser calls an element, mapped to the field this module reads it into.
_TITLE = frozenset({"title"})
_LINK = frozenset({"link"})
_ID = frozenset({"guid", "id"})
_PUBLISHED = frozenset({"published", "pubdate", "issued", "dcterms_issued"})
_UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"})
_CREATED = frozenset({"created", "dcterms_created"})
_SUMMARY = frozenset({"description", "summary"})
_CONTENT = frozenset({"content", "content_encoded"})
_SOURCE = frozenset({"source"})
# Elements feedparser handles that touch nothing kept here, and may hold only more of them.
_HARMLESS = frozenset(
    {
        "author", "category", "comments", "contributor", "dc_author", "dc_contributor",
        "dc_creator", "dc_language", "dc_publisher", "dc_rights", "dc_subject", "email",
        "enclosure", "media_content", "media_thumbnail", "media_credit", "media_keywords",
        "media_category", "media_rating", "media_restriction", "media_license", "media_player",
        "media_group", "name", "rights", "uri", "url", "georss_point", "psc_chapters",
        "psc_chapter", "itunes_author", "itunes_duration", "itunes_explicit", "itunes_image",
        "itunes_keywords", "itunes_block", "itunes_category", "itunes_owner", "itunes_name",
        "itunes_email", "wfw_comment", "wfw_commentrss", "creativecommons_license",
        "cc_license", "license", "tags", "keywords", "newlocation", "expirationdate",
    }
)  # fmt: skip


class _Decline(Exception):
    """The document holds something only feedparser is sure to read right."""


@dataclass(frozen=True, slots=True)
class FastFeed:
    title: str | None
    entries: list[dict[str, Any]]  # shaped as feedparser's entries: parse._entry reads both
    # The publisher's pace, named as feedparser names it: ttl, sy_updateperiod, ...
    pace: dict[str, str] | None = None


class _Parsers(threading.local):
    def __init__(self) -> None:
        self.xml = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            recover=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )


_PARSERS = _Parsers()
_NAMES: dict[tuple[str, str | None], str] = {}
_HANDLED: dict[str, bool] = {}


def fast_parse(body: bytes, *, base: str | None, content_type: str | None) -> FastFeed | None:
    """The feed in ``body``, or None when feedparser should read it instead."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None  # DTDs, entity declarations and their bombs stay feedparser's
    try:
        charset = _charset(content_type, body)
    except _Decline:
        return None
    try:
        root = etree.fromstring(body, _PARSERS.xml, base_url=base)
    except (etree.XMLSyntaxError, ValueError):
        return None
    tree = root.getroottree()
    encoding = (tree.docinfo.encoding or "utf-8").lower()
    if charset and _codec(charset) != _codec(encoding):
        return None
    mojibake = _codec(encoding) == "utf-8"
    try:
        return _read(root, mojibake)
    except _Decline:
        return None


def _charset(content_type: str | None, body: bytes) -> str | None:
    """The charset the HTTP header names; declines a type that is no XML."""
    if not content_type:
        return None
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if not _XML_TYPES.match(media):
        raise _Decline
    found = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", params, re.IGNORECASE)
    if found:
        return found.group(1).lower()
    if media.startswith("text/") and not body.isascii():
        raise _Decline  # RFC 3023: text/xml without a charset is US-ASCII; feedparser says so
    return None


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


def _read(root: Any, mojibake: bool) -> FastFeed | None:
    tag = root.tag
    if tag == "rss":
        channel = root.find("channel")
        if channel is None:
            return None
        entries = channel.findall("item")
        if len(entries) != sum(1 for _ in root.iter("item")):
            return None
    elif tag == f"{{{_ATOM}}}feed":
        channel = root
        entries = root.findall(f"{{{_ATOM}}}entry")
        if len(entries) != sum(1 for _ in root.iter(f"{{{_ATOM}}}entry")):
            return None
    elif tag == f"{{{_RDF}}}RDF":
        channel = root.find(f"{{{_RSS10}}}channel")
        entries = root.findall(f"{{{_RSS10}}}item")
        if channel is None or len(entries) != sum(1 for _ in root.iter(f"{{{_RSS10}}}item")):
            return None
    else:
        return None
    reader = _Reader(mojibake)
    title_el = channel.find(_CHANNEL_TITLE[tag])
    title = reader.text(title_el) if title_el is not None else None
    return FastFeed(title=title, entries=[reader.entry(e) for e in entries], pace=_pace(channel))


_SY = "http://purl.org/rss/1.0/modules/syndication/"
_PACE = {"ttl": "ttl", f"{{{_SY}}}updatePeriod": "sy_updateperiod"}
_PACE[f"{{{_SY}}}updateFrequency"] = "sy_updatefrequency"
_ATOM_LINK = f"{{{_ATOM}}}link"


def _pace(channel: Any) -> dict[str, str]:
    """The channel's own word on how often it changes (RSS ttl, the syndication module) and
    where it is pushed from (its WebSub hub and self links)."""
    pace = {}
    for child in channel:
        if child.tag == _ATOM_LINK:
            rel, href = child.get("rel"), child.get("href")
            if rel in ("hub", "self") and href and rel not in pace:
                pace[rel] = href.strip()
            continue
        key = _PACE.get(child.tag) if isinstance(child.tag, str) else None
        if key and child.text:
            pace[key] = child.text.strip()
    return pace


_CHANNEL_TITLE = {
    "rss": "title",
    f"{{{_ATOM}}}feed": f"{{{_ATOM}}}title",
    f"{{{_RDF}}}RDF": f"{{{_RSS10}}}title",
}


def _name(el: Any) -> str:
    """feedparser's name for ``el``: canonical namespace prefix, '_', lowercased local name."""
    key = (el.tag, el.prefix)
    name = _NAMES.get(key)
    if name is None:
        tag = el.tag
        uri, local = tag[1:].split("}", 1) if tag[0] == "{" else ("", tag)
        low = uri.lower()
        if "backend.userland.com/rss" in low:
            low = "http://backend.userland.com/rss"
        prefix = _PREFIXES.get(low, el.prefix)
        local = local.lower()
        name = _NAMES[key] = f"{prefix.lower()}_{local}" if prefix else local
    return name


def _handled(name: str) -> bool:
    known = _HANDLED.get(name)
    if known is None:
        known = _HANDLED[name] = hasattr(_FeedParserMixin, f"_start_{name}") or hasattr(
            _FeedParserMixin, f"_end_{name}"
        )
    return known


def _attr(el: Any, name: str) -> str | None:
    """An attribute by feedparser's case-blind name."""
    value = el.get(name)
    if value is not None:
        return str(value)
    for key, val in el.attrib.items():
        if str(key).lower() == name:
            return str(val)
    return None


def _join(base: str | None, uri: str) -> str:
    """feedparser's URI resolution: extra slashes after the scheme dropped, then urljoin."""
    if ":///" in uri:
        uri = _URI_FIXER.sub(r"\1\3", uri)
    if not base:
        return uri  # what urljoin gives without a base, at no cost
    try:
        return urljoin(base, uri)
    except ValueError:
        return ""


class _Reader:
    def __init__(self, mojibake: bool) -> None:
        self.mojibake = mojibake

    def text(self, el: Any) -> str:
        """Character content as feedparser keeps it: inner markup serialised, stripped."""
        if len(el):
            if _attr(el, "mode") is not None:
                raise _Decline  # Atom 0.3 escaped/base64 modes
            raw = (el.text or "") + "".join(
                etree.tostring(child, encoding="unicode", with_tail=True) for child in el
            )
        else:
            raw = el.text or ""
        return self._clean(raw.strip())

    def _clean(self, value: str) -> str:
        if value.isascii():
            return value
        if self.mojibake:
            # feedparser repairs UTF-8 read as Latin-1 (what it calls a common error)
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                value = value.encode("iso-8859-1").decode("utf-8")
        return value.translate(_CP1252)

    def entry(self, item: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        about = _attr(item, f"{{{_RDF}}}about")
        if about:
            raw["id"] = about
        for child in item:
            if not isinstance(child.tag, str):
                continue
            name = _name(child)
            read = _FIELDS.get(name)
            if read is not None:
                read(self, child, raw)
            elif _handled(name) and name not in _HARMLESS:
                raise _Decline
            else:
                _check_inside(child)
        if "content" in raw and "summary" not in raw and raw.get("_copy"):
            raw["summary"] = raw["content"][0]["value"]
        raw.pop("_copy", None)
        return raw

    def _title(self, el: Any, raw: dict[str, Any]) -> None:
        _text_type(el)
        value = self.text(el)
        if value and "title" not in raw:
            raw["title"] = value

    def _link(self, el: Any, raw: dict[str, Any]) -> None:
        href = _attr(el, "href")
        if href is not None:
            rel = _attr(el, "rel") or "alternate"
            kind = _attr(el, "type") or ("application/atom+xml" if rel == "self" else "text/html")
            if rel == "alternate" and _content_type(kind) in _HTML_TYPES:
                raw["link"] = _join(el.base, href)
            return
        if _attr(el, "url") is not None or _attr(el, "uri") is not None or len(el):
            raise _Decline
        value = self.text(el)
        if value:
            value = _join(el.base, value)
        raw["link"] = _LINK_REF.sub(r"&\1", value.replace("&amp;", "&"))

    def _id(self, el: Any, raw: dict[str, Any]) -> None:
        if len(el):
            raise _Decline
        is_link = (_attr(el, "ispermalink") or "true") == "true"
        value = self.text(el)
        if value and is_link:
            value = _join(el.base, value)
        raw["id"] = value
        if is_link:
            raw.setdefault("link", value)

    def _summary(self, el: Any, raw: dict[str, Any]) -> None:
        _text_type(el)
        if "summary" not in raw:
            raw["summary"] = self.text(el)
        else:
            raise _Decline  # a second one becomes content in feedparser: rare, left to it

    def _content(self, el: Any, raw: dict[str, Any]) -> None:
        kind = _text_type(el)
        raw.setdefault("content", []).append({"value": self.text(el)})
        if kind in ("text/plain", *_HTML_TYPES) and "summary" not in raw:
            raw["_copy"] = True

    def _source(self, el: Any, raw: dict[str, Any]) -> None:
        title = el.find(f"{{{_ATOM}}}title") if el.tag == f"{{{_ATOM}}}source" else None
        value = self.text(title) if title is not None else (el.text or "").strip()
        raw["source"] = {"title": value} if value else {}


def _date(field: str) -> Callable[[_Reader, Any, dict[str, Any]], None]:
    def read(reader: _Reader, el: Any, raw: dict[str, Any]) -> None:
        raw[field] = read_date(reader.text(el))  # the last one wins, as in feedparser

    return read


def _content_type(kind: str) -> str:
    kind = kind.lower()
    return {"text": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}.get(
        kind, kind
    )


def _text_type(el: Any) -> str:
    """The element's content type; declines types feedparser would decode (base64)."""
    kind = _attr(el, "type")
    if kind is None:
        return "text/html" if _name(el) in ("content_encoded", "description") else "text/plain"
    if kind.lower() not in _TEXT_TYPES or _attr(el, "mode") is not None:
        raise _Decline
    return _content_type(kind)


def _check_inside(el: Any) -> None:
    for inner in el.iterdescendants():
        if isinstance(inner.tag, str):
            name = _name(inner)
            if _handled(name) and name not in _HARMLESS:
                raise _Decline


_FIELDS: dict[str, Callable[[_Reader, Any, dict[str, Any]], None]] = {
    **dict.fromkeys(_TITLE, _Reader._title),
    **dict.fromkeys(_LINK, _Reader._link),
    **dict.fromkeys(_ID, _Reader._id),
    **dict.fromkeys(_PUBLISHED, _date("published_parsed")),
    **dict.fromkeys(_UPDATED, _date("updated_parsed")),
    **dict.fromkeys(_CREATED, _date("created_parsed")),
    **dict.fromkeys(_SUMMARY, _Reader._summary),
    **dict.fromkeys(_CONTENT, _Reader._content),
    **dict.fromkeys(_SOURCE, _Reader._source),
}
