"""Chat preferences: subscriptions, mutes, and chats paused after a permanent send error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session

from storage.models import chat_pref_t

__all__ = ["ChatPrefs", "load_prefs", "pause_chat", "save_prefs"]


@dataclass(frozen=True, slots=True)
class ChatPrefs:
    chat_id: int
    subscribed: bool = True
    legs: tuple[str, ...] = ()  # empty: every leg
    tickers: tuple[str, ...] = ()  # empty: every ticker
    min_severity: str = "low"
    muted_until: datetime | None = None
    muted_legs: dict[str, datetime] = field(default_factory=dict)
    paused: bool = False
    paused_reason: str | None = None

    def but(self, **changes: Any) -> ChatPrefs:
        return replace(self, **changes)


def _prefs(row: Any) -> ChatPrefs:
    return ChatPrefs(
        chat_id=row.chat_id,
        subscribed=row.subscribed,
        legs=tuple(row.legs),
        tickers=tuple(row.tickers),
        min_severity=row.min_severity,
        muted_until=row.muted_until,
        muted_legs={leg: datetime.fromisoformat(at) for leg, at in row.muted_legs.items()},
        paused=row.paused,
        paused_reason=row.paused_reason,
    )


def load_prefs(session: Session, chat_ids: Iterable[int]) -> dict[int, ChatPrefs]:
    """Preferences of these chats; a chat never configured gets the defaults."""
    ids = list(dict.fromkeys(chat_ids))
    found = {
        row.chat_id: _prefs(row)
        for row in session.execute(select(chat_pref_t).where(chat_pref_t.c.chat_id.in_(ids)))
    }
    return {chat: found.get(chat, ChatPrefs(chat)) for chat in ids}


def save_prefs(session: Session, prefs: ChatPrefs, now: datetime) -> None:
    values = {
        "subscribed": prefs.subscribed,
        "legs": list(prefs.legs),
        "tickers": list(prefs.tickers),
        "min_severity": prefs.min_severity,
        "muted_until": prefs.muted_until,
        "muted_legs": {leg: at.isoformat() for leg, at in prefs.muted_legs.items()},
        "paused": prefs.paused,
        "paused_reason": prefs.paused_reason,
        "updated_at": now,
    }
    done = session.execute(
        update(chat_pref_t).where(chat_pref_t.c.chat_id == prefs.chat_id).values(**values)
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(chat_pref_t).values(chat_id=prefs.chat_id, **values))


def pause_chat(session: Session, chat_id: int, reason: str, now: datetime) -> None:
    prefs = load_prefs(session, [chat_id])[chat_id]
    save_prefs(session, prefs.but(paused=True, paused_reason=reason[:300]), now)
