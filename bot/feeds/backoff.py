"""When to poll a feed next. Pure: the clock and the randomness are passed in."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

__all__ = ["MAX_BACKOFF", "MAX_RETRY_AFTER", "next_after_failure", "next_after_success"]

MAX_BACKOFF = timedelta(hours=6)
# A server may ask for a long pause, but a day of silence from a feed is never what we want.
MAX_RETRY_AFTER = timedelta(hours=24)
# Spread so that feeds configured alike do not all hit their hosts in the same second.
SUCCESS_JITTER = 0.1


def next_after_success(interval_s: int, now: datetime, rng: random.Random) -> datetime:
    spread = interval_s * SUCCESS_JITTER
    return now + timedelta(seconds=interval_s + rng.uniform(-spread, spread))


def next_after_failure(
    interval_s: int,
    failures: int,
    now: datetime,
    rng: random.Random,
    retry_after: float | None = None,
) -> datetime:
    """Exponential backoff with jitter, capped; never sooner than the server's Retry-After.

    ``failures`` counts this one: the first failure waits about one interval, then doubles.
    """
    exponent = min(max(failures - 1, 0), 20)
    ceiling = min(timedelta(seconds=interval_s * 2**exponent), MAX_BACKOFF)
    # "Equal jitter": at least half the ceiling, so a flapping feed still backs off.
    delay = ceiling * rng.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return now + delay
