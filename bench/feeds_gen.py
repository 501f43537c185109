"""Deterministic generator of realistic RSS 2.0 and Atom feeds for the ingest benchmarks.

Every feed is a pure function of ``(seed, index, generation)``: the same arguments give the same
bytes on every machine. Feeds look like what ``feeds.yaml`` polls in production:

- Google News searches (RSS, ``"Headline - Outlet"`` titles, ``<source>``, opaque guids,
  escaped ``<p>``/``<a href>`` descriptions);
- WordPress-style trade press (RSS with ``dc:creator``, categories and a CDATA
  ``content:encoded`` body next to the description);
- wire services (RSS, permalink guids, numeric-offset RFC 822 dates);
- official and blog Atom feeds (RFC 3339 dates with offsets and fractions, ``type="html"``
  summaries, sometimes a ``content`` body and relative links).

Links carry ``utm_*`` and other tracking parameters; about a fifth of the entries are
syndicated articles shared by several feeds (same article URL, different tracking parameters
and guids), some rewritten under another outlet's headline, so dedupe and story grouping do
real work. :func:`repoll` gives the next version of a feed: new entries on top, the rest
unchanged.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "BASE_TIME",
    "GenEntry",
    "GenFeed",
    "generate_feeds",
    "generate_topical_feeds",
    "render",
    "repoll",
    "topical_headlines",
    "total_entries",
    "write_feeds",
]

# Fixed "now" of the generated world: dates never depend on the wall clock.
BASE_TIME = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)

Style = Literal["gnews", "wordpress", "wire", "atom-official", "atom-blog"]
# Makes one headline from the generator's random state.
Headline = Callable[[random.Random], str]
_STYLES: tuple[Style, ...] = ("gnews", "wordpress", "wire", "atom-official", "atom-blog")
_STYLE_WEIGHTS = (30, 15, 15, 20, 20)

# ---------------------------------------------------------------------------------------------
# Vocabulary

_OUTLETS = (
    ("Reuters", "www.reuters.com"),
    ("Bloomberg", "www.bloomberg.com"),
    ("Financial Times", "www.ft.com"),
    ("CNBC", "www.cnbc.com"),
    ("The Wall Street Journal", "www.wsj.com"),
    ("Nikkei Asia", "asia.nikkei.com"),
    ("South China Morning Post", "www.scmp.com"),
    ("AP News", "apnews.com"),
    ("Tom's Hardware", "www.tomshardware.com"),
    ("The Register", "www.theregister.com"),
    ("DigiTimes", "www.digitimes.com"),
    ("Mining.com", "www.mining.com"),
    ("Semiconductor Engineering", "semiengineering.com"),
    ("EE Times", "www.eetimes.com"),
    ("Caixin Global", "www.caixinglobal.com"),
    ("NL Times", "nltimes.nl"),
    ("The Japan Times", "www.japantimes.co.jp"),
    ("Barron's", "www.barrons.com"),
)
_GOVS = (
    ("Bureau of Industry and Security", "www.bis.gov"),
    ("Federal Register", "www.federalregister.gov"),
    ("Ministry of Commerce of the PRC", "english.mofcom.gov.cn"),
    ("Government of the Netherlands", "www.government.nl"),
    ("METI Japan", "www.meti.go.jp"),
    ("The White House", "www.whitehouse.gov"),
    ("USTR", "ustr.gov"),
)
_ACTORS = (
    "China", "Beijing", "US", "Washington", "Commerce Department", "BIS", "the Netherlands",
    "Dutch government", "Japan", "Tokyo", "MOFCOM", "Trump administration", "White House",
    "Chinese regulators", "Cyberspace Administration of China", "EU", "South Korea", "Taiwan",
)  # fmt: skip
_COMPANIES = (
    "Nvidia", "AMD", "ASML", "Applied Materials", "Lam Research", "KLA", "Tokyo Electron",
    "MP Materials", "Lynas", "USA Rare Earth", "Huawei", "SMIC", "Alibaba", "ByteDance",
    "Tencent", "CXMT", "TSMC", "Samsung", "SK Hynix", "Micron", "Intel", "Canon", "Nikon",
)  # fmt: skip
_OBJECTS = (
    "H20 chip purchases", "RTX Pro 6000D orders", "AI chip sales to China", "H20 production",
    "lithography tool exports", "DUV machine shipments", "EUV systems", "chipmaking equipment",
    "servicing of chip tools in China", "rare earth exports", "gallium and germanium exports",
    "rare earth magnet shipments", "heavy rare earth licences", "export licences for chip tools",
    "entity list additions", "high-bandwidth memory exports", "antimony exports",
    "graphite exports", "Blackwell chip sales", "advanced packaging tools", "B30A chips",
    "metrology equipment sales", "semiconductor subsidies", "tariffs on Chinese chips",
)  # fmt: skip
_VERBS = (
    ("bans", "ban"), ("curbs", "curb"), ("restricts", "restrict"), ("tightens", "tighten"),
    ("eases", "ease"), ("lifts", "lift"), ("suspends", "suspend"), ("resumes", "resume"),
    ("halts", "halt"), ("approves", "approve"), ("blocks", "block"), ("weighs", "weigh"),
    ("probes", "probe"), ("expands", "expand"), ("loosens", "loosen"), ("extends", "extend"),
    ("reviews", "review"), ("pauses", "pause"), ("scraps", "scrap"), ("widens", "widen"),
)  # fmt: skip
_CONTEXTS = (
    "trade talks", "a Busan summit", "tariff truce", "security concerns", "an antitrust probe",
    "supply fears", "a chip-for-rare-earth deal", "weak 2026 WFE demand", "customs crackdowns",
    "licence delays", "retaliation threats", "a new national-security review",
    "pressure from Washington", "a year-long pause", "a 90-day deadline",
)  # fmt: skip
_MOVES = (
    "fall", "jump", "slide", "rise", "tumble", "rally", "slip", "climb", "sink", "surge",
)  # fmt: skip
_QUESTIONS = (
    "Can {c} live without China?",
    "Why {a} is betting on {o}",
    "What the {o} decision means for {c}",
    "Is the {x} about to break?",
    "How {a}'s move on {o} reshapes the chip supply chain",
    "Who wins if {a} {v} {o}?",
)
_SENTENCES = (
    "{a} {v} {o}, according to people familiar with the matter.",
    "The decision follows weeks of {x} and could affect {c}'s outlook for the fiscal year.",
    "Shares of {c} {m} {p}% in {session} trading after the announcement.",
    "Analysts at {bank} said the move would cut {c}'s revenue by about ${n} billion.",
    "{a} said the measures take effect on {day} and apply to {o}.",
    "A spokesperson for {c} declined to comment on {o}.",
    "The rules, published in the Federal Register, cover {o} and related software.",
    "Officials did not say how long the review of {o} would last.",
    "Industry groups warned that {x} could push customers toward domestic suppliers.",
    "{c} had already written down ${n} billion of inventory tied to {o}.",
)
_BANKS = (
    "Jefferies", "Bernstein", "Morgan Stanley", "Goldman Sachs", "UBS", "Citi", "BofA",
    "Mizuho", "Nomura", "Macquarie",
)  # fmt: skip
_SESSIONS = ("premarket", "early", "afternoon", "late", "after-hours", "Tokyo", "Amsterdam")
_CATEGORIES = (
    "Semiconductors", "Export Controls", "Rare Earths", "Trade", "China", "Policy", "Markets",
    "Supply Chain", "AI", "Equipment",
)  # fmt: skip
_AUTHORS = (
    "Karen Freifeld", "Fanny Potkin", "Mackenzie Hawkins", "Qianer Liu", "Toby Sterling",
    "Anton Shilov", "Ernest Scheyder", "Jenny Leonard", "Eduardo Baptista", "Staff",
)  # fmt: skip
_TRACKING = (
    ("utm_source", ("rss", "feedburner", "google_news", "newsletter")),
    ("utm_medium", ("rss", "feed", "referral", "syndication")),
    ("utm_campaign", ("rss", "tech", "markets", "asia-am", "daily")),
    ("utm_content", ("headline", "link", "top")),
    ("ocid", ("rss_news", "msn")),
    ("taid", ("6543a1", "77ac02")),
)
_QUERIES = (
    "Nvidia", "H20", "China", "rare earth", "export controls", "ASML", "lithography", "tariffs",
    "MP Materials",
)  # fmt: skip
_ENTITIES = ("&amp;", "&#8217;", "&nbsp;", "&mdash;", "&#8220;", "&#x201d;", "&eacute;")


# ---------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True, slots=True)
class GenEntry:
    guid: str
    guid_is_permalink: bool
    title: str  # plain text; may contain characters XML escapes (& < ")
    link: str  # with tracking parameters
    published: datetime
    summary_html: str  # HTML fragment
    content_html: str | None  # a fuller HTML body (content:encoded / atom:content)
    author: str
    categories: tuple[str, ...]
    source: tuple[str, str] | None  # (outlet, site) for Google News-style <source>


@dataclass(frozen=True, slots=True)
class GenFeed:
    seed: int
    index: int
    generation: int
    style: Style
    title: str
    site: str
    entries: tuple[GenEntry, ...]
    date_style: int  # which date spelling this feed's software uses
    # Set for a news-search feed (generate_topical_feeds): the search its headlines answer.
    topic: int | None = None

    @property
    def kind(self) -> Literal["rss", "atom"]:
        return "atom" if self.style.startswith("atom") else "rss"

    @property
    def filename(self) -> str:
        return f"feed-{self.index:05d}.{'atom' if self.kind == 'atom' else 'rss'}.xml"

    def render(self) -> bytes:
        return render(self)


@dataclass(frozen=True, slots=True)
class _Article:
    """A syndicated article several feeds carry (same URL, per-feed tracking and guid)."""

    title: str
    rewrite: str  # another outlet's headline for the same event
    url: str
    outlet: tuple[str, str]
    published: datetime
    summary_html: str


# ---------------------------------------------------------------------------------------------
# Text


def _slug(text: str, rng: random.Random) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
    return "-".join(words[:10]) + f"-{rng.randrange(10**6, 10**7)}"


def _fill(template: str, rng: random.Random) -> str:
    verb = rng.choice(_VERBS)
    return template.format(
        a=rng.choice(_ACTORS),
        c=rng.choice(_COMPANIES),
        o=rng.choice(_OBJECTS),
        x=rng.choice(_CONTEXTS),
        v=verb[0],
        m=rng.choice(_MOVES),
        p=f"{rng.uniform(0.3, 14.0):.1f}",
        n=f"{rng.uniform(0.2, 9.0):.1f}",
        bank=rng.choice(_BANKS),
        session=rng.choice(_SESSIONS),
        day=f"{rng.choice(('Nov.', 'Dec.', 'Jan.'))} {rng.randint(1, 28)}",
    )


def _headline(rng: random.Random) -> str:
    actor, company, obj = rng.choice(_ACTORS), rng.choice(_COMPANIES), rng.choice(_OBJECTS)
    verb, base = rng.choice(_VERBS)
    ctx = rng.choice(_CONTEXTS)
    move = rng.choice(_MOVES)
    pct = f"{rng.uniform(0.5, 12.0):.1f}%"
    shapes = (
        f"{actor} {verb} {obj}",
        f"{actor} {verb} {obj} amid {ctx}",
        f"{company} shares {move} {pct} as {actor} {verb} {obj}",
        f"Exclusive: {actor} to {base} {obj}, sources say",
        f"{actor} {verb} {obj} in blow to {company}",
        f"{company} says {actor} {verb} {obj}; stock {move}s {pct}",
        f"{actor} set to {base} {obj} after {ctx}",
        f"Analysis: {_fill(rng.choice(_QUESTIONS), rng)}",
        f"{company} CEO: {actor} will {base} {obj} \u2018within weeks\u2019",
        f"{actor}, {rng.choice(_ACTORS)} agree to {base} {obj} & review {ctx}",
    )
    weights = (12, 10, 8, 6, 6, 4, 5, 4, 3, 2)
    return rng.choices(shapes, weights)[0]


def _rewrite(title: str, rng: random.Random) -> str:
    """Another outlet's wording of the same event: mostly the same content words."""
    words = title.replace("Exclusive: ", "").split()
    if len(words) > 5 and rng.random() < 0.5:
        i = rng.randrange(1, len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words) + rng.choice(("", ", report says", " -sources", ": report"))


