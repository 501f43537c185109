"""Delivering the outbox to Telegram: in order per chat, marked sent only once accepted.

A sender says whether a failure is worth retrying: a 429 waits out ``retry_after``, network
errors and 5xx back off; a blocked bot or a vanished chat fails that chat's delivery and pauses
the chat, and never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.clock import Clock, utcnow
from bot.pipeline.routing import target_chat
from bot.process import worker_id
from bot.telegram.html import split_html
from bot.telegram.render import alert_html
from storage.chats import pause_chat
from storage.leases import release_ids
from storage.outbox import (
    PendingDelivery,
    StoredAlert,
    due_deliveries,
    fail_target,
    mark_failed,
    mark_progress,
    mark_retry,
    mark_sent,
)

__all__ = ["CHAT_PREFIX", "TelegramNotifier", "alert_buttons"]

log = logging.getLogger(__name__)

CHAT_PREFIX = "chat:"
# Telegram's advice: about one message a second to one chat; a margin for clock and network.
PER_CHAT_GAP_S = 1.05
MAX_BACKOFF_S = 300
# Deliveries claimed per pass: a group takes 20 a minute, so 60 fit well inside the lease.
PASS = 60
T = TypeVar("T")
RunDb = Callable[[Callable[[], T]], Awaitable[T]]


class OnOutcome(Protocol):
    """Told of every delivery's outcome (metrics)."""

    def __call__(
        self, outcome: Any, *, created_at: datetime | None = None, now: datetime | None = None
    ) -> None: ...


def alert_buttons(alert: StoredAlert) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Why?", callback_data=f"why:{alert.id}"),
                InlineKeyboardButton("Mute leg 4h", callback_data=f"mute:{alert.leg}:4h"),
                InlineKeyboardButton("Ack", callback_data=f"ack:{alert.id}"),
            ]
        ]
    )


class TelegramNotifier:
    def __init__(
        self,
        bot: Bot,
        db: Engine,
        run_db: RunDb[object],
        *,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        per_chat_gap: float = PER_CHAT_GAP_S,
        owner: str | None = None,
        on_outcome: OnOutcome | None = None,
    ) -> None:
        self._on_outcome = on_outcome
        self.bot = bot
        self.owner = owner or worker_id()
        self.per_chat_gap = per_chat_gap
        self.db = db
        self._run_db = run_db
        self.clock = clock
        self.rng = rng or random.Random()
        self._last_send: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def _db(self, fn: Callable[[Session], object]) -> object:
        def work() -> object:
            with Session(self.db) as session, session.begin():
                return fn(session)

        return await self._run_db(work)

    async def deliver_due(self) -> int:
        """Send what is due; chats in parallel, each chat's alerts in order."""
        async with self._lock:  # one pass at a time, or two could send the same delivery
            due = await self._db(
                lambda s: due_deliveries(
                    s, target_prefix=CHAT_PREFIX, now=self.clock(), limit=PASS, owner=self.owner
                )
            )
            assert isinstance(due, list)
            by_chat: dict[str, list[PendingDelivery]] = {}
            for d in due:
                by_chat.setdefault(d.target, []).append(d)
            counts = await asyncio.gather(*(self._chat(t, ds) for t, ds in by_chat.items()))
            return sum(counts)

    async def _chat(self, target: str, deliveries: list[PendingDelivery]) -> int:
        chat_id = target_chat(target)
        sent = 0
        for index, d in enumerate(deliveries):
            if not await self._send(chat_id, d):
                # Later alerts wait for this one (order per chat); give back their claims.
                rest = [later.id for later in deliveries[index + 1 :]]
                await self._db(lambda s, ids=rest: release_ids(s, ids))  # type: ignore[misc]
                break
            sent += 1
        return sent

    async def _pace(self, chat_id: int) -> None:
        gap = self.per_chat_gap - (time.monotonic() - self._last_send.get(chat_id, -1e9))
        if gap > 0:
            await asyncio.sleep(gap)

    def _sent(self, chat_id: int) -> None:
        # Measured from when Telegram answered, after the global limiter's own wait.
        self._last_send[chat_id] = time.monotonic()

    async def _send(self, chat_id: int, d: PendingDelivery) -> bool:
        """True when the chat may go on to its next alert."""
        parts = split_html(alert_html(d.alert))
        try:
            for index in range(d.parts_sent, len(parts)):
                await self._pace(chat_id)
                await self.bot.send_message(
                    chat_id,
                    parts[index],
                    parse_mode=ParseMode.HTML,
                    reply_markup=alert_buttons(d.alert) if index == len(parts) - 1 else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                self._sent(chat_id)
                if index < len(parts) - 1:
                    done = index + 1
                    await self._db(lambda s, n=done: mark_progress(s, d.id, n))  # type: ignore[misc]
            await self._db(lambda s: mark_sent(s, d.id, self.clock()))
            if self._on_outcome:
                self._on_outcome("sent", created_at=d.alert.created_at, now=self.clock())
            return True
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            await self._retry(d, seconds, f"429: retry after {seconds:g}s")
            return False
        except (Forbidden, ChatMigrated) as exc:
            await self._give_up(chat_id, d, exc, pause=True)
            return False
        except BadRequest as exc:
            gone = "chat not found" in exc.message.lower()
            await self._give_up(chat_id, d, exc, pause=gone)
            # A message Telegram will never take (bad HTML, say) must not block the chat.
            return not gone
        except NetworkError as exc:  # timeouts, refused connections, 5xx
            backoff = min(MAX_BACKOFF_S, 2 ** min(d.attempts, 10)) * self.rng.uniform(0.5, 1.0)
            await self._retry(d, backoff, f"network: {exc.message}")
            return False

    async def _retry(self, d: PendingDelivery, seconds: float, why: str) -> None:
        if self._on_outcome:
            self._on_outcome("retry")
        when = self.clock() + timedelta(seconds=seconds)
        log.warning("delivery %d to %s deferred %.0fs: %s", d.id, d.target, seconds, why)
        await self._db(lambda s: mark_retry(s, d.id, next_attempt_at=when, error=why))

    async def _give_up(
        self, chat_id: int, d: PendingDelivery, exc: Exception, *, pause: bool
    ) -> None:
        why = f"{type(exc).__name__}: {exc}"
        if self._on_outcome:
            self._on_outcome("failed")
        log.error("delivery %d to %s failed for good: %s", d.id, d.target, why)

        def record(session: Session) -> None:
            mark_failed(session, d.id, error=why)
            if pause:
                pause_chat(session, chat_id, why, self.clock())
                fail_target(session, d.target, error=why)

        await self._db(record)
