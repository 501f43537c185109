"""Workers starting together on PostgreSQL sync the feeds file one at a time, and one that
waits for another's sync holds no row meanwhile: with the digest's delete taken before the
sync's lock, two workers deadlocked (one holding the digest row and waiting for the lock, the
other holding the lock and deleting that row to record its own digest)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlmodel import Session

from storage.db import open_database
from storage.feeds import SYNC_LOCK, sync_feeds, synced_digest
from storage.records import FeedDef

pytestmark = pytest.mark.postgres

DEFS = [FeedDef("wire", "http://127.0.0.1:9/feed.xml", "wire", 300)]


def _waits_for_a_lock(session: Session, pid: int) -> bool:
    """Whether backend ``pid`` is waiting for an advisory lock (other tests may wait too)."""
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = :p"
    return bool(session.scalar(text(query), {"p": pid}))


def test_a_sync_that_waits_for_another_holds_no_row(pg_url: str) -> None:
    db = open_database(pg_url)
    with Session(db) as s, s.begin():
        sync_feeds(s, DEFS, deactivate_others=True)
        synced_digest(s, "first")
    errors: list[BaseException] = []
    pids: list[int] = []

    def second_worker() -> None:
        try:
            with Session(db) as s, s.begin():
                pids.append(int(s.scalar(text("SELECT pg_backend_pid()")) or 0))
                sync_feeds(s, DEFS, deactivate_others=True)
                synced_digest(s, "second")
        except BaseException as exc:  # the deadlock lands in either worker
            errors.append(exc)

    with Session(db) as first:
        first.begin()
        first.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SYNC_LOCK})
        worker = threading.Thread(target=second_worker)
        worker.start()
        deadline = time.monotonic() + 20
        with Session(db) as probe:
            while not (pids and _waits_for_a_lock(probe, pids[0])):
                assert time.monotonic() < deadline, "the second worker never waited for the lock"
                time.sleep(0.05)
        # The first worker, mid-sync, records its digest: it must not wait for the second.
        first.execute(text("SET LOCAL lock_timeout = '5s'"))
        synced_digest(first, "first again")
        first.commit()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors == []
    with Session(db) as s:
        assert synced_digest(s) == "second"
    db.dispose()
