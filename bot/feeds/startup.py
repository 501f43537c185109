"""At start: the feeds file synced into the database, unless it is unchanged since the last."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.feeds.config import load_feeds
from bot.pipeline.rulebook import Rulebook
from bot.process import release_dead_leases
from bot.settings import Settings
from storage.db import make_engine
from storage.feeds import scheduled_ids, sync_feeds, synced_digest

__all__ = ["feeds_already_synced", "sync_at_start"]

log = logging.getLogger(__name__)


def sync_at_start(engine: Engine, settings: Settings, me: str, rulebook: Rulebook) -> list[int]:
    """The configured feeds' ids; when each is due stays in the database.

    A feeds file unchanged since the last sync (same bytes, same legs and minimum) is not
    parsed again: a restart costs the same with ten feeds or ten thousand.
    """
    # A feed's topics must name legs of the theses the rules define (bare or thesis/leg).
    legs = sorted(rulebook.book.leg_refs())
    digest = _feeds_digest(settings, legs)
    with Session(engine) as session:
        same = digest is not None and synced_digest(session) == digest
    defs = (
        None
        if same
        else load_feeds(settings.feeds, min_interval=settings.min_feed_interval, legs=legs)
    )
    with Session(engine) as session, session.begin():
        if defs is None:
            ids = scheduled_ids(session)
        else:
            ids = sync_feeds(session, defs, deactivate_others=True)
            if digest is not None:
                synced_digest(session, digest)
        freed = release_dead_leases(session, me)
    if freed:
        log.info("released the leases of %d dead worker(s) on this host", len(freed))
    return ids


def feeds_already_synced(settings: Settings, rulebook: Rulebook) -> bool:
    """Whether the database holds this very feeds file (same bytes, legs and minimum), which
    was checked when it was synced: ``run``'s check before opening the database can skip it.

    False when there is no database yet or it cannot be read; nothing is created or migrated.
    """
    digest = _feeds_digest(settings, sorted(rulebook.book.leg_refs()))
    if digest is None:
        return False
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (
        url.database not in (None, "", ":memory:")
        and Path(url.database or "").expanduser().is_file()
    ):
        return False
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            return synced_digest(session) == digest
    except SQLAlchemyError:  # an older schema, a server down: the file is checked instead
        return False
    finally:
        engine.dispose()


def _feeds_digest(settings: Settings, legs: list[str]) -> str | None:
    try:
        data = settings.feeds.read_bytes()
    except OSError:
        return None  # load_feeds says what is wrong
    where = str(settings.feeds.resolve())
    key = f"{where}\0{settings.min_feed_interval}\0{','.join(legs)}\0".encode()
    return hashlib.sha256(key + data).hexdigest()
