"""Who may talk to the bot: configured chats, and admins in private. Everyone else is refused."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.telegram.deps import Ctx, deps_of

__all__ = ["gate", "is_allowed"]

log = logging.getLogger(__name__)


def is_allowed(update: Update, allowed_chats: frozenset[int], admins: frozenset[int]) -> bool:
    """Whether the update comes from an allowed chat, or from an admin in private."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return False
    if chat.id in allowed_chats:
        return True
    return chat.type == ChatType.PRIVATE and user is not None and user.id in admins


async def gate(update: Update, context: Ctx) -> None:
    """Runs before every handler: strangers get one refusal line, and nothing else."""
    deps = deps_of(context)
    if is_allowed(update, deps.allowed_chats, deps.admins):
        return
    chat, user = update.effective_chat, update.effective_user
    log.warning(
        "refused update from chat %s (user %s)",
        chat.id if chat else "?",
        user.id if user else "?",
    )
    if update.callback_query is not None:
        await update.callback_query.answer("Not authorised.")
    elif update.effective_message is not None and chat is not None:
        await update.effective_message.reply_text(
            f"This bot is private. Ask an admin to allow chat {chat.id}."
        )
    raise ApplicationHandlerStop