def _tracked(url: str, rng: random.Random) -> str:
    params = [
        f"{name}={rng.choice(values)}" for name, values in rng.sample(_TRACKING, rng.randint(1, 4))
    ]
    if rng.random() < 0.15:
        params.insert(0, f"id={rng.randrange(1000, 99999)}")  # a real parameter, kept
    sep = "&" if "?" in url else "?"
    frag = "#comments" if rng.random() < 0.05 else ""
    return f"{url}{sep}{'&'.join(params)}{frag}"


def _sprinkle(text: str, rng: random.Random) -> str:
    """Escape ``text`` for HTML and sprinkle the entities real CMSs emit."""
    out = escape(text).replace("'", "&#8217;" if rng.random() < 0.7 else "&#39;")
    if rng.random() < 0.3:
        out = out.replace(" ", f" {rng.choice(_ENTITIES)} ", 1)
    return out


def _summary_html(title: str, site: str, rng: random.Random, *, relative: bool) -> str:
    paras = []
    for _ in range(rng.randint(1, 3)):
        sentences = " ".join(_fill(rng.choice(_SENTENCES), rng) for _ in range(rng.randint(1, 3)))
        paras.append(f"<p>{_sprinkle(sentences, rng)}</p>")
    href = f"/tags/{rng.choice(_CATEGORIES).lower().replace(' ', '-')}" if relative else None
    more = _tracked(f"https://{site}/{_slug(title, rng)}", rng)
    link = f'<a href="{escape(more)}" target="_blank" rel="noopener">Read more</a>'
    if href:
        link += f' &middot; <a href="{href}">{rng.choice(_CATEGORIES)}</a>'
    if rng.random() < 0.25:
        img = f"https://{site}/img/{rng.randrange(10**5, 10**6)}.jpg"
        paras.insert(0, f'<img src="{img}" alt="" width="600" height="338" />')
    if rng.random() < 0.1:
        paras.append("<script>trackView();</script>")
    paras.append(f"<p>{link}</p>")
    return "".join(paras)


