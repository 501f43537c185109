"""What a database error was, in a few fixed words: fit for one log line, health and metrics.

A driver's full message can quote a statement's parameters or a connection string; the label
keeps to what the driver names the error: SQLite's result code and text, PostgreSQL's
exception class and SQLSTATE.
"""

from __future__ import annotations

__all__ = ["db_error_label"]

_MAX = 120


def db_error_label(exc: BaseException) -> str:
    """``SQLITE_FULL: database or disk is full``, ``DiskFull (SQLSTATE 53100)``, ..."""
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's exception
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        # SQLite's messages are its own fixed texts, plus a table or column name at most.
        text = str(orig).splitlines()[0] if str(orig) else ""
        return f"{sqlite_name}: {text}"[:_MAX]
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return f"{type(orig).__name__} (SQLSTATE {sqlstate})"
    return type(orig).__name__
