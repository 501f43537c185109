"""Who gets an alert: the allowed chats whose subscription wants it. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from rules.model import SEVERITIES
from storage.chats import ChatPrefs

__all__ = ["QUIET_LEVELS", "chat_target", "leg_wanted", "route", "silent", "target_chat", "wants"]

# /quiet: the severity up to which alerts arrive without a sound (off: every alert rings).
QUIET_LEVELS = ("off", *SEVERITIES[:-1])


def chat_target(chat_id: int) -> str:
    return f"chat:{chat_id}"


def target_chat(target: str) -> int:
    return int(target.removeprefix("chat:"))


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def silent(prefs: ChatPrefs, severity: str) -> bool:
    """Whether an alert of ``severity`` reaches this chat without a sound."""
    return prefs.quiet in SEVERITIES and _rank(severity) <= SEVERITIES.index(prefs.quiet)


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
    evidence: bool = True,
    thesis: str = "",
) -> bool:
    """``evidence``: the alert names news; an info alert that names none (a challenge gone
    stale) is left to the digest, which lists every move."""
    if not prefs.subscribed or prefs.paused:
        return False
    if prefs.muted_until and prefs.muted_until > now:
        return False
    # A bare leg (muted with one thesis loaded) mutes that leg name in every thesis.
    for key in (leg, f"{thesis}/{leg}"):
        until = prefs.muted_legs.get(key)
        if until and until > now:
            return False
    if not leg_wanted(prefs, thesis, leg):
        return False
    if prefs.tickers and not set(prefs.tickers) & set(tickers):
        return False
    if severity == "info" and not evidence:
        return False
    if prefs.quiet_digest and silent(prefs, severity):
        return False  # the chat reads these in its digest
    return _rank(severity) >= SEVERITIES.index(prefs.min_severity)


def route(
    prefs: Mapping[int, ChatPrefs],
    *,
    leg: str,
    severity: str,
    tickers: Iterable[str],
    now: datetime,
    evidence: bool = True,
    thesis: str = "",
) -> list[str]:
    tickers = list(tickers)
    return [
        chat_target(chat)
        for chat, p in prefs.items()
        if wants(
            p,
            leg=leg,
            severity=severity,
            tickers=tickers,
            now=now,
            evidence=evidence,
            thesis=thesis,
        )
    ]
