"""/quiet: which alerts arrive without a sound, and whether they are pushed at all.

``/quiet LEVEL`` makes alerts of LEVEL and lower silent (``disable_notification``), ``/quiet
LEVEL digest`` holds them back for the digest instead, ``/quiet off`` lets every alert ring.
The default is ``info``: a challenge gone stale does not sound the phone.
"""

from __future__ import annotations

from telegram import Update

from bot.pipeline.routing import QUIET_LEVELS
from bot.telegram.args import quote
from bot.telegram.deps import Ctx, deps_of, update_prefs
from bot.telegram.html import esc
from bot.telegram.replies import reply, usage
from storage.chats import ChatPrefs, load_prefs

__all__ = ["cmd_quiet", "quiet_text"]


def quiet_text(prefs: ChatPrefs) -> str:
    if prefs.quiet == "off":
        return "Every alert rings."
    if prefs.quiet_digest:
        return (
            f"Alerts of severity {prefs.quiet} and lower are not pushed: the digest tells them "
            "(/digest). Higher ones ring."
        )
    return f"Alerts of severity {prefs.quiet} and lower arrive silently; higher ones ring."


def _parse(args: list[str]) -> tuple[str, bool] | str:
    level = args[0].lower()
    if level not in QUIET_LEVELS:
        return f"unknown level {quote(args[0])} (one of {', '.join(QUIET_LEVELS)})"
    rest = [a.lower() for a in args[1:]]
    if rest not in ([], ["digest"]):
        return f"after the level only 'digest' may follow, not {quote(' '.join(args[1:]))}"
    if rest and level == "off":
        return "'off' rings every alert: nothing is left for the digest"
    return level, bool(rest)


async def cmd_quiet(update: Update, context: Ctx) -> None:
    chat = update.effective_chat
    assert chat is not None
    args = list(context.args or ())
    if not args:
        deps = deps_of(context)
        prefs = await deps.read(lambda s: load_prefs(s, [chat.id])[chat.id])
        await reply(update, esc(quiet_text(prefs)))
        return
    parsed = _parse(args)
    if isinstance(parsed, str):
        await usage(update, "quiet", parsed)
        return
    level, digest = parsed
    await update_prefs(update, context, lambda p, _now: p.but(quiet=level, quiet_digest=digest))
    await reply(update, esc(quiet_text(ChatPrefs(chat.id, quiet=level, quiet_digest=digest))))
