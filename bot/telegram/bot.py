"""The Telegram bot: one python-telegram-bot Application with its commands and buttons.

The pieces live next door: ``gate`` (who may talk), ``commands``, ``buttons``, ``replies``
(usage lines and HTML answers) and ``deps`` (what handlers reach). This module assembles them,
with ``updates`` (chats answered side by side, each in order) and ``limiter`` (the send budget,
where refusals to strangers take the back seat).
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram.buttons import on_button
from bot.telegram.commands import HANDLERS, cmd_unknown
from bot.telegram.deps import BotDeps, Ctx
from bot.telegram.gate import gate, is_allowed
from bot.telegram.limiter import YieldingRateLimiter
from bot.telegram.replies import COMMANDS
from bot.telegram.updates import PerChatProcessor

__all__ = ["COMMANDS", "BotDeps", "build_application", "is_allowed", "register_commands"]

log = logging.getLogger(__name__)


async def on_error(update: object, context: Ctx) -> None:
    log.error("handler failed", exc_info=context.error)


async def register_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """setMyCommands, so clients list the commands (post_init runs only under run_polling)."""
    await app.bot.set_my_commands([BotCommand(name, what) for name, _, what in COMMANDS])


def build_application(
    token: str,
    deps: BotDeps,
    *,
    base_url: str,
    rate_limit: bool = True,
    overall_per_s: float = 30.0,
    group_per_min: float = 20.0,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The Application with every handler; the caller starts and stops it."""
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_url.replace("/bot", "/file/bot"))
        .concurrent_updates(PerChatProcessor())
    )
    if rate_limit:
        # Buckets of one: 30/s overall and 20/min per group with no initial burst (a burst of 30
        # on top of the steady rate is what earns 429s). max_retries=0: a 429 comes back to the
        # outbox, which waits it out and keeps each chat's order.
        limiter = YieldingRateLimiter(
            overall_max_rate=1,
            overall_time_period=1 / overall_per_s,
            group_max_rate=1,
            group_time_period=60 / group_per_min * 1.02,
            max_retries=0,
        )
        builder = builder.rate_limiter(limiter)  # type: ignore[arg-type]
    app = builder.build()
    app.bot_data["deps"] = deps
    app.add_handler(TypeHandler(Update, gate), group=-1)
    for name, handler in HANDLERS:
        app.add_handler(CommandHandler(name, handler))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.COMMAND, cmd_unknown))
    app.add_error_handler(on_error)
    return app
