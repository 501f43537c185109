"""Feed text and links made clean and comparable. Pure functions; no I/O."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "FUTURE_SLACK",
    "SUMMARY_CHARS",
    "TITLE_CHARS",
    "canonical_url",
    "clamp_published",
    "content_hash",
    "plain_text",
    "short_hash",
    "stem",
    "title_signature",
]

TITLE_CHARS = 500
# Below this much text, equal wording is no evidence of the same item.
MIN_IDENTIFYING_CHARS = 40
SUMMARY_CHARS = 2000
# Feeds that stamp items in the future (bad clocks, time zones) would sort above real news.
FUTURE_SLACK = timedelta(minutes=10)

_DROP_BLOCKS = re.compile(
    r"<(script|style|noscript|iframe|object|svg|math)\b.*?</\1\s*>|<!--.*?-->|<!\[CDATA\[|\]\]>",
    re.IGNORECASE | re.DOTALL,
)
_TAG = re.compile(r"<[^>]*>?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
# A control character (NUL above all, which PostgreSQL refuses) makes a link no link.
_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Query parameters that identify a campaign or a click, never the article.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "ocid", "cmpid", "cmp",
        "icid", "ncid", "oc", "feedtype", "ref", "ref_src", "referrer", "smid", "smtyp",
        "taid", "guccounter", "guce_referrer", "guce_referrer_sig", "__twitter_impression",
        "at_medium", "at_campaign", "sr_share", "ito",
    }
)  # fmt: skip

_STOPWORDS = frozenset(
    """a an the and or of to in on for by with from at as is are was were be been its it
    this that these those after over amid into about says said say new report reports
    update updates exclusive breaking live""".split()
)
# Attribution is not content: "..., Bloomberg News reports" rewrites "... - Bloomberg".
_ATTRIBUTION = frozenset(
    """reuters bloomberg cnbc ft financial times wsj wall street journal nikkei asia ap afp
    scmp information sources source according reportedly reported report reports news
    exclusive""".split()
)
# " - Reuters", " | Financial Times": aggregators append the outlet to the headline.
_OUTLET_SUFFIX = re.compile(r"\s+[-|\u2013\u2014]\s+[^-|\u2013\u2014]{2,60}$")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def plain_text(raw: str | None, limit: int) -> str:
    """HTML stripped, entities decoded, whitespace folded, capped at ``limit`` characters."""
    if not raw:
        return ""
    text = raw
    if "<" in text:
        text = _TAG.sub(" ", _DROP_BLOCKS.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:  # double-escaped markup (&lt;p&gt;) is still markup
            text = _TAG.sub(" ", _DROP_BLOCKS.sub(" ", text))
    text = " ".join(_CONTROL.sub("", text).split())  # str.split folds what \s+ would
    if len(text) > limit:
        cut = text.rfind(" ", 0, limit - 1)
        text = text[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"
    return text


def canonical_url(url: str | None) -> str | None:
    """The article's URL without tracking parameters or fragment; None unless http(s)."""
    if not url:
        return None
    url = url.strip()
    if _URL_CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, _clean_query(parts.query), ""))


# A query parameter that decoding and re-encoding leave as it is.
_PLAIN_PARAM = re.compile(r"[A-Za-z0-9_.~-]*(?:=[A-Za-z0-9_.~-]*)?")


def _tracking(name: str) -> bool:
    name = name.lower()
    return name.startswith(_TRACKING_PREFIXES) or name in _TRACKING_NAMES


def _clean_query(query: str) -> str:
    """The query without tracking parameters, sorted; decoded and re-encoded when needed."""
    if not query:
        return ""
    params = query.split("&")
    if all(_PLAIN_PARAM.fullmatch(p) for p in params):
        # What parse_qsl and urlencode would make of it, without the round trip's cost.
        pairs = [p.partition("=") for p in params if p]
        return "&".join(
            f"{k}={v}" for k, v in sorted((k, v) for k, _, v in pairs if not _tracking(k))
        )
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _tracking(k)]
    return urlencode(sorted(kept))


def short_hash(*parts: str) -> str:
    """A 32-hex-digit digest of ``parts``, for keys that must fit an index."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def content_hash(title: str, summary: str, published: datetime, url: str | None = None) -> str:
    """Identity of an item's text on its publication day, for copies under other URLs.

    The day keeps a headline that recurs weeks later ("China expands rare earth controls")
    from being swallowed as a duplicate; copies split by midnight still share a story. Text too
    short to identify anything ("Press release") is told apart by its URL instead.
    """
    text = (_fold(title), _fold(summary))
    day = published.astimezone(UTC).date().isoformat()
    if sum(map(len, text)) < MIN_IDENTIFYING_CHARS:
        return short_hash(*text, day, url or "")
    return short_hash(*text, day)


def _fold(text: str) -> str:
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def stem(word: str) -> str:
    """A crude suffix stripper: enough to match "lifts", "lifted" and "lifting"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def title_signature(title: str) -> str:
    """Sorted stemmed content words of a headline, outlet and attribution removed."""
    stripped = _OUTLET_SUFFIX.sub("", title) or title
    words = {
        stem(w)
        for w in _fold(stripped).split()
        # "Nvidia's" folds to "nvidia s": a lone letter is no content.
        if len(w) > 1 and w not in _STOPWORDS and w not in _ATTRIBUTION
    }
    return " ".join(sorted(words))[:600]


def clamp_published(published: datetime | None, first_seen: datetime) -> datetime:
    """A UTC publish time: missing means first seen, far future means now."""
    if published is None:
        return first_seen
    published = published.astimezone(UTC)
    if published > first_seen + FUTURE_SLACK:
        return first_seen
    return published
