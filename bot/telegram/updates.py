"""How updates are processed: chats side by side, each chat in order, and a prompt stop.

PTB's default handles one update at a time, so a long answer in one chat (a /test that took
25 messages, 78 s) made every other chat wait, and a stop waited for all of it. With this
processor updates of different chats run concurrently while one chat's updates still run one
after another in the order Telegram sent them (PTB starts a task per update in arrival order;
asyncio's semaphore and locks wake waiters first in, first out).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = ["MAX_CONCURRENT", "STOP_GRACE_S", "PerChatProcessor"]

log = logging.getLogger(__name__)

MAX_CONCURRENT = 256  # updates in flight over all chats
STOP_GRACE_S = 2.0  # what an answer in flight gets to finish when the process stops


def _lane(update: object) -> int | None:
    """Updates of one chat share a lane; those with no chat (rare kinds) share one too."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerChatProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat; ``drain`` stops it promptly."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT) -> None:
        super().__init__(max_concurrent_updates)
        self._lanes: dict[int | None, tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self._closed:  # stopping: what has not started will not
            _close(coroutine)
            return
        lane = _lane(update)
        lock, users = self._lanes.get(lane) or (asyncio.Lock(), 0)
        self._lanes[lane] = (lock, users + 1)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            try:
                await lock.acquire()
            except BaseException:
                _close(coroutine)
                raise
            try:
                if self._stopping():  # the stop came while this waited its turn
                    _close(coroutine)
                else:
                    await coroutine
            finally:
                lock.release()
        finally:
            if task is not None:
                self._tasks.discard(task)
            lock, users = self._lanes[lane]
            if users == 1:
                del self._lanes[lane]  # idle chats cost nothing
            else:
                self._lanes[lane] = (lock, users - 1)

    async def drain(self, grace: float = STOP_GRACE_S) -> None:
        """Start nothing new; give answers in flight ``grace`` seconds, then cancel them."""
        self._closed = True
        running = set(self._tasks)
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.info("stopping: cut %d answer(s) still in flight after %.0fs", len(late), grace)
            await asyncio.wait(late)

    def _stopping(self) -> bool:
        return self._closed

    def reopen(self) -> None:
        """Process updates again (a bot that stopped and starts anew)."""
        self._closed = False

    async def initialize(self) -> None:
        self._closed = False

    async def shutdown(self) -> None:
        self._closed = True


def _close(coroutine: Awaitable[Any]) -> None:
    # A coroutine never awaited makes Python warn at garbage collection: close it.
    if inspect.iscoroutine(coroutine):
        coroutine.close()
