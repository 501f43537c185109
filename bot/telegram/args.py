"""Strict parsing of what chat users type and what buttons carry.

``str.isdigit`` accepts superscripts ("²") that ``int`` refuses, ``int`` accepts numbers no
database column holds, and ``timedelta`` overflows on "99999999999999d": each of those made a
handler raise instead of answering. Here a number is ASCII digits of bounded length, checked
against its range before anything uses it; anything else is None, and the caller answers with
its usage line.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["MAX_ID", "MAX_MUTE", "MIN_MUTE", "parse_id", "parse_int", "parse_span", "quote"]

MAX_ID = 2**63 - 1  # BIGINT, the widest id column we have
# A mute, from /mute or a button: long enough to matter, short enough to expire.
MIN_MUTE, MAX_MUTE = timedelta(minutes=1), timedelta(days=30)
_DIGITS = re.compile(r"[0-9]{1,19}")
_SPAN = re.compile(r"([0-9]{1,7})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_int(text: str, lo: int, hi: int) -> int | None:
    """``text`` as an integer from ``lo`` to ``hi``; None if it is anything else."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def parse_id(text: str) -> int | None:
    """A database id as typed (``17`` or ``#17``); None unless it is one a row could have."""
    return parse_int(text.removeprefix("#"), 1, MAX_ID)


def parse_span(text: str, lo: timedelta, hi: timedelta) -> timedelta | None:
    """``30m``, ``4h``, ``2d``, ``1w`` within ``lo``..``hi``; None for anything else."""
    found = _SPAN.fullmatch(text)
    if found is None:
        return None
    span = timedelta(seconds=int(found[1]) * _UNIT_S[found[2]])  # at most 10**7 weeks: no overflow
    return span if lo <= span <= hi else None


def quote(text: str, limit: int = 40) -> str:
    """``text`` for an error message: repr'd and cut, so no answer echoes a wall of input."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
