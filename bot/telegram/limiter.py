"""The send budget, with a back seat: refusals to strangers never go ahead of alerts.

PTB's ``AIORateLimiter`` serves requests as they come. A flood of strangers' messages, each
refused, drew on the same 30-a-second budget as alerts. Inside :func:`yielding`, a request
waits until no other request is queued for or using the budget, and such requests go one at
a time, so an alert waits at most for one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from telegram.ext import AIORateLimiter

__all__ = ["YieldingRateLimiter", "yielding"]

JSONDict = dict[str, Any]
_YIELDING: contextvars.ContextVar[bool] = contextvars.ContextVar("yielding", default=False)


@contextlib.contextmanager
def yielding() -> Iterator[None]:
    """Requests the current task makes in this block take the back seat."""
    token = _YIELDING.set(True)
    try:
        yield
    finally:
        _YIELDING.reset(token)


class YieldingRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` where requests made inside :func:`yielding` wait for all others."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._busy = 0  # ordinary requests queued or in flight
        self._idle = asyncio.Event()
        self._idle.set()
        self._back_seat = asyncio.Lock()
        self.waiting = 0  # back-seat requests waiting for the budget to fall idle

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        go = super().process_request
        if not _YIELDING.get():
            self._busy += 1
            self._idle.clear()
            try:
                return await go(callback, args, kwargs, endpoint, data, rate_limit_args)
            finally:
                self._busy -= 1
                if not self._busy:
                    self._idle.set()
        self.waiting += 1
        counted = True
        try:
            async with self._back_seat:
                while self._busy:
                    await self._idle.wait()
                self.waiting, counted = self.waiting - 1, False
                return await go(callback, args, kwargs, endpoint, data, rate_limit_args)
        finally:
            if counted:  # cancelled while waiting
                self.waiting -= 1