def _content_html(summary: str, rng: random.Random) -> str:
    extra = "".join(
        f"<p>{_sprinkle(_fill(rng.choice(_SENTENCES), rng), rng)}</p>"
        for _ in range(rng.randint(3, 8))
    )
    quote = f"<blockquote><p>{_sprinkle(_fill(rng.choice(_SENTENCES), rng), rng)}</p></blockquote>"
    return f'<div class="entry-content">{summary}{quote}{extra}</div>'


# ---------------------------------------------------------------------------------------------
# Generation


def _pool(seed: int, size: int, headline: Headline | None = None) -> list[_Article]:
    rng = random.Random(f"thesiswatch-bench:{seed}:pool")
    out = []
    for _ in range(size):
        title = (headline or _headline)(rng)
        outlet = rng.choice(_OUTLETS)
        published = BASE_TIME - timedelta(minutes=rng.randint(5, 14 * 24 * 60))
        url = f"https://{outlet[1]}/{rng.choice(('world', 'technology', 'markets', 'business'))}"
        url += f"/{_slug(title, rng)}/"
        rewrite = _rewrite(title, rng)
        out.append(
            _Article(
                title,
                rewrite,
                url,
                outlet,
                published,
                _summary_html(title, outlet[1], rng, relative=False),
            )
        )
    return out


