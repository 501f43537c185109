"""Delivering the outbox to Telegram: in order per chat, marked sent only once accepted.

Each chat is served by one task at a time (a lock per chat, not per pass), so a private chat
never waits behind a paced group. A pass claims what is due for the chats not being served; it
runs when an alert is committed (:meth:`TelegramNotifier.wake`, in-process or from PostgreSQL
NOTIFY), when a chat's task ends, and on a fallback tick.

What a refused send means is :mod:`bot.telegram.failures`'; a network error or a 5xx pauses
every send and probes Telegram with ``getMe`` every few seconds, and once it answers the
deferred deliveries go at full rate. Alerts older than ``max_age`` by the time they can be sent
go out as one summary message per chat.

One story is one push: the alerts it raised on several legs (one ``push_id``) go to a chat as
one message, with a Why? and a Mute per leg; the chat's quiet setting says whether it rings.
A chat no longer allowed gets nothing: what is queued for it fails.

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
from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.clock import Clock, utcnow
from bot.pipeline.routing import silent, target_chat
from bot.process import worker_id
from bot.telegram.failures import NETWORK, Failures, OnOutcome
from bot.telegram.html import split_html
from bot.telegram.keyboard import alert_buttons
from bot.telegram.ledger import DatabaseDown, DeliveryLedger, RunDb
from bot.telegram.reach import Reachability
from bot.telegram.render import collapsed_html, push_html
from bot.views.push import push_view
from storage.backlog import claim_stale, mark_collapsed, resume_deferred
from storage.chats import ChatPrefs, load_prefs
from storage.outbox import (
    PendingDelivery,
    StoredAlert,
    claim_push,
    mark_failed,
    mark_progress,
    mark_sent,
)

__all__ = ["CHAT_PREFIX", "TICK_S", "TelegramNotifier", "alert_buttons"]

log = logging.getLogger(__name__)

CHAT_PREFIX = "chat:"
# Telegram's advice: about one message a second to one chat. Counted from Telegram's answer to
# the previous one, which it had taken by then: the server never sees two closer than this.
PER_CHAT_GAP_S = 1.0
# Claimed per pass, and per chat in a pass: a group takes 20 a minute, so both fit well inside
# the lease; a chat with more waits for its next turn and leaves room for the others.
PASS = 60
PER_CHAT = 20
# The fallback tick: passes run when woken; this finds what no wake-up announced (a backoff
# that ran out, an alert committed by a process on SQLite).
TICK_S = 2.0
NOT_ALLOWED = "chat no longer allowed"


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
        allowed: Collection[int] | None = None,
    ) -> None:
        """``max_age``: alerts older than this when their turn comes are summed up in one
        message per chat (None: every alert is sent, however old). ``allowed``: the chats
        alerts may go to (None: any); what is queued for another fails unsent."""
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
        self.allowed = None if allowed is None else frozenset(allowed)
        self.failures = Failures(self.ledger, self.reach, clock, self.rng, self.wake, on_outcome)
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
            if self.allowed is not None and chat_id not in self.allowed:
                await self._refuse(target, deliveries)
                return 0
            prefs = (await self.ledger.run(lambda s: load_prefs(s, [chat_id])))[chat_id]
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
                go_on, settled = await self._send(chat_id, d, prefs)
                self._held.discard(d.id)
                if not go_on:
                    break
                sent += 1
                left = deque(x for x in left if x.id not in settled)
            if left:  # later alerts wait for this one (order per chat); give back their claims
                await self.ledger.release([d.id for d in left])
            elif not self._stopping and not self.reach.down:
                self.wake()  # anything that came for this chat meanwhile
        except (DatabaseDown, SQLAlchemyError):
            pass  # the rest stays claimed until the next pass, which gives it back
        except Exception:  # a bug: this chat stops, the next pass gives back its claims
            log.exception("delivery to %s failed", target)
            self.ledger.strand()
        finally:
            self._held.difference_update(d.id for d in deliveries)
            if self._serving.get(target) is asyncio.current_task():
                del self._serving[target]
        return sent

    async def _refuse(self, target: str, deliveries: list[PendingDelivery]) -> None:
        """A chat taken off the allowed list gets nothing more, not even what was queued."""
        ids = [d.id for d in deliveries]
        log.warning("delivery: %d alert(s) to %s not sent: %s", len(ids), target, NOT_ALLOWED)

        def record(session: Session) -> None:
            for i in ids:
                mark_failed(session, i, error=NOT_ALLOWED)

        await self.ledger.record(ids[0], record)

    def _stale(self, alert: StoredAlert) -> bool:
        return self.max_age is not None and alert.created_at < self.clock() - self.max_age

    async def _pace(self, chat_id: int) -> None:
        gap = self.per_chat_gap - (time.monotonic() - self._last_send.get(chat_id, -1e9))
        if gap > 0:
            await asyncio.sleep(gap)

    def _sent(self, chat_id: int) -> None:
        # Measured from when Telegram answered, after the global limiter's own wait.
        self._last_send[chat_id] = time.monotonic()

    async def _send(
        self, chat_id: int, d: PendingDelivery, prefs: ChatPrefs
    ) -> tuple[bool, set[int]]:
        """Send ``d`` with the rest of its push to this chat, as one message: whether the chat
        may go on to its next alert, and the deliveries settled besides ``d``."""
        now = self.clock()
        mates = (
            await self.ledger.run(lambda s: claim_push(s, d, now=now, owner=self.owner))
            if d.alert.push_id is not None
            else []
        )
        push = [d, *mates]
        ids = [x.id for x in push]
        # Mates not in this chat's batch were claimed just now: given back if d is not sent.
        extra = [i for i in ids[1:] if i not in self._held]
        self._held.update(extra)
        alerts = [x.alert for x in push]
        try:
            parts = split_html(push_html(alerts))
            markup = alert_buttons(alerts)
        except Exception as exc:  # a payload we cannot render must not block the chat
            log.exception("alert %d cannot be rendered", d.alert.id)
            await self.failures.give_up(chat_id, d, exc, pause=False)
            await self.ledger.release(extra)
            self._held.difference_update(extra)
            return True, set()
        quiet = silent(prefs, push_view(alerts).severity)  # the worst leg decides
        try:
            for index in range(d.parts_sent, len(parts)):
                await self._pace(chat_id)
                await self.bot.send_message(
                    chat_id,
                    parts[index],
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup if index == len(parts) - 1 else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    disable_notification=quiet,
                )
                self._sent(chat_id)
                if index < len(parts) - 1:
                    done = index + 1
                    await self.ledger.record(
                        d.id,
                        lambda s, n=done: mark_progress(s, d.id, n),  # type: ignore[misc]
                    )

            def record(session: Session) -> None:
                for i in ids:
                    mark_sent(session, i, self.clock())

            await self.ledger.record(d.id, record)
        except TelegramError as exc:
            await self.ledger.release(extra)  # they wait behind d, whatever befalls it
            return await self.failures.failed(chat_id, d, exc), set()
        finally:
            self._held.difference_update(extra)
        if self._on_outcome:
            for x in push:
                self._on_outcome("sent", created_at=x.alert.created_at, now=self.clock())
        return True, set(ids[1:])

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
            await self.failures.failed(chat_id, d, exc)
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
