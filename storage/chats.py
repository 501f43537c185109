"""Chat preferences: subscriptions, mutes, digests, and chats paused after a permanent send
error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session

from storage.models import chat_pref_t

__all__ = [
    "DIGESTS",
    "ChatPrefs",
    "digest_sent",
    "due_digests",
    "load_prefs",
    "pause_chat",
    "save_prefs",
]

DIGESTS = ("off", "daily", "weekly")


@dataclass(frozen=True, slots=True)
class ChatPrefs:
    chat_id: int
    subscribed: bool = True
    theses: tuple[str, ...] = ()  # empty: every thesis, those added later too
    # Empty: every leg. "thesis/leg" limits only that thesis; a bare name (from before
    # several theses) limits every thesis to the legs so named.
    legs: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()  # empty: every ticker
    min_severity: str = "low"
    muted_until: datetime | None = None
    muted_legs: dict[str, datetime] = field(default_factory=dict)
    paused: bool = False
    paused_reason: str | None = None
    digest: str = "off"  # off | daily | weekly
    digest_minute: int = 480  # local time of day, minutes after midnight (08:00)
    digest_weekday: int = 0  # weekly: 0 Monday .. 6 Sunday
    digest_due_at: datetime | None = None
    last_digest_at: datetime | None = None
    quiet: str = "info"  # this severity and lower arrive silently; off: everything rings
    quiet_digest: bool = False  # quiet alerts are not pushed: the digest tells them

    def but(self, **changes: Any) -> ChatPrefs:
        return replace(self, **changes)


def _prefs(row: Any) -> ChatPrefs:
    return ChatPrefs(
        chat_id=row.chat_id,
        subscribed=row.subscribed,
        theses=tuple(row.theses),
        legs=tuple(row.legs),
        tickers=tuple(row.tickers),
        min_severity=row.min_severity,
        muted_until=row.muted_until,
        muted_legs={leg: datetime.fromisoformat(at) for leg, at in row.muted_legs.items()},
        paused=row.paused,
        paused_reason=row.paused_reason,
        digest=row.digest,
        digest_minute=row.digest_minute,
        digest_weekday=row.digest_weekday,
        digest_due_at=row.digest_due_at,
        last_digest_at=row.last_digest_at,
        quiet=row.quiet,
        quiet_digest=row.quiet_digest,
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
        "theses": list(prefs.theses),
        "legs": list(prefs.legs),
        "tickers": list(prefs.tickers),
        "min_severity": prefs.min_severity,
        "muted_until": prefs.muted_until,
        "muted_legs": {leg: at.isoformat() for leg, at in prefs.muted_legs.items()},
        "paused": prefs.paused,
        "paused_reason": prefs.paused_reason,
        "digest": prefs.digest,
        "digest_minute": prefs.digest_minute,
        "digest_weekday": prefs.digest_weekday,
        "digest_due_at": prefs.digest_due_at,
        "last_digest_at": prefs.last_digest_at,
        "quiet": prefs.quiet,
        "quiet_digest": prefs.quiet_digest,
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


def due_digests(session: Session, chat_ids: Iterable[int], now: datetime) -> list[ChatPrefs]:
    """The chats among ``chat_ids`` whose scheduled digest is due (and that are not paused)."""
    rows = session.execute(
        select(chat_pref_t).where(
            chat_pref_t.c.chat_id.in_(list(chat_ids)),
            chat_pref_t.c.digest != "off",
            chat_pref_t.c.digest_due_at <= now,
            chat_pref_t.c.paused.is_(False),
        )
    )
    return [_prefs(row) for row in rows]


def digest_sent(session: Session, chat_id: int, *, at: datetime, next_due: datetime | None) -> None:
    """A digest went out at ``at``: the next covers from there; ``next_due`` None keeps the
    schedule as it is (an on-demand digest)."""
    values: dict[str, Any] = {"last_digest_at": at}
    if next_due is not None:
        values["digest_due_at"] = next_due
    done = session.execute(
        update(chat_pref_t).where(chat_pref_t.c.chat_id == chat_id).values(**values)
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        prefs = ChatPrefs(chat_id, last_digest_at=at)
        save_prefs(session, prefs, at)