def _entry(
    rng: random.Random,
    style: Style,
    site: str,
    published: datetime,
    article: _Article | None,
    headline: Headline | None = None,
) -> GenEntry:
    source: tuple[str, str] | None = None
    if article is not None:
        # A syndicated article: this feed's own guid and tracking, often another headline.
        title = article.rewrite if rng.random() < 0.3 else article.title
        url, summary = article.url, article.summary_html
        published = article.published
        outlet = article.outlet
    else:
        title = (headline or _headline)(rng)
        outlet = rng.choice(_OUTLETS) if style == "gnews" else ("", site)
        section = rng.choice(("world/china", "technology", "markets", "business", "policy"))
        stamp = published.strftime("%Y/%m/%d")
        url = f"https://{outlet[1]}/{section}/{stamp}/{_slug(title, rng)}"
        if style.startswith("atom"):
            url += ".html"
        summary = _summary_html(title, outlet[1], rng, relative=style == "atom-blog")
    if style == "gnews":
        # Google News describes an entry by a link to it and the outlet's name, nothing more.
        summary = (
            f'<a href="{escape(_tracked(url, rng))}" target="_blank">{_sprinkle(title, rng)}</a>'
            f'&nbsp;&nbsp;<font color="#6f6f6f">{escape(outlet[0])}</font>'
        )
        source = outlet
        title = f"{title} - {outlet[0]}"
        guid = hashlib.blake2b(f"{url}{rng.random()}".encode(), digest_size=42).hexdigest()
        guid, permalink = "CBMi" + guid[:80], False
    elif style.startswith("atom"):
        guid = (
            f"tag:{site},{published:%Y}:{rng.randrange(10**6, 10**8)}"
            if rng.random() < 0.5
            else url
        )
        permalink = False
    else:
        guid, permalink = url, True
    content = _content_html(summary, rng) if style in ("wordpress", "atom-blog") else None
    if style == "wordpress" and rng.random() < 0.5:
        summary = summary[: summary.find("</p>") + 4] + " [&#8230;]"
    return GenEntry(
        guid=guid,
        guid_is_permalink=permalink,
        title=title,
        link=_tracked(url, rng) if style != "atom-official" or rng.random() < 0.5 else url,
        published=published,
        summary_html=summary,
        content_html=content,
        author=rng.choice(_AUTHORS),
        categories=tuple(rng.sample(_CATEGORIES, rng.randint(0, 3))),
        source=source,
    )


