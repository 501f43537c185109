"""What a refused send means: wait (429), probe Telegram (network, 5xx), or give up on it.

A 429 waits out ``retry_after``; a network error or a 5xx marks Telegram unreachable (the
notifier probes it) and backs the delivery off; a blocked bot or a vanished chat fails that
chat's delivery and pauses the chat, and never holds up the others; a message Telegram will
never take (bad HTML, say) fails alone, and the chat goes on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.clock import Clock
from bot.telegram.ledger import DeliveryLedger
from bot.telegram.reach import Reachability
from storage.chats import pause_chat
from storage.outbox import PendingDelivery, fail_target, mark_failed, mark_retry

__all__ = ["MAX_BACKOFF_S", "NETWORK", "Failures", "OnOutcome"]

log = logging.getLogger(__name__)

# A delivery's own backoff, for errors that may be its own (a 5xx on that message); an outage
# is noticed by the probe, which brings every deferred delivery forward when Telegram is back.
MAX_BACKOFF_S = 60
NETWORK = "network: "


class OnOutcome(Protocol):
    """Told of every delivery's outcome (metrics)."""

    def __call__(
        self, outcome: Any, *, created_at: datetime | None = None, now: datetime | None = None
    ) -> None: ...


class Failures:
    """Records why Telegram refused a delivery, and what happens to it and its chat."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        reach: Reachability,
        clock: Clock,
        rng: random.Random,
        wake: Callable[[], None],
        on_outcome: OnOutcome | None,
    ) -> None:
        self.ledger = ledger
        self.reach = reach
        self.clock = clock
        self.rng = rng
        self.wake = wake
        self.on_outcome = on_outcome

    async def failed(self, chat_id: int, d: PendingDelivery, exc: TelegramError) -> bool:
        """Telegram refused ``d``: record why; True when the chat may go on to its next alert."""
        if isinstance(exc, RetryAfter):
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            await self.retry(d, seconds, f"429: retry after {seconds:g}s")
            asyncio.get_running_loop().call_later(seconds, self.wake)
            return False
        if isinstance(exc, Forbidden | ChatMigrated):
            await self.give_up(chat_id, d, exc, pause=True)
            return False
        if isinstance(exc, BadRequest):
            gone = "chat not found" in exc.message.lower()
            await self.give_up(chat_id, d, exc, pause=gone)
            # A message Telegram will never take (bad HTML, say) must not block the chat.
            return not gone
        # Timeouts, refused connections, 5xx: Telegram itself may be away.
        self.reach.lost(exc.message)
        self.wake()  # to probe it
        backoff = min(MAX_BACKOFF_S, 2 ** min(d.attempts, 10)) * self.rng.uniform(0.5, 1.0)
        await self.retry(d, backoff, f"{NETWORK}{exc.message}")
        return False

    async def retry(self, d: PendingDelivery, seconds: float, why: str) -> None:
        if self.on_outcome:
            self.on_outcome("retry")
        when = self.clock() + timedelta(seconds=seconds)
        log.warning("delivery %d to %s deferred %.0fs: %s", d.id, d.target, seconds, why)
        await self.ledger.record(
            d.id, lambda s: mark_retry(s, d.id, next_attempt_at=when, error=why)
        )

    async def give_up(
        self, chat_id: int, d: PendingDelivery, exc: Exception, *, pause: bool
    ) -> None:
        why = f"{type(exc).__name__}: {exc}"
        if self.on_outcome:
            self.on_outcome("failed")
        log.error("delivery %d to %s failed for good: %s", d.id, d.target, why)

        def record(session: Session) -> None:
            mark_failed(session, d.id, error=why)
            if pause:
                pause_chat(session, chat_id, why, self.clock())
                fail_target(session, d.target, error=why)

        await self.ledger.record(d.id, record)
