"""Delivering the outbox: the console notifier (Telegram's arrives with the bot)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot.views.text import alert_text
from storage.outbox import due_deliveries, mark_retry, mark_sent

__all__ = ["CONSOLE", "deliver_console"]

log = logging.getLogger(__name__)

CONSOLE = "console"
RETRY = timedelta(seconds=30)


def deliver_console(
    db: Engine, now: datetime, write: Callable[[str], None] = print, limit: int = 100
) -> int:
    """Print due console deliveries in alert order; each is marked sent once printed."""
    sent = 0
    while True:
        with Session(db) as session, session.begin():
            due = due_deliveries(session, target_prefix=CONSOLE, now=now, limit=limit)
            for d in due:
                try:
                    write(alert_text(d.alert) + "\n")
                except OSError as exc:  # a closed stdout: retry later, lose nothing
                    log.warning("console delivery of alert %d failed: %s", d.alert.id, exc)
                    mark_retry(session, d.id, next_attempt_at=now + RETRY, error=str(exc))
                    return sent
                mark_sent(session, d.id, now)
                sent += 1
        if len(due) < limit:
            return sent
