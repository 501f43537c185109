"""Reaching Telegram at start-up without making the rest of the process wait for it.

``Application.initialize`` asks Telegram who the bot is (getMe). When Telegram cannot be
reached that call fails, and it used to take the whole process down with it. Here it runs in
the background and is retried with backoff, while feeds are polled and rules evaluated; alerts
wait in the outbox. ``health()`` says how it stands, for ``/healthz``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from telegram.error import InvalidToken

from bot.clock import Clock, utcnow

__all__ = ["MAX_BACKOFF_S", "MIN_BACKOFF_S", "TelegramLink"]

log = logging.getLogger(__name__)

MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0

State = Literal["connecting", "up", "closed"]


class TelegramLink:
    """``link.start()``; ``on_up`` runs once Telegram answered; ``await link.close()`` at exit.

    Every failed attempt is logged with the error class and the wait before the next one
    (1 s doubling up to 60 s, with jitter so that several workers do not knock in step).
    """

    def __init__(
        self,
        app: Any,
        on_up: Callable[[], Awaitable[None]],
        *,
        min_backoff: float = MIN_BACKOFF_S,
        max_backoff: float = MAX_BACKOFF_S,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.state: State = "connecting"
        self.attempts = 0
        self.error: str | None = None  # class name only: a message can quote the token
        self.failing_since: datetime | None = None
        self._on_up = on_up
        self._min = min_backoff
        self._max = max_backoff
        self._clock = clock
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_up(self) -> bool:
        return self.state == "up"

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._connect(), name="telegram-link")

    async def _connect(self) -> None:
        delay = self._min
        while True:
            self.attempts += 1
            try:
                await self.app.initialize()
                break
            except Exception as exc:  # whatever it is, feeds go on and we try again
                self.error = type(exc).__name__
                self.failing_since = self.failing_since or self._clock()
                wait = delay * self._rng.uniform(0.5, 1.0)
                what = "rejected the token" if isinstance(exc, InvalidToken) else "is unreachable"
                log.warning(
                    "Telegram %s (%s: %s); feeds are polled regardless, alerts wait in the "
                    "outbox; attempt %d, next in %.0fs",
                    what,
                    self.error,
                    exc,
                    self.attempts,
                    wait,
                )
                await asyncio.sleep(wait)
                delay = min(self._max, delay * 2)
        self.state = "up"
        user = self.app.bot.username
        if self.attempts > 1:
            log.info("Telegram reachable after %d attempts: bot @%s is up", self.attempts, user)
        else:
            log.info("Telegram reachable: bot @%s is up", user)
        try:
            await self._on_up()
        except Exception:
            log.exception("starting the Telegram side failed")

    def health(self) -> tuple[dict[str, Any], str | None]:
        """This link's part of ``/healthz``, and the reason it is unhealthy (None: it is not)."""
        body: dict[str, Any] = {"state": self.state}
        if self.state != "connecting" or self.failing_since is None:
            return body, None
        since = self.failing_since.isoformat(timespec="seconds")
        body |= {"attempts": self.attempts, "error": self.error, "since": since}
        return body, f"telegram unreachable since {since} ({self.error}), retrying"

    async def cancel(self) -> None:
        """Stop trying to connect (and starting the Telegram side); harmless once up."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # we are being cancelled ourselves, not just our task

    async def close(self) -> None:
        """Stop trying, and free what the Application holds (the caller stopped it first)."""
        await self.cancel()
        if self.state == "up":
            await self.app.shutdown()
        else:  # a failed getMe leaves the HTTP clients open
            await self.app.bot.shutdown()
        self.state = "closed"
