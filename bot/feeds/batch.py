"""Poll outcomes that touch only their feed's row, written together once per window.

At 5,000 feeds a minute, most polls are 304s: each cost a transaction of its own on the
database thread, more than its fetch. They wait here for up to ``window`` seconds (the
dispatcher's tick) and go in one transaction; each poll's task gets its outcome once written,
so metrics and health see what the database took, as before.

What a crash loses: the outcomes still waiting, at most one window's. Each of those feeds
still holds its lease and its old ``next_poll_at``, so the next start polls it again, as it
does a poll that was in flight; items are never in here (a body with news is stored by its
poll's own transaction at once).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from functools import partial

from bot.feeds.recording import Pending, PollOutcome

__all__ = ["OutcomeBatch"]

RunInDb = Callable[[Callable[[], list[PollOutcome]]], Awaitable[list[PollOutcome]]]
Write = Callable[[list[Pending]], list[PollOutcome]]


class OutcomeBatch:
    """Collects :class:`Pending` outcomes and writes them in one call of ``write`` on the
    database thread, ``window`` seconds after the first one came (0: at the loop's next turn,
    which still gathers the outcomes of polls ending together)."""

    def __init__(self, run_in_db: RunInDb, write: Write, *, window: float = 0.0) -> None:
        self._run_in_db = run_in_db
        self._write = write
        self.window = window
        self._pending: list[tuple[Pending, asyncio.Future[PollOutcome], float]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()
        self.waiting = 0  # polls waiting for their outcome's write (pending or being written)

    def __len__(self) -> int:
        return len(self._pending)

    async def add(self, pending: Pending) -> PollOutcome:
        """Wait for ``pending`` to be written with the others; its outcome as recorded."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[PollOutcome] = loop.create_future()
        self._pending.append((pending, done, loop.time()))
        if self._timer is None:
            self._timer = loop.call_later(self.window, self.flush)
        self.waiting += 1
        try:
            return await done
        finally:
            self.waiting -= 1

    def flush(self) -> None:
        """Write what is waiting now (a shutdown does not wait for the window)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._pending = self._pending, []
        if waiting:
            now = asyncio.get_running_loop().time()
            batch = [(p, done, now - since) for p, done, since in waiting]
            task = asyncio.ensure_future(self._write_batch(batch))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _write_batch(
        self, batch: list[tuple[Pending, asyncio.Future[PollOutcome], float]]
    ) -> None:
        try:
            outcomes = await self._run_in_db(partial(self._write, [p for p, _, _ in batch]))
        except BaseException as exc:
            # A bug of ours (database errors are outcomes): each poll waiting gets it.
            for _, done, _ in batch:
                if not done.done():
                    if isinstance(exc, asyncio.CancelledError):
                        done.cancel()
                    else:
                        done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, done, waited), outcome in zip(batch, outcomes, strict=True):
            if not done.done():  # its poll cancelled meanwhile: the row is written regardless
                done.set_result(dataclasses.replace(outcome, batch_wait=waited))
