"""Who may talk to the bot: configured chats, and admins in private. Everyone else is refused.

A refusal is one line, at most once an hour per chat and 30 an hour over all strangers, sent
from the back seat of the send budget (it never goes ahead of an alert). A flood of strangers
costs a log line each at debug level, and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.telegram.deps import Ctx, deps_of
from bot.telegram.limiter import yielding

__all__ = ["REFUSALS_PER_HOUR", "REFUSE_EVERY_S", "Refusals", "gate", "is_allowed"]

log = logging.getLogger(__name__)

REFUSE_EVERY_S = 3600.0  # one refusal per stranger chat in this long
REFUSALS_PER_HOUR = 30  # over all strangers: many chats must not add up to a flood either
_REMEMBERED = 10_000  # stranger chats remembered; the oldest is forgotten first


def is_allowed(update: Update, allowed_chats: frozenset[int], admins: frozenset[int]) -> bool:
    """Whether the update comes from an allowed chat, or from an admin in private."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return False
    if chat.id in allowed_chats:
        return True
    return chat.type == ChatType.PRIVATE and user is not None and user.id in admins


class Refusals:
    """Decides which strangers get their refusal line now (memory only: a restart forgets)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: OrderedDict[int, float] = OrderedDict()
        self._recent: deque[float] = deque()

    def allow(self, chat_id: int) -> bool:
        """True when ``chat_id`` should be told (and that is counted); False to stay silent."""
        now = self._clock()
        last = self._last.get(chat_id)
        if last is not None and now - last < REFUSE_EVERY_S:
            return False
        while self._recent and now - self._recent[0] >= 3600:
            self._recent.popleft()
        if len(self._recent) >= REFUSALS_PER_HOUR:
            return False
        self._recent.append(now)
        self._last[chat_id] = now
        self._last.move_to_end(chat_id)
        if len(self._last) > _REMEMBERED:
            self._last.popitem(last=False)
        return True


def _refusals(context: Ctx) -> Refusals:
    refusals = context.application.bot_data.setdefault("refusals", Refusals())
    assert isinstance(refusals, Refusals)
    return refusals


async def gate(update: Update, context: Ctx) -> None:
    """Runs before every handler: strangers get at most one refusal line, and nothing else."""
    deps = deps_of(context)
    if is_allowed(update, deps.allowed_chats, deps.admins):
        return
    chat, user = update.effective_chat, update.effective_user
    where = f"chat {chat.id if chat else '?'} (user {user.id if user else '?'})"
    if update.callback_query is not None:  # no message, no budget: the button just stops
        log.warning("refused button from %s", where)
        await update.callback_query.answer("Not authorised.")
    elif chat and update.effective_message and _refusals(context).allow(chat.id):
        log.warning("refused update from %s", where)
        with yielding():
            await context.bot.send_message(
                chat.id, f"This bot is private. Ask an admin to allow chat {chat.id}."
            )
    else:
        log.debug("refused update from %s (already told)", where)
    raise ApplicationHandlerStop
