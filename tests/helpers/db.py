"""Factories for storage tests: feeds, entries and stores on a real engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.feeds.normalise import content_hash, short_hash, title_signature
from storage.feeds import sync_feeds
from storage.items import store_entries
from storage.outbox import add_alert
from storage.records import FeedDef, NewEntry, StoreResult

T0 = datetime(2025, 8, 12, 8, 0, tzinfo=UTC)


def entry(
    title: str,
    url: str | None,
    *,
    key: str | None = None,
    at: datetime = T0,
    publisher: str = "p",
    summary: str = "",
) -> NewEntry:
    return NewEntry(
        entry_key=short_hash(key or url or title),
        url=url,
        content_hash=content_hash(title, summary, at, url),
        title=title,
        summary=summary,
        title_sig=title_signature(title),
        publisher=publisher,
        published_at=at,
    )


def feeds(engine: Engine, *names: str, tier: str = "press") -> list[int]:
    with Session(engine) as s, s.begin():
        defs = [FeedDef(n, f"https://{n}.example/rss", tier, 300) for n in names]
        return sync_feeds(s, defs, deactivate_others=False)


def store(
    engine: Engine, feed_id: int, *entries: NewEntry, tier: str = "press", now: datetime = T0
) -> StoreResult:
    with Session(engine) as s, s.begin():
        return store_entries(s, feed_id=feed_id, tier=tier, entries=entries, now=now)


def count(engine: Engine, table: object) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def queue_alert(
    engine: Engine, title: str, chats: Sequence[int], *, created_at: datetime, **payload: Any
) -> int:
    """An h20-ban break alert in the outbox, pending for each chat (delivery tests)."""
    body: dict[str, Any] = {
        "leg": "h20-ban",
        "claim": "China blocks the H20.",
        "reason": "break confirmed by the policy",
        "sources": 1,
        "headlines": [{"title": title, "source": "S", "tier": "wire", "url": None}],
        "more_headlines": 0,
        "rules": ["r"],
        "tickers": {"NVDA": "bullish"},
    } | payload
    with Session(engine) as s, s.begin():
        return add_alert(
            s,
            kind="transition",
            leg="h20-ban",
            severity="high",
            old_state="intact",
            new_state="broken",
            confirmed=True,
            created_at=created_at,
            payload=body,
            targets=[f"chat:{c}" for c in chats],
        )
