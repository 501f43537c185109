"""Delivering the outbox to Telegram: in order per chat, marked sent only once accepted.

Each chat is served by one task at a time (a lock per chat, not per pass), so a private chat
never waits behind a paced group. A pass claims what is due for the chats not being served; it
runs when an alert is committed (:meth:`TelegramNotifier.wake`, in-process or from PostgreSQL
NOTIFY), when a chat's task ends, and on a fallback tick.

A sender says whether a failure is worth retrying: a 429 waits out ``retry_after``; a network
error or a 5xx pauses every send and probes Telegram with ``getMe`` every few seconds, and once
it answers the deferred deliveries go at full rate; a blocked bot or a vanished chat fails that
chat's delivery and pauses the chat, and never holds up the others. Alerts older than
``max_age`` by the time they can be sent go out as one summary message per chat.

The database can fail too. A write it refuses is kept and replayed before the next claim, and
what a failed pass had claimed is given back by the next one, so chats resume seconds after the
database does; only a message Telegram took while the database was away can repeat, and only
if the process dies before it is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.clock import Clock, utcnow
from bot.pipeline.routing import target_chat
from bot.process import worker_id
from bot.telegram.html import split_html
from bot.telegram.ledger import DatabaseDown, DeliveryLedger, RunDb
from bot.telegram.reach import Reachability
from bot.telegram.render import alert_html, collapsed_html
from storage.backlog import claim_stale, mark_collapsed, resume_deferred
from storage.chats import pause_chat
from storage.outbox import (
    PendingDelivery,
    StoredAlert,
    fail_target,
    mark_failed,
    mark_progress,
    mark_retry,
    mark_sent,
)

__all__ = ["CHAT_PREFIX", "TICK_S", "TelegramNotifier", "alert_buttons"]

log = logging.getLogger(__name__)

CHAT_PREFIX = "chat:"
# Telegram's advice: about one message a second to one chat. Counted from Telegram's answer to
# the previous one, which it had taken by then: the server never sees two closer than this.
PER_CHAT_GAP_S = 1.0
# A delivery's own backoff, for errors that may be its own (a 5xx on that message); an outage
# is noticed by the probe, which brings every deferred delivery forward when Telegram is back.
MAX_BACKOFF_S = 60
# Claimed per pass, and per chat in a pass: a group takes 20 a minute, so both fit well inside
# the lease; a chat with more waits for its next turn and leaves room for the others.
PASS = 60
PER_CHAT = 20
# The fallback tick: passes run when woken; this finds what no wake-up announced (a backoff
# that ran out, an alert committed by a process on SQLite).
TICK_S = 2.0
NETWORK = "network: "


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
        max_age: timedelta | None = None,
    ) -> None:
        """``max_age``: alerts older than this when their turn comes are summed up in one
        message per chat (None: every alert is sent, however old)."""
        self._on_outcome = on_outcome
        self.bot = bot
        self.owner = owner or worker_id()
        self.per_chat_gap = per_chat_gap
        self.db = db
        self.ledger = DeliveryLedger(db, run_db, self.owner, clock)
        self.reach = Reachability(bot)
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_age = max_age
        self._last_send: dict[int, float] = {}
        self._claiming = asyncio.Lock()
        self._serving: dict[str, asyncio.Task[int]] = {}  # the per-chat locks
        self._held: set[int] = set()  # claimed by a chat task still running
        self._wake = asyncio.Event()
        self._stopping = False
        self.passes = 0  # claims made, for tests and benchmarks

    # ---- running

    def wake(self) -> None:
        """Something may be due (an alert committed, a chat freed): a pass runs soon."""
        self._wake.set()

    async def deliver_due(self) -> int:
        """One pass, waited for: what is due for the chats not being served, sent."""
        if not await self._reachable():
            return 0
        tasks = await self._pass()
        return sum(await asyncio.gather(*tasks))

    async def serve(self, stop: asyncio.Event, *, tick: float = TICK_S) -> None:
        """Deliver until ``stop`` is set: a pass whenever woken, and at least every ``tick``
        seconds; then the chats being served finish the message in hand."""
        stopped = asyncio.ensure_future(stop.wait())
        delay = 0.0
        try:
            while not stop.is_set():
                woken = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait(
                    {woken, stopped}, timeout=delay, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
                if stop.is_set():
                    break
                self._wake.clear()
                delay = await self._step(tick)
        finally:
            stopped.cancel()
            await self.stop()

    async def _step(self, tick: float) -> float:
        """One turn of :meth:`serve`; how long to wait for the next one if nothing wakes it."""
        try:
            if not await self._reachable():
                return self.reach.probe_in
            await self._pass()
        except SQLAlchemyError:
            return self.ledger.retry_delay  # logged by the ledger, shown by /healthz
        except Exception:  # a bug: keep delivering the rest, loudly
            log.exception("delivery pass failed")
            return tick
        if self.reach.down:
            return self.reach.probe_in
        return self.ledger.retry_delay if self.ledger.pending_writes else tick

    async def stop(self) -> None:
        """No new sends; chats being served finish the message in hand and give back the rest."""
        self._stopping = True
        if self._serving:
            await asyncio.gather(*self._serving.values(), return_exceptions=True)

    # ---- health

    def problem(self) -> str | None:
        """What keeps delivery from working right now, as /healthz says it, or None."""
        return self.ledger.problem()

    async def health_problem(self, stall: timedelta) -> str | None:
        """For /healthz: a pass failing now, or alerts waiting ``stall`` with nothing sent."""
        return self.problem() or await self.ledger.stalled(stall, target_prefix=CHAT_PREFIX)

    # ---- passes and chats

    async def _pass(self) -> list[asyncio.Task[int]]:
        """Claim what is due for chats not being served; a task per chat sends it."""
        async with self._claiming:
            due = await self.ledger.claim(
                target_prefix=CHAT_PREFIX,
                now=self.clock(),
                limit=PASS,
                per_target=PER_CHAT,
                busy=tuple(self._serving),
                held=frozenset(self._held),
            )
            self.passes += 1
            by_chat: dict[str, list[PendingDelivery]] = {}
            for d in due:
                by_chat.setdefault(d.target, []).append(d)
            tasks = []
            for target, ds in by_chat.items():
                self._held.update(d.id for d in ds)
                task = asyncio.create_task(self._chat(target, ds), name=f"deliver {target}")
                self._serving[target] = task
                tasks.append(task)
            if len(due) >= PASS:
                self.wake()  # more may be due for the chats left out
            return tasks

    async def _chat(self, target: str, deliveries: list[PendingDelivery]) -> int:
        chat_id = target_chat(target)
        left = deque(deliveries)
        sent = 0
        try:
            while left and not self._stopping and not self.reach.down:
                d = left[0]
                if self._stale(d.alert):
                    settled = await self._collapse(chat_id, d)
                    if settled is None:
                        left.popleft()  # deferred or failed by _collapse itself
                        break
                    if settled:
                        sent += 1
                        left = deque(x for x in left if x.id not in settled)
                        continue
                left.popleft()
                go_on = await self._send(chat_id, d)
                self._held.discard(d.id)
                if not go_on:
                    break
                sent += 1
            if left:  # later alerts wait for this one (order per chat); give back their claims
                await self.ledger.release([d.id for d in left])
            elif not self._stopping and not self.reach.down:
                self.wake()  # anything that came for this chat meanwhile
        except DatabaseDown:
            pass  # the rest stays claimed until the next pass, which gives it back
        except Exception:  # a bug: this chat stops, the next pass gives back its claims
            log.exception("delivery to %s failed", target)
            self.ledger.strand()
        finally:
            self._held.difference_update(d.id for d in deliveries)
            if self._serving.get(target) is asyncio.current_task():
                del self._serving[target]
        return sent

    def _stale(self, alert: StoredAlert) -> bool:
        return self.max_age is not None and alert.created_at < self.clock() - self.max_age

    async def _pace(self, chat_id: int) -> None:
        gap = self.per_chat_gap - (time.monotonic() - self._last_send.get(chat_id, -1e9))
        if gap > 0:
            await asyncio.sleep(gap)

    def _sent(self, chat_id: int) -> None:
        # Measured from when Telegram answered, after the global limiter's own wait.
        self._last_send[chat_id] = time.monotonic()

    async def _send(self, chat_id: int, d: PendingDelivery) -> bool:
        """True when the chat may go on to its next alert."""
        try:
            parts = split_html(alert_html(d.alert))
        except Exception as exc:  # a payload we cannot render must not block the chat
            log.exception("alert %d cannot be rendered", d.alert.id)
            await self._give_up(chat_id, d, exc, pause=False)
            return True
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
                    await self.ledger.record(
                        d.id,
                        lambda s, n=done: mark_progress(s, d.id, n),  # type: ignore[misc]
                    )
            await self.ledger.record(d.id, lambda s: mark_sent(s, d.id, self.clock()))
        except TelegramError as exc:
            return await self._failed(chat_id, d, exc)
        if self._on_outcome:
            self._on_outcome("sent", created_at=d.alert.created_at, now=self.clock())
        return True

    async def _collapse(self, chat_id: int, d: PendingDelivery) -> set[int] | None:
        """Every stale alert queued for this chat as one message; the deliveries it settled,
        empty when ``d`` is the only stale one (sent as it is), None when the chat stops."""
        assert self.max_age is not None
        now = self.clock()
        before = now - self.max_age
        try:
            run = await self.ledger.run(
                lambda s: claim_stale(s, target=d.target, before=before, owner=self.owner, now=now)
            )
        except SQLAlchemyError as exc:
            raise DatabaseDown from exc
        if run is None or len(run.ids) < 2:
            return set()
        ids = run.ids
        self._held.update(ids)
        try:
            await self._pace(chat_id)
            await self.bot.send_message(
                chat_id,
                collapsed_html(len(ids), run.first, run.last),
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
            self._sent(chat_id)
            await self.ledger.record(d.id, lambda s: mark_collapsed(s, ids, self.clock()))
        except TelegramError as exc:
            await self._failed(chat_id, d, exc)
            await self.ledger.release([i for i in ids if i != d.id])
            return None
        finally:
            self._held.difference_update(ids)
        log.warning(
            "delivery: %d alerts to %s older than %s sent as one summary",
            len(ids),
            d.target,
            self.max_age,
        )
        if self._on_outcome:
            self._on_outcome("collapsed")
        return set(ids)

    async def _failed(self, chat_id: int, d: PendingDelivery, exc: TelegramError) -> bool:
        """Telegram refused ``d``: record why; True when the chat may go on to its next alert."""
        if isinstance(exc, RetryAfter):
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            await self._retry(d, seconds, f"429: retry after {seconds:g}s")
            asyncio.get_running_loop().call_later(seconds, self.wake)
            return False
        if isinstance(exc, Forbidden | ChatMigrated):
            await self._give_up(chat_id, d, exc, pause=True)
            return False
        if isinstance(exc, BadRequest):
            gone = "chat not found" in exc.message.lower()
            await self._give_up(chat_id, d, exc, pause=gone)
            # A message Telegram will never take (bad HTML, say) must not block the chat.
            return not gone
        # Timeouts, refused connections, 5xx: Telegram itself may be away.
        self.reach.lost(exc.message)
        self.wake()  # to probe it
        backoff = min(MAX_BACKOFF_S, 2 ** min(d.attempts, 10)) * self.rng.uniform(0.5, 1.0)
        await self._retry(d, backoff, f"{NETWORK}{exc.message}")
        return False

    async def _retry(self, d: PendingDelivery, seconds: float, why: str) -> None:
        if self._on_outcome:
            self._on_outcome("retry")
        when = self.clock() + timedelta(seconds=seconds)
        log.warning("delivery %d to %s deferred %.0fs: %s", d.id, d.target, seconds, why)
        await self.ledger.record(
            d.id, lambda s: mark_retry(s, d.id, next_attempt_at=when, error=why)
        )

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

        await self.ledger.record(d.id, record)

    async def _reachable(self) -> bool:
        """Whether to send; after a confirmed outage, what it deferred is due at once."""
        if not self.reach.down:
            return True
        back, outage = await self.reach.probe()
        if back and outage is not None:
            now = self.clock()
            try:
                n: int | str = await self.ledger.run(
                    lambda s: resume_deferred(s, target_prefix=CHAT_PREFIX, now=now, error=NETWORK)
                )
            except SQLAlchemyError:
                n = "no"  # they keep their own backoff; the tick finds them
            log.warning(
                "Telegram reachable again after %.0fs: %s deferred deliveries resume", outage, n
            )
        return back
