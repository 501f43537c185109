"""News over HTTP through the real poll path: dated feeds, a two-leg rule set, a pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.app import Pipeline
from bot.clock import Clock
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.poller import Poller
from bot.pipeline.console import CONSOLE
from bot.pipeline.evaluate import Evaluator
from bot.pipeline.rulebook import Rulebook
from storage.feeds import sync_feeds
from storage.models import alert_t
from storage.records import FeedDef

THESIS = """\
thesis:
  name: test
  legs:
    h20-ban:
      claim: China blocks the H20.
      tickers: {NVDA: bullish, AMD: bullish}
    no-trade-deal:
      claim: No US-China deal reopens China to US chips.
      tickers: {NVDA: bullish, ASML: bullish}
confirmation:
  official: 1
  publishers: 2
  window: 72h
  half_life: 48h
  challenge_at: 1.0
  restore_ratio: 1.5
  leg_cooldown: 6h
"""

RULES = """\
rules:
  - id: trade-deal-signed
    leg: no-trade-deal
    effect: reverses
    severity: critical
    match: {all: [trade deal, [sign~]]}
  - id: h20-purchases-approved
    leg: h20-ban
    effect: breaks
    severity: high
    match: {all: [H20, [approve~, lift~]]}
    veto: [{any: [weigh~, consider~, not], near: 3}]
  - id: h20-ban-held
    leg: h20-ban
    effect: confirms
    severity: medium
    match: {all: [H20, [ban~, avoid]]}
    veto: [{any: [lift~, approve~]}]
"""


def make_rules(parent: Path) -> Path:
    folder = parent / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "thesis.yaml").write_text(THESIS)
    (folder / "rules.yaml").write_text(RULES)
    return folder


@dataclass(frozen=True)
class Entry:
    title: str
    link: str  # also the guid: the key the feed keeps while it edits the entry
    published: datetime
    summary: str = ""


def dated_rss(*entries: Entry) -> str:
    """An RSS 2.0 document carrying each entry's own publication date."""
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>{e.link}</link><guid>{e.link}</guid>"
        f"<pubDate>{format_datetime(e.published, usegmt=True)}</pubDate>"
        f"<description>{escape(e.summary)}</description></item>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>News</title><link>https://news.example/</link>{items}</channel></rss>"
    )


def add_feed(engine: Engine, name: str, url: str, tier: str, interval_s: int = 300) -> int:
    with Session(engine) as s, s.begin():
        return sync_feeds(s, [FeedDef(name, url, tier, interval_s)], deactivate_others=False)[0]


@asynccontextmanager
async def news_pipeline(
    engine: Engine, rules_dir: Path, clock: Clock, *, max_age: timedelta | None = None
) -> AsyncIterator[Pipeline]:
    """The running process's poll-then-evaluate step, alerts to the console outbox.

    ``max_age`` overrides the evaluator's default age limit for news.
    """
    limits = FetchLimits(max_bytes=256 * 1024, read_timeout=2.0, total_timeout=5.0)
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits), clock=clock)
        rulebook = Rulebook(rules_dir, clock())
        options = {} if max_age is None else {"max_age": max_age}
        evaluator = Evaluator(rulebook, [CONSOLE], **options)
        try:
            yield Pipeline(engine, poller, rulebook, evaluator, clock=clock)
        finally:
            poller.close()


def alerts(engine: Engine) -> list[tuple[str, str, str | None, bool]]:
    """(kind, leg, new state, confirmed) of every alert in the outbox, oldest first."""
    with Session(engine) as s:
        rows = s.execute(
            select(
                alert_t.c.kind, alert_t.c.leg, alert_t.c.new_state, alert_t.c.confirmed
            ).order_by(alert_t.c.id)
        )
        return [tuple(r) for r in rows]