def _feed_rng(seed: int, index: int, generation: int) -> random.Random:
    return random.Random(f"thesiswatch-bench:{seed}:{index}:{generation}")


def generate_feeds(
    n: int,
    *,
    seed: int = 2025,
    min_entries: int = 20,
    max_entries: int = 50,
    syndicated: float = 0.2,
) -> list[GenFeed]:
    """``n`` feeds of ``min_entries``..``max_entries`` entries, newest first."""
    pool = _pool(seed, max(20, n * 3))
    feeds = []
    for index in range(n):
        rng = _feed_rng(seed, index, 0)
        style = rng.choices(_STYLES, _STYLE_WEIGHTS)[0]
        if style == "atom-official":
            name, site = rng.choice(_GOVS)
        elif style == "gnews":
            name, site = "Google News", "news.google.com"
        else:
            name, site = rng.choice(_OUTLETS)
        query = " ".join(rng.sample(_QUERIES, 2))
        title = f'"{query}" - {name}' if style == "gnews" else f"{name}: {query}"
        count = rng.randint(min_entries, max_entries)
        # Newest first, spread over two weeks with most of it in the last few days.
        ages = sorted(rng.expovariate(1 / (36 * 60)) for _ in range(count))
        entries = []
        for age in ages:
            published = BASE_TIME - timedelta(minutes=5 + min(age, 14 * 24 * 60))
            article = rng.choice(pool) if rng.random() < syndicated else None
            entries.append(_entry(rng, style, site, published, article))
        feeds.append(
            GenFeed(
                seed=seed,
                index=index,
                generation=0,
                style=style,
                title=title,
                site=site,
                entries=tuple(entries),
                date_style=rng.randrange(4),
            )
        )
    return feeds


