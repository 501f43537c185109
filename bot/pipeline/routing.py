"""Who gets an alert: the allowed chats whose subscription wants it. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from rules.model import SEVERITIES
from storage.chats import ChatPrefs

__all__ = ["chat_target", "route", "target_chat", "wants"]


def chat_target(chat_id: int) -> str:
    return f"chat:{chat_id}"


def target_chat(target: str) -> int:
    return int(target.removeprefix("chat:"))


def wants(
    prefs: ChatPrefs, *, leg: str, severity: str, tickers: Iterable[str], now: datetime
) -> bool:
    if not prefs.subscribed or prefs.paused:
        return False
    if prefs.muted_until and prefs.muted_until > now:
        return False
    until = prefs.muted_legs.get(leg)
    if until and until > now:
        return False
    if prefs.legs and leg not in prefs.legs:
        return False
    if prefs.tickers and not set(prefs.tickers) & set(tickers):
        return False
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else 0
    return rank >= SEVERITIES.index(prefs.min_severity)


def route(
    prefs: Mapping[int, ChatPrefs],
    *,
    leg: str,
    severity: str,
    tickers: Iterable[str],
    now: datetime,
) -> list[str]:
    tickers = list(tickers)
    return [
        chat_target(chat)
        for chat, p in prefs.items()
        if wants(p, leg=leg, severity=severity, tickers=tickers, now=now)
    ]
