"""How often to poll a feed: adaptive within its bounds, honouring what the publisher asks.

Pure: every input is a plain value. A feed that brought new entries is polled sooner (the
interval halves), one that did not drifts slower (a quarter longer each time), always within
the feed's configured bounds. What the publisher says about its own pace (RSS ``ttl``,
``sy:updatePeriod``/``sy:updateFrequency``, Cache-Control ``max-age``) is a floor: we never
poll sooner than it asks, unless the configured maximum is shorter still.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Bounds",
    "cache_max_age",
    "next_interval",
    "sy_period_s",
    "ttl_s",
]

FASTER = 0.5
SLOWER = 1.25
# A hint longer than this is a mistake or a feed we would rather check anyway.
MAX_HINT_S = 24 * 3600

_PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}
_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d+)")


@dataclass(frozen=True, slots=True)
class Bounds:
    base_s: int  # the configured interval: where a feed starts
    min_s: int
    max_s: int

    @classmethod
    def of(cls, interval_s: int, min_s: int | None, max_s: int | None) -> Bounds:
        low = min(min_s or interval_s, interval_s)
        high = max(max_s or interval_s, interval_s)
        return cls(interval_s, low, high)

    def clamp(self, seconds: float) -> int:
        return int(min(max(seconds, self.min_s), self.max_s))


def next_interval(
    current_s: int | None, bounds: Bounds, *, changed: bool, hint_s: float | None = None
) -> int:
    """The interval after a successful poll; ``changed``: it brought new or revised entries."""
    now = bounds.clamp(current_s or bounds.base_s)
    proposed = now * (FASTER if changed else SLOWER)
    if hint_s is not None:
        proposed = max(proposed, min(hint_s, MAX_HINT_S))
    return bounds.clamp(proposed)


def ttl_s(value: object) -> int | None:
    """RSS ``<ttl>``: minutes a channel may be cached."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    return int(text) * 60 if text.isdigit() and int(text) > 0 else None


def sy_period_s(period: object, frequency: object) -> int | None:
    """``sy:updatePeriod`` (default daily) over ``sy:updateFrequency`` (default 1)."""
    if period is None and frequency is None:
        return None
    seconds = _PERIODS.get(str(period or "daily").strip().lower())
    freq_text = str(frequency).strip() if frequency is not None else "1"
    if seconds is None or not freq_text.isdigit() or int(freq_text) <= 0:
        return None
    return seconds // int(freq_text)


def cache_max_age(headers: Mapping[str, str]) -> int | None:
    """Cache-Control's max-age (s-maxage wins; no-store and no-cache say nothing)."""
    value = headers.get("cache-control", "").lower()
    found = dict((k, int(v)) for k, v in _MAX_AGE.findall(value))
    age = found.get("s-maxage", found.get("max-age"))
    return age if age else None