# ---------------------------------------------------------------------------------------------
# Topical feeds: news searches whose headlines share most of their words

# What a search for one leg of the thesis returns: a few dozen words in every headline. Two
# headlines of one search typically share a third to two thirds of their content words, so
# every word's posting list is long and many pairs sit near the grouping threshold: the hard
# case for story grouping.
_T_SUBJECTS = ("China", "Beijing", "US", "Washington", "Trump administration", "Commerce")
_T_VERBS = (
    ("bans", "ban"), ("curbs", "curb"), ("tightens", "tighten"), ("eases", "ease"),
    ("lifts", "lift"), ("halts", "halt"), ("resumes", "resume"), ("approves", "approve"),
    ("blocks", "block"), ("weighs", "weigh"), ("probes", "probe"), ("reviews", "review"),
)  # fmt: skip
_T_TAILS = (
    "", "", "", " amid trade talks", " after summit", " over security risks", " in trade truce",
    " to China", ", sources say", " as tariffs rise", " ahead of deadline",
)  # fmt: skip
_T_COMPANIES = ("Nvidia", "AMD", "ASML", "MP Materials", "Lam Research", "Applied Materials")
_T_MOVES = ("fall", "jump", "slide", "rise", "rally", "sink")
_TOPICS: tuple[tuple[str, ...], ...] = (
    ("Nvidia H20 chips", "H20 chip sales", "Nvidia H20 orders", "H20 production",
     "Nvidia AI chip sales", "Nvidia chip exports"),
    ("rare earth exports", "rare earth magnets", "rare earth export controls",
     "rare earth licences", "rare earth magnet exports"),
    ("ASML chip tools", "lithography tool exports", "chip tool exports",
     "ASML lithography sales", "chipmaking tool controls"),
    ("chip export controls", "AI chip export controls", "chip tariffs",
     "chip export licences", "AI chip sales"),
    ("trade deal on chips", "chip trade talks", "rare earth trade deal",
     "chip for rare earth deal", "trade truce on chips"),
)  # fmt: skip
# A search sorted by date covers about the last day of a busy query: nearly every entry of the
# hundred feeds falls within one 48-hour grouping window of the others.
_T_MEAN_AGE_H = 12
_T_QUERIES = ("Nvidia H20 China", "rare earth exports", "ASML China", "export controls", "trade")


def _topical_headline(objects: tuple[str, ...]) -> Headline:
    def make(rng: random.Random) -> str:
        subject, obj, tail = rng.choice(_T_SUBJECTS), rng.choice(objects), rng.choice(_T_TAILS)
        verb, base = rng.choice(_T_VERBS)
        company = rng.choice(_T_COMPANIES)
        shapes = (
            f"{subject} {verb} {obj}{tail}",
            f"{subject} to {base} {obj}{tail}",
            f"{company} shares {rng.choice(_T_MOVES)} as {subject} {verb} {obj}",
            f"{subject} {verb} {obj}, {company} says",
            f"{company}: {subject} {verb} {obj}{tail}",
        )
        return rng.choices(shapes, (10, 4, 3, 2, 2))[0]

    return make


def _topical_rng(seed: int, index: int, generation: int) -> random.Random:
    return random.Random(f"thesiswatch-bench:{seed}:topical:{index}:{generation}")


