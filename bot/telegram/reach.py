"""Whether Telegram answers: an outage found by a failed send, and the cheap probe that ends it.

While Telegram is away no alert is sent (each would only fail and back off further); instead
``getMe`` asks every few seconds, backing off to :data:`PROBE_MAX_S`, so a Telegram that is
back is noticed within seconds and not at the end of some delivery's long backoff.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from telegram import Bot
from telegram.error import BadRequest, NetworkError, TelegramError

__all__ = ["PROBE_FIRST_S", "PROBE_MAX_S", "Reachability"]

log = logging.getLogger(__name__)

PROBE_FIRST_S = 1.0
PROBE_MAX_S = 5.0


@dataclass(slots=True)
class _Outage:
    since: float  # time.monotonic()
    error: str
    probes_failed: int = 0
    delay: float = PROBE_FIRST_S


class Reachability:
    """Telegram as the notifier last found it."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._outage: _Outage | None = None

    @property
    def down(self) -> bool:
        """A send failed on the network and no probe has succeeded since."""
        return self._outage is not None

    @property
    def probe_in(self) -> float:
        """Seconds to wait before the next probe."""
        return self._outage.delay if self._outage else 0.0

    @property
    def down_for(self) -> float | None:
        """Seconds Telegram has been away, once a probe confirmed it; else None."""
        if self._outage is None or not self._outage.probes_failed:
            return None
        return time.monotonic() - self._outage.since

    def lost(self, error: str) -> None:
        """A send failed on the network (timeout, refused connection, 5xx)."""
        if self._outage is None:
            self._outage = _Outage(time.monotonic(), error)

    async def probe(self) -> tuple[bool, float | None]:
        """Whether Telegram answers ``getMe``; with it, how long a confirmed outage lasted
        (None when the first probe answered: the failure was that one message's own)."""
        outage = self._outage
        if outage is None:
            return True, None
        try:
            await self.bot.get_me()
        except BadRequest:
            pass  # an answer all the same
        except NetworkError as exc:
            if not outage.probes_failed:
                log.error("Telegram unreachable (%s): sends paused, probing", outage.error)
            outage.probes_failed += 1
            outage.error = str(exc)
            outage.delay = min(PROBE_MAX_S, outage.delay * 2)
            return False, None
        except TelegramError:
            pass  # any other answer (a bad token, say) is not an outage
        self._outage = None
        if not outage.probes_failed:
            return True, None
        return True, time.monotonic() - outage.since
