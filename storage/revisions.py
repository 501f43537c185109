"""Entries a feed rewrites under the same key: the item takes the new text and is read again.

Wires rewrite headlines in place ("weighs" becomes "approves") under the same guid or link. The
item keeps one row, now with the new text and a higher ``revision``, and waits for the rules
again; the text it replaced is kept as an item revision. Each sighting remembers what its own
feed said last, so only a feed's own rewrite revises an item, never another outlet's headline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from storage.bulk import Lookup, one_of
from storage.models import item_revision_t, item_t, sighting_t
from storage.records import NewEntry

__all__ = ["MAX_REVISIONS", "Seen", "feed_sightings", "revise", "text_hash"]

# An entry rewritten more often than this is churning (rotating headlines, a counter in the
# summary), not being corrected: later rewrites only update what its feed last said.
MAX_REVISIONS = 20
CHUNK = 500


def _chunks(seq: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(seq), CHUNK):
        yield seq[start : start + CHUNK]


def text_hash(entry: NewEntry) -> str:
    """What a feed says under one key, as 32 hex digits: a rewrite changes it."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (entry.title, entry.summary):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


class Seen(NamedTuple):
    """A feed's earlier sighting of an entry key."""

    sighting_id: int
    item_id: int
    text_hash: str | None


# Built once: building a statement costs more than running it on a batch of fifty keys.
_SEEN = Lookup(
    *(
        select(
            sighting_t.c.entry_key, sighting_t.c.id, sighting_t.c.item_id, sighting_t.c.text_hash
        ).where(
            sighting_t.c.feed_id == bindparam("feed_id"),
            one_of(sighting_t.c.entry_key, "keys", pg),
        )
        for pg in (False, True)
    )
)


def feed_sightings(session: Session, feed_id: int, keys: Sequence[str]) -> dict[str, Seen]:
    """This feed's earlier sightings of these entry keys."""
    out: dict[str, Seen] = {}
    conn = session.connection()
    for part in _chunks(list(keys)):
        rows = _SEEN.run(conn, {"feed_id": feed_id, "keys": part})
        out.update((key, Seen(sid, item, h)) for key, sid, item, h in rows)
    return out


def revise(
    session: Session,
    feed_id: int,
    rewritten: Sequence[tuple[Seen, NewEntry]],
    hashes: dict[str, str],
    now: datetime,
) -> tuple[int, ...]:
    """Items whose text the feed rewrote take the new text and wait for the rules again.

    Whatever happens to the item, each sighting remembers what its feed said last, so feeds
    that carry one item under different headlines never revise it back and forth.
    """
    if not rewritten:
        return ()
    session.execute(
        update(sighting_t)
        .where(sighting_t.c.id == bindparam("sid"))
        .values(text_hash=bindparam("new_hash")),
        [{"sid": seen.sighting_id, "new_hash": hashes[e.entry_key]} for seen, e in rewritten],
    )
    # A sighting from before rewrites were kept has no hash to compare: it learns this one.
    wanted = {seen.item_id: e for seen, e in rewritten if seen.text_hash is not None}
    current = item_t.c.id, item_t.c.title, item_t.c.summary, item_t.c.published_at
    state = item_t.c.revision, item_t.c.evaluated_at
    revisions: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    # Locked on PostgreSQL: an evaluation reading these items finishes first, so the text kept
    # says truly whether the rules read it.
    lock = session.get_bind().dialect.name == "postgresql"
    for part in _chunks(sorted(wanted)):
        query = select(*current, *state).where(item_t.c.id.in_(part))
        for item_id, title, summary, published, revision, evaluated in session.execute(
            query.with_for_update() if lock else query
        ):
            e = wanted[item_id]
            if (e.title, e.summary) == (title, summary) or revision >= MAX_REVISIONS:
                continue  # another feed brought this text first, or the entry is churning
            revisions.append(
                {
                    "item_id": item_id,
                    "revision": revision,
                    "title": title,
                    "summary": summary,
                    "published_at": published,
                    "evaluated_at": evaluated,
                    "replaced_at": now,
                    "feed_id": feed_id,
                }
            )
            # Dated by the feed, never by our reading: an archive entry fixed today stays old.
            items.append(
                {
                    "iid": item_id,
                    "new_title": e.title,
                    "new_summary": e.summary,
                    "new_published": max(published, e.published_at),
                    "new_revision": revision + 1,
                }
            )
    if not items:
        return ()
    # Two workers revising one item at once collide on (item_id, revision): the poller retries.
    session.execute(insert(item_revision_t), revisions)
    session.execute(
        update(item_t)
        .where(item_t.c.id == bindparam("iid"))
        .values(
            title=bindparam("new_title"),
            summary=bindparam("new_summary"),
            published_at=bindparam("new_published"),
            revision=bindparam("new_revision"),
            evaluated_at=None,
        ),
        items,
    )
    return tuple(sorted(i["iid"] for i in items))