def generate_topical_feeds(
    n: int, *, seed: int = 2025, entries: int = 50, syndicated: float = 0.2
) -> list[GenFeed]:
    """``n`` news-search feeds (Google News style) of ``entries`` entries, newest first.

    Each feed answers one search of the thesis; its headlines are drawn from a few dozen
    words. About ``syndicated`` of the entries are articles several feeds carry, some under a
    reworded headline, as with :func:`generate_feeds`.
    """

    def any_topic(rng: random.Random) -> str:
        return _topical_headline(rng.choice(_TOPICS))(rng)

    pool = _pool(seed + 7919, max(20, n * 3), any_topic)
    feeds = []
    for index in range(n):
        rng = _topical_rng(seed, index, 0)
        topic = index % len(_TOPICS)
        headline = _topical_headline(_TOPICS[topic])
        ages = sorted(rng.expovariate(1 / (_T_MEAN_AGE_H * 60)) for _ in range(entries))
        items = []
        for age in ages:
            published = BASE_TIME - timedelta(minutes=5 + min(age, 14 * 24 * 60))
            article = rng.choice(pool) if rng.random() < syndicated else None
            items.append(_entry(rng, "gnews", "news.google.com", published, article, headline))
        query = f"{_T_QUERIES[topic]} {rng.choice(_T_SUBJECTS)}"
        feeds.append(
            GenFeed(
                seed=seed,
                index=index,
                generation=0,
                style="gnews",
                title=f'"{query}" - Google News',
                site="news.google.com",
                entries=tuple(items),
                date_style=rng.randrange(4),
                topic=topic,
            )
        )
    return feeds


def topical_headlines(n: int, *, seed: int = 2025) -> list[str]:
    """``n`` headlines as the topical feeds draw them (for filling a database)."""
    rng = random.Random(f"thesiswatch-bench:{seed}:topical-headlines")
    return [_topical_headline(rng.choice(_TOPICS))(rng) for _ in range(n)]


def repoll(feed: GenFeed, *, new_entries: int = 2) -> GenFeed:
    """The feed as a later poll sees it: ``new_entries`` new entries on top, the rest unchanged."""
    generation = feed.generation + 1
    if feed.topic is None:
        rng, headline = _feed_rng(feed.seed, feed.index, generation), None
    else:
        rng = _topical_rng(feed.seed, feed.index, generation)
        headline = _topical_headline(_TOPICS[feed.topic])
    newest = max((e.published for e in feed.entries), default=BASE_TIME)
    fresh = [
        _entry(
            rng,
            feed.style,
            feed.site,
            newest + timedelta(minutes=3 * (new_entries - i)),
            None,
            headline,
        )
        for i in range(new_entries)
    ]
    return replace(feed, generation=generation, entries=(*fresh, *feed.entries))


# ---------------------------------------------------------------------------------------------
# Rendering


def _rfc822(when: datetime, style: int) -> str:
    if style == 1:  # numeric offset, local time of a US-east newsroom
        local = when.astimezone(UTC) - timedelta(hours=5)
        return local.strftime("%a, %d %b %Y %H:%M:%S -0500")
    if style == 2:
        return when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _rfc3339(when: datetime, style: int) -> str:
    if style == 1:  # Asian ministries publish in their own zone
        return (when + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    if style == 2:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cdata(html: str) -> str:
    return "<![CDATA[" + html.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _rss(feed: GenFeed) -> str:
    ns = ' xmlns:atom="http://www.w3.org/2005/Atom"'
    if feed.style == "wordpress":
        ns += (
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
        )
    newest = max((e.published for e in feed.entries), default=BASE_TIME)
    self_url = f"https://{feed.site}/feeds/{feed.index}.rss"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<rss version="2.0"{ns}>\n<channel>\n',
        f"  <title>{escape(feed.title)}</title>\n",
        f"  <link>https://{feed.site}/</link>\n",
        f'  <atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>\n',
        f"  <description>{escape(feed.title)} &#8211; latest headlines</description>\n",
        "  <language>en-us</language>\n",
        f"  <lastBuildDate>{_rfc822(newest, feed.date_style)}</lastBuildDate>\n",
        "  <ttl>5</ttl>\n",
    ]
    for e in feed.entries:
        out.append("  <item>\n")
        out.append(f"    <title>{escape(e.title)}</title>\n")
        out.append(f"    <link>{escape(e.link)}</link>\n")
        perma = "true" if e.guid_is_permalink else "false"
        out.append(f'    <guid isPermaLink="{perma}">{escape(e.guid)}</guid>\n')
        out.append(f"    <pubDate>{_rfc822(e.published, feed.date_style)}</pubDate>\n")
        if feed.style == "wordpress":
            out.append(f"    <dc:creator>{_cdata(e.author)}</dc:creator>\n")
            out.extend(f"    <category>{_cdata(c)}</category>\n" for c in e.categories)
            out.append(f"    <description>{_cdata(e.summary_html)}</description>\n")
            if e.content_html:
                out.append(f"    <content:encoded>{_cdata(e.content_html)}</content:encoded>\n")
            out.append("    <slash:comments>0</slash:comments>\n")
        else:
            if e.source:
                src = quoteattr(f"https://{e.source[1]}")
                out.append(f"    <source url={src}>{escape(e.source[0])}</source>\n")
            elif feed.style == "wire":
                out.extend(f"    <category>{escape(c)}</category>\n" for c in e.categories)
            out.append(f"    <description>{escape(e.summary_html)}</description>\n")
        out.append("  </item>\n")
    out.append("</channel>\n</rss>\n")
    return "".join(out)


