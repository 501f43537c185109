"""Many polls' outcomes written together: the feed rows of a batch of 304s and failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlmodel import Session

from storage.models import feed_t

__all__ = ["record_outcomes"]

_ERROR_CHARS = 500  # a failure's reason, as stored


def record_outcomes(
    session: Session,
    successes: Sequence[dict[str, Any]],
    failures: Sequence[dict[str, Any]],
) -> None:
    """Many polls' outcomes in two statements (executemany), in the session's transaction.

    ``successes``: rows with keys ``feed_id``, ``now``, ``next_poll_at``, ``etag``,
    ``last_modified``, ``body_hash``, ``poll_interval_s`` (None keeps the row's); ``failures``:
    ``feed_id``, ``now``, ``reason``, ``next_poll_at``. A poll of thousands of 304s costs one
    transaction, not one each; storage.feeds' ``record_success`` and ``record_failure`` are this
    with one row.
    """
    if successes:
        session.execute(
            update(feed_t)
            .where(feed_t.c.id == bindparam("_id"))
            .values(
                poll_interval_s=func.coalesce(
                    bindparam("_interval", type_=feed_t.c.poll_interval_s.type),
                    feed_t.c.poll_interval_s,
                ),
                etag=bindparam("_etag"),
                last_modified=bindparam("_last_modified"),
                body_hash=bindparam("_body_hash"),
                last_polled_at=bindparam("_now"),
                last_success_at=bindparam("_now"),
                consecutive_failures=0,
                polls_total=feed_t.c.polls_total + 1,
                next_poll_at=bindparam("_next"),
                lease_owner=None,
                lease_until=None,
            ),
            [
                {
                    "_id": r["feed_id"],
                    "_interval": r.get("poll_interval_s"),
                    "_etag": r["etag"],
                    "_last_modified": r["last_modified"],
                    "_body_hash": r["body_hash"],
                    "_now": r["now"],
                    "_next": r["next_poll_at"],
                }
                for r in successes
            ],
        )
    if failures:
        session.execute(
            update(feed_t)
            .where(feed_t.c.id == bindparam("_id"))
            .values(
                last_polled_at=bindparam("_now"),
                last_error=bindparam("_reason"),
                last_error_at=bindparam("_now"),
                consecutive_failures=feed_t.c.consecutive_failures + 1,
                failures_total=feed_t.c.failures_total + 1,
                polls_total=feed_t.c.polls_total + 1,
                next_poll_at=bindparam("_next"),
                lease_owner=None,
                lease_until=None,
            ),
            [
                {
                    "_id": r["feed_id"],
                    "_now": r["now"],
                    "_reason": r["reason"][:_ERROR_CHARS],
                    "_next": r["next_poll_at"],
                }
                for r in failures
            ],
        )
