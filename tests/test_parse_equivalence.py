"""The fast paths give exactly what the slow ones give: dates as feedparser reads them, and
canonical URLs as before their shortcut (property tests over generated input)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from feedparser.datetimes import _parse_date as feedparser_date
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds import normalise
from bot.feeds.dates import read_date
from bot.feeds.normalise import canonical_url

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "mon", "Tues"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@st.composite
def dates(draw: st.DrawFn) -> str:
    year = draw(st.integers(1, 9999))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 31))  # 31 Feb too: both must refuse it alike
    hour, minute, second = (
        draw(st.integers(0, 24)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 60)),
    )
    sign = draw(st.sampled_from(["+", "-"]))
    off_h, off_m = draw(st.integers(0, 23)), draw(st.sampled_from([0, 30, 45, 59]))
    seconds = draw(
        st.sampled_from(["", f":{second:02d}", f":{second:02d}.{draw(st.integers(0, 999999))}"])
    )
    if draw(st.booleans()):
        zone = draw(st.sampled_from(["Z", "z", f"{sign}{off_h:02d}:{off_m:02d}"]))
        t = draw(st.sampled_from(["T", "t"]))
        return f"{year:04d}-{month:02d}-{day:02d}{t}{hour:02d}:{minute:02d}{seconds}{zone}"
    zone = draw(
        st.sampled_from(["GMT", "UTC", "UT", "Z", "gmt", "EST", f"{sign}{off_h:02d}{off_m:02d}"])
    )
    name = draw(st.sampled_from(["", *(f"{d}, " for d in DAYS)]))
    mon = draw(st.sampled_from([*MONTHS, "aug", "AUG", "Sept"]))
    width = draw(st.sampled_from([1, 2]))
    clock = f"{hour:02d}:{minute:02d}{seconds.split('.')[0]}"
    return f"{name}{day:0{width}d} {mon} {year:04d} {clock} {zone}"


@settings(max_examples=400, deadline=None)
@given(dates())
def test_dates_are_read_as_feedparser_reads_them(value: str) -> None:
    assert read_date(value) == feedparser_date(value)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_read_as_feedparser_reads_it(value: str) -> None:
    assert read_date(value.strip()) == feedparser_date(value.strip())


def _reference(url: str | None) -> str | None:
    """canonical_url as it was before the plain-query shortcut."""
    if not url:
        return None
    url = url.strip()
    if normalise._URL_CONTROL.search(url):
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
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(normalise._TRACKING_PREFIXES)
        and k.lower() not in normalise._TRACKING_NAMES
    ]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(sorted(query)), ""))


PARAM_CHARS = "abcXYZ019_.-~%+=;/ é"
params = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(["utm_source", "UTM_Medium", "fbclid", "ref", "id", "q", "", "a"]),
            st.text(PARAM_CHARS, max_size=6),
        ),
        st.one_of(st.none(), st.text(PARAM_CHARS, max_size=8)),
    ),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["http", "https", "HTTP", "ftp"]),
    st.sampled_from(
        ["news.example", "News.Example.", "127.0.0.1", "[::1]", "x.example:8080", "x.example:443"]
    ),
    st.text("abc/-._~%", max_size=12),
    params,
    st.sampled_from(["", "#frag", "#"]),
)
def test_canonical_urls_are_what_they_were(
    scheme: str, host: str, path: str, query: list[tuple[str, str | None]], fragment: str
) -> None:
    q = "&".join(k if v is None else f"{k}={v}" for k, v in query)
    url = f"{scheme}://{host}/{path}{'?' + q if query else ''}{fragment}"
    assert canonical_url(url) == _reference(url)
