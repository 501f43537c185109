"""Exactly one process runs Telegram polling and commands: a PostgreSQL advisory lock.

The lock lives on a connection this process keeps open; when the holder dies its connection
closes, PostgreSQL drops the lock, and the next process to try takes over. SQLite is one
process by design, so there the first to ask leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

__all__ = ["LOCK_KEY", "Leadership"]

log = logging.getLogger(__name__)

LOCK_KEY = 0x74_68_65_73_69_73  # "thesis": one lock per database


class Leadership:
    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None
        self._sqlite = engine.dialect.name == "sqlite"
        self.held = False

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True while this process holds it."""
        if self.held:
            return self.check()
        if self._sqlite:
            self.held = True
            return True
        conn = self.engine.connect()
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
            conn.commit()
        except DBAPIError:
            conn.close()
            raise
        if got:
            self._conn, self.held = conn, True
            log.info("this process now runs the Telegram bot (advisory lock %d)", self.key)
        else:
            conn.close()
        return got

    def check(self) -> bool:
        """Whether the lock's connection is still alive (a lost connection lost the lock)."""
        if self._sqlite or self._conn is None:
            return self.held
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except DBAPIError:
            log.error("lost the database connection holding the bot lock")
            self._close()
        return self.held

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            except DBAPIError:
                pass  # closing the connection releases it anyway
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self.held = None, False
