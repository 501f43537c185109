"""Times as a trader reads them: absolute, in one zone (UTC unless configured), with delays.

"16s ago" cannot tell whether news is priced in; "2025-08-12 08:00 UTC, read 2m later" can.
The zone is the process's display zone, set once at start from ``THESISWATCH_TIMEZONE``:
the outbox renders alerts with nothing but the alert in hand, so the zone cannot be a
parameter all the way down. Every function takes an explicit zone too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["display_zone", "duration", "late_by", "set_display_zone", "stamp"]

_zone: tzinfo = UTC


def set_display_zone(zone: tzinfo) -> None:
    """The zone every time is shown in from now on (the process's setting)."""
    global _zone
    _zone = zone


def display_zone() -> tzinfo:
    return _zone


def stamp(at: datetime | None, zone: tzinfo | None = None, *, date: bool = True) -> str:
    """``2025-08-12 08:00 UTC`` (``08:00 UTC`` without the date); ``-`` for no time."""
    if at is None:
        return "-"
    local = at.astimezone(zone or _zone)
    name = local.tzname() or "UTC"
    return f"{local:%Y-%m-%d %H:%M} {name}" if date else f"{local:%H:%M} {name}"


def duration(span: timedelta) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 4h``: a span at the precision it deserves."""
    secs = int(abs(span).total_seconds())
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m"
    if secs < 86_400:
        return f"{secs // 3600}h {secs % 3600 // 60:02d}m"
    return f"{secs // 86_400}d {secs % 86_400 // 3600}h"


def late_by(later: datetime, earlier: datetime) -> str:
    """How long after ``earlier`` ``later`` came: ``2m later``, ``at once`` (under 30 s)."""
    span = later - earlier
    if span < timedelta(seconds=30):
        return "at once"
    return f"{duration(span)} later"
