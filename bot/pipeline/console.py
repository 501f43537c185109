"""Delivering the outbox: the console notifier (Telegram's arrives with the bot)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot.views.text import push_text
from storage.outbox import claim_push, due_deliveries, mark_retry, mark_sent

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
            done: set[int] = set()
            for d in due:
                if d.id in done:
                    continue  # printed with its push
                push = [d, *claim_push(session, d, now=now)]  # one story, one message
                try:
                    write(push_text([x.alert for x in push]) + "\n")
                except OSError as exc:  # a closed stdout: retry later, lose nothing
                    log.warning("console delivery of alert %d failed: %s", d.alert.id, exc)
                    mark_retry(session, d.id, next_attempt_at=now + RETRY, error=str(exc))
                    return sent
                for x in push:
                    mark_sent(session, x.id, now)
                    done.add(x.id)
                sent += 1
        if len(due) < limit:
            return sent
