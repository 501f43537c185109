"""How the bot answers: the command list, usage lines, and replies in escaped HTML."""

from __future__ import annotations

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode

from bot.telegram.html import esc, split_html

__all__ = ["COMMANDS", "MAX_REPLY_PARTS", "USAGE", "help_text", "reply", "usage"]

# An answer is at most this many messages (and a line saying it was cut): one chat's question
# must not spend the send budget alerts need.
MAX_REPLY_PARTS = 3

COMMANDS: tuple[tuple[str, str, str], ...] = (
    # (command, arguments, what it does) -- also the /help text and setMyCommands
    ("status", "[THESIS] [LEG]", "each thesis's board, or one, or one leg with its evidence"),
    ("recent", "[N]", "the last N alerts (default 5)"),
    ("why", "ID", "the evidence and rules behind alert ID"),
    (
        "rules",
        "[vocab NAME]",
        "rule set version, counts, last reload; or what a vocabulary matches",
    ),
    ("test", "TEXT", "run a headline through the rules"),
    (
        "subscribe",
        "[THESIS] [LEG...] [$TICKER...] [severity=LEVEL]",
        "what alerts this chat gets (default: every thesis)",
    ),
    ("unsubscribe", "", "stop alerts to this chat"),
    ("mute", "DURATION [LEG]", "silence alerts (e.g. /mute 4h h20-ban; THESIS/LEG with several)"),
    ("unmute", "", "lift every mute"),
    ("feeds", "", "feed health"),
    ("chart", "[THESIS] [DAYS]", "each leg's state over the last DAYS days (default 30)"),
    ("exposure", "", "tickers and the legs across theses that move them"),
    (
        "digest",
        "[daily [HH:MM] | weekly [DAY] [HH:MM] | off]",
        "what changed since the last digest, now; or its schedule",
    ),
    (
        "quiet",
        "[off | info | low | medium | high] [digest]",
        "alerts up to this severity arrive silently, or only in the digest (default: info)",
    ),
    ("reload", "", "reload the rule files now (admins)"),
    ("help", "", "this list"),
)
USAGE = {name: f"/{name} {args}".strip() for name, args, _ in COMMANDS}


async def reply(update: Update, text: str) -> None:
    """Answer in the update's chat: HTML, no link previews, split at Telegram's limit, and cut
    after ``MAX_REPLY_PARTS`` messages."""
    message = update.effective_message
    if message is None:
        return
    parts = split_html(text)
    if len(parts) > MAX_REPLY_PARTS:
        cut = len(parts) - MAX_REPLY_PARTS
        parts = [*parts[:MAX_REPLY_PARTS], f"<i>(cut: {cut} more message(s) of this answer)</i>"]
    for part in parts:
        await message.reply_text(
            part,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


async def usage(update: Update, command: str, problem: str = "") -> None:
    """Answer with what was wrong (if given) and the command's usage line."""
    lead = f"{esc(problem[:1].upper() + problem[1:])}. " if problem else ""
    await reply(update, f"{lead}Usage: <code>{esc(USAGE[command])}</code>")


def help_text() -> str:
    """Every command with its arguments and what it does, one per line."""
    return "\n".join(f"<code>{esc(USAGE[name])}</code> — {esc(what)}" for name, _, what in COMMANDS)
