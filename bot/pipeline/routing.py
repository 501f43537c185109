"""Who gets an alert: the allowed chats whose subscription wants it. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from rules.model import SEVERITIES
from storage.chats import ChatPrefs

__all__ = ["chat_target", "leg_wanted", "route", "target_chat", "wants"]


def chat_target(chat_id: int) -> str:
    return f"chat:{chat_id}"


def target_chat(target: str) -> int:
    return int(target.removeprefix("chat:"))


def leg_wanted(prefs: ChatPrefs, thesis: str, leg: str) -> bool:
    """Whether the chat's thesis and leg choice takes this leg of this thesis."""
    if prefs.theses and thesis and thesis not in prefs.theses:
        return False
    if not prefs.legs:
        return True
    bare = {name for name in prefs.legs if "/" not in name}
    if bare:  # chosen before several theses: those legs only, whichever thesis
        return leg in bare or f"{thesis}/{leg}" in prefs.legs
    mine = {name for name in prefs.legs if name.startswith(f"{thesis}/")}
    return not mine or f"{thesis}/{leg}" in mine


def wants(
    prefs: ChatPrefs,
    *,
    leg: str,
    severity: str,
    tickers: Iterable[str],
    now: datetime,
    thesis: str = "",
) -> bool:
    if not prefs.subscribed or prefs.paused:
        return False
    if prefs.muted_until and prefs.muted_until > now:
        return False
    until = prefs.muted_legs.get(leg)
    if until and until > now:
        return False
    if not leg_wanted(prefs, thesis, leg):
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
    thesis: str = "",
) -> list[str]:
    tickers = list(tickers)
    return [
        chat_target(chat)
        for chat, p in prefs.items()
        if wants(p, leg=leg, severity=severity, tickers=tickers, now=now, thesis=thesis)
    ]