def _atom(feed: GenFeed) -> str:
    newest = max((e.published for e in feed.entries), default=BASE_TIME)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en" xml:base="https://{feed.site}/">\n',
        f"  <title>{escape(feed.title)}</title>\n",
        f"  <id>tag:{feed.site},2025:feed-{feed.index}</id>\n",
        f'  <link rel="alternate" type="text/html" href="https://{feed.site}/"/>\n',
        f'  <link rel="self" type="application/atom+xml" href="/feeds/{feed.index}.atom"/>\n',
        f"  <updated>{_rfc3339(newest, feed.date_style)}</updated>\n",
        f"  <author><name>{escape(feed.title.split(':')[0])}</name></author>\n",
        '  <generator uri="https://example.invalid/cms" version="4.2">CMS</generator>\n',
    ]
    for e in feed.entries:
        stamp = _rfc3339(e.published, feed.date_style)
        out.append("  <entry>\n")
        out.append(f'    <title type="text">{escape(e.title)}</title>\n')
        out.append(f'    <link rel="alternate" type="text/html" href={quoteattr(e.link)}/>\n')
        out.append(f"    <id>{escape(e.guid)}</id>\n")
        out.append(f"    <published>{stamp}</published>\n    <updated>{stamp}</updated>\n")
        out.append(f"    <author><name>{escape(e.author)}</name></author>\n")
        out.extend(f'    <category term="{escape(c)}"/>\n' for c in e.categories)
        out.append(f'    <summary type="html">{escape(e.summary_html)}</summary>\n')
        if e.content_html:
            out.append(f'    <content type="html">{escape(e.content_html)}</content>\n')
        out.append("  </entry>\n")
    out.append("</feed>\n")
    return "".join(out)


def render(feed: GenFeed) -> bytes:
    """The feed document as its server would send it (UTF-8)."""
    return (_atom(feed) if feed.kind == "atom" else _rss(feed)).encode("utf-8")


def write_feeds(feeds: Iterable[GenFeed], folder: Path) -> list[Path]:
    """Write each feed to ``folder`` under its stable file name; return the paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for feed in feeds:
        path = folder / feed.filename
        path.write_bytes(render(feed))
        paths.append(path)
    return paths


def total_entries(feeds: Sequence[GenFeed]) -> int:
    return sum(len(f.entries) for f in feeds)


if __name__ == "__main__":  # a quick look: python bench/feeds_gen.py [N] [folder]
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if len(sys.argv) > 2:
        for p in write_feeds(generate_feeds(count), Path(sys.argv[2])):
            print(p)
    else:
        for f in generate_feeds(count):
            sys.stdout.write(render(f).decode()[:3000] + "\n...\n")
