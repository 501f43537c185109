"""Waking deliverers across processes: PostgreSQL NOTIFY when an alert commits, LISTEN for it.

The notification goes out when the transaction that wrote the alert commits, and not at all if it
rolls back, so a listener never looks for an alert that is not there yet. Its payload is the
writer's schema: workers of other schemas in the same database (test runs, staging) ignore it.
SQLite has nothing of the kind; there, delivery wakes in-process and on its tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

__all__ = ["OUTBOX_CHANNEL", "listen_outbox", "notify_outbox"]

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "thesiswatch_outbox"
RETRY_MAX_S = 5.0


def notify_outbox(session: Session) -> None:
    """Tell listeners, once the caller's transaction commits, that the outbox has news."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(OUTBOX_CHANNEL, func.current_schema())))


def _conninfo(engine: Engine) -> str:
    # The engine's URL as libpq reads it (search_path options included), password and all.
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_outbox(
    engine: Engine,
    wake: Callable[[], None],
    *,
    ready: asyncio.Event | None = None,
    retry_max: float = RETRY_MAX_S,
) -> None:
    """Call ``wake`` for every alert committed to ``engine``'s database, until cancelled.

    A lost connection (a restarted server) is retried with backoff up to ``retry_max``
    seconds; after reconnecting ``wake`` is called once for whatever was missed. ``ready`` is
    set each time the LISTEN is in place. Returns at once on a database that is not PostgreSQL.
    """
    if engine.dialect.name != "postgresql":
        return
    import psycopg  # the PostgreSQL driver: installed wherever a PostgreSQL URL works

    delay = 0.25
    missed = False  # set once connected and lost: log each outage once, wake once it is over
    while True:
        try:
            conn: Any = await psycopg.AsyncConnection.connect(_conninfo(engine), autocommit=True)
            async with conn:
                row = await (await conn.execute("SELECT current_schema()")).fetchone()
                schema = row[0] if row else None
                await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                if missed:
                    log.info("outbox listener reconnected")
                    wake()
                else:
                    log.info("listening for alerts committed by other workers (NOTIFY)")
                delay, missed = 0.25, False
                if ready is not None:
                    ready.set()
                async for note in conn.notifies():
                    if note.payload == schema:
                        wake()
        except psycopg.Error as exc:
            if not missed:
                log.warning("outbox listener lost its connection: %s", type(exc).__name__)
        missed = True
        if ready is not None:
            ready.clear()
        await asyncio.sleep(delay)
        delay = min(retry_max, delay * 2)
