"""What every handler reaches through the Application: the database, the rules, who may talk.

Also the chat-preferences update that commands and buttons share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Update
from telegram.ext import ContextTypes

from bot.clock import Clock, utcnow
from bot.pipeline.rulebook import Rulebook
from storage.chats import ChatPrefs, load_prefs, save_prefs

__all__ = ["BotDeps", "Ctx", "deps_of", "muted", "update_prefs"]

T = TypeVar("T")
Ctx = ContextTypes.DEFAULT_TYPE


@dataclass(slots=True)
class BotDeps:
    """The handlers' view of the process: database, rules, allowed chats and admins, clock."""

    db: Engine
    run_db: Callable[[Callable[[], Any]], Awaitable[Any]]
    rulebook: Rulebook
    allowed_chats: frozenset[int]
    admins: frozenset[int]
    clock: Clock = utcnow

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction on the database thread."""

        def work() -> T:
            with Session(self.db) as session, session.begin():
                return fn(session)

        result: T = await self.run_db(work)
        return result


def deps_of(context: Ctx) -> BotDeps:
    """The ``BotDeps`` that ``build_application`` stored in ``bot_data``."""
    deps = context.application.bot_data["deps"]
    assert isinstance(deps, BotDeps)
    return deps


async def update_prefs(
    update: Update, context: Ctx, change: Callable[[ChatPrefs, datetime], ChatPrefs]
) -> None:
    """Load this chat's preferences, apply ``change`` and save, in one transaction."""
    deps = deps_of(context)
    chat = update.effective_chat
    assert chat is not None
    now = deps.clock()

    def save(session: Session) -> None:
        prefs = load_prefs(session, [chat.id])[chat.id]
        save_prefs(session, change(prefs, now), now)

    await deps.read(save)


def muted(prefs: ChatPrefs, until: datetime, leg: str | None) -> ChatPrefs:
    """``prefs`` with every leg (``leg`` None) or one leg muted until ``until``."""
    if leg is None:
        return prefs.but(muted_until=until)
    return prefs.but(muted_legs=prefs.muted_legs | {leg: until})
