"""What every `thesiswatch` command shares: settings, the database, secrets to redact."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.settings import Settings, SettingsError, load, unknown_variables

__all__ = ["EXIT_USAGE", "NoDatabase", "engine", "existing_engine", "secrets", "settings"]

EXIT_USAGE = 2


class NoDatabase(Exception):
    """A command that only reads found no database: it says so instead of making an empty one."""


def settings() -> Settings:
    """The settings, or exit 2 with one line naming the bad one; unknown variables warned of."""
    from bot.views.times import set_display_zone

    for warning in unknown_variables():
        print(f"thesiswatch: warning: {warning}", file=sys.stderr)
    try:
        loaded = load()
    except SettingsError as exc:
        print(f"thesiswatch: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    set_display_zone(loaded.zone)
    return loaded


def engine(settings: Settings) -> Engine:
    """The database, created and migrated if need be: for commands that write."""
    from storage.db import open_database

    return open_database(settings.database_url)


def existing_engine(settings: Settings) -> Engine:
    """The database for a command that only reads; :class:`NoDatabase` if the SQLite file is
    not there (``status`` in a new folder once made ``./data/thesiswatch.db`` silently)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database or "")
        if not path.expanduser().is_file():
            raise NoDatabase(
                f"no database at {path} (THESISWATCH_DATABASE_URL): "
                "`thesiswatch run` or `thesiswatch ingest` creates it"
            )
    return engine(settings)


def secrets(settings: Settings) -> tuple[str, ...]:
    token = settings.telegram_token
    return (token.get_secret_value(),) if token else ()
