"""What happened and when, read back for people: the ledger, signals and feed activity.

Read-only queries behind /status, /why, /chart and the digest. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from storage.models import (
    alert_t,
    board_t,
    feed_t,
    item_revision_t,
    item_t,
    sighting_t,
    signal_t,
    transition_t,
)

__all__ = [
    "AlertMark",
    "Found",
    "Matched",
    "Move",
    "alerts_between",
    "board_updated_at",
    "chart_moves",
    "first_seen_at",
    "last_moves",
    "last_signal_times",
    "latest_sightings",
    "matched_in",
    "moves_between",
    "newer_move",
    "signals_between",
    "states_at",
]


@dataclass(frozen=True, slots=True)
class Move:
    """One row of the ledger: a leg changing state at ``at`` (the news's publication time)."""

    at: datetime
    leg: str
    old: str
    new: str
    reason: str


def last_moves(session: Session, thesis: str | None = None) -> dict[str, Move]:
    """Each leg's latest move in the ledger (of ``thesis``; None: any); a leg that never moved
    is absent."""
    latest_q = select(transition_t.c.leg, func.max(transition_t.c.id).label("id"))
    if thesis is not None:
        latest_q = latest_q.where(transition_t.c.thesis == thesis)
    latest = latest_q.group_by(transition_t.c.leg).subquery()
    rows = session.execute(
        select(
            transition_t.c.at,
            transition_t.c.leg,
            transition_t.c.old_state,
            transition_t.c.new_state,
            transition_t.c.reason,
        ).join(latest, latest.c.id == transition_t.c.id)
    )
    return {row.leg: Move(*row) for row in rows}


def moves_between(
    session: Session, since: datetime | None, until: datetime, thesis: str | None = None
) -> list[Move]:
    """The ledger (of ``thesis``; None: every thesis) from ``since`` (everything when None)
    to ``until``, oldest first."""
    query = select(
        transition_t.c.at,
        transition_t.c.leg,
        transition_t.c.old_state,
        transition_t.c.new_state,
        transition_t.c.reason,
    ).where(transition_t.c.at <= until)
    if since is not None:
        query = query.where(transition_t.c.at > since)
    if thesis is not None:
        query = query.where(transition_t.c.thesis == thesis)
    return [
        Move(*row) for row in session.execute(query.order_by(transition_t.c.at, transition_t.c.id))
    ]


def last_signal_times(session: Session, thesis: str | None = None) -> dict[str, datetime]:
    """Per leg (of ``thesis``; None: any), the publication time of the newest item any rule
    matched for it."""
    query = select(signal_t.c.leg, func.max(item_t.c.published_at)).join(
        item_t, item_t.c.id == signal_t.c.item_id
    )
    if thesis is not None:
        query = query.where(signal_t.c.thesis == thesis)
    rows = session.execute(query.group_by(signal_t.c.leg))
    return {leg: at for leg, at in rows if at is not None}


def board_updated_at(session: Session, thesis: str) -> datetime | None:
    """When the board was last advanced (evaluated), None if never."""
    found = session.execute(select(board_t.c.updated_at).where(board_t.c.thesis == thesis)).first()
    return found[0] if found else None


def first_seen_at(session: Session) -> datetime | None:
    """When the first stored item was read: before then there is no data, only silence."""
    found: datetime | None = session.scalar(select(func.min(item_t.c.first_seen_at)))
    return found


def latest_sightings(session: Session) -> dict[str, datetime]:
    """Per active feed (by name), when it last brought an item we had not seen from it."""
    rows = session.execute(
        select(feed_t.c.name, func.max(sighting_t.c.seen_at))
        .join(sighting_t, sighting_t.c.feed_id == feed_t.c.id)
        .where(feed_t.c.active.is_(True))
        .group_by(feed_t.c.name)
    )
    return {name: at for name, at in rows if at is not None}


def chart_moves(
    session: Session, since: datetime, until: datetime, thesis: str | None = None
) -> list[Move]:
    """What a chart from ``since`` to ``until`` needs: each leg's last move before ``since``
    (its state when the chart starts) and every move in between (of ``thesis``; None: any)."""
    latest_q = select(transition_t.c.leg, func.max(transition_t.c.id).label("id")).where(
        transition_t.c.at <= since
    )
    if thesis is not None:
        latest_q = latest_q.where(transition_t.c.thesis == thesis)
    latest = latest_q.group_by(transition_t.c.leg).subquery()
    before = session.execute(
        select(
            transition_t.c.at,
            transition_t.c.leg,
            transition_t.c.old_state,
            transition_t.c.new_state,
            transition_t.c.reason,
        ).join(latest, latest.c.id == transition_t.c.id)
    )
    return [Move(*row) for row in before] + moves_between(session, since, until, thesis)


def states_at(session: Session, at: datetime, thesis: str | None = None) -> dict[str, str]:
    """Each leg's state (of ``thesis``; None: any) at ``at`` by the ledger; a leg that had not
    moved by then is absent (it was intact)."""
    return {m.leg: m.new for m in chart_moves(session, at, at, thesis) if m.at <= at}


@dataclass(frozen=True, slots=True)
class Found:
    """A signal with the item it was found in: evidence, as a digest lists it."""

    item_id: int
    leg: str
    rule_id: str
    effect: str
    severity: str
    hedged: bool
    title: str
    url: str | None
    publisher: str
    tier: str
    published_at: datetime
    read_at: datetime


def signals_between(
    session: Session,
    since: datetime | None,
    until: datetime,
    *,
    published_after: datetime,
    thesis: str | None = None,
) -> list[Found]:
    """Signals (of ``thesis``; None: any) made (items read) from ``since`` to ``until`` on news
    published after ``published_after`` (an archive read today is history, not news), oldest
    first."""
    query = (
        select(
            signal_t.c.item_id,
            signal_t.c.leg,
            signal_t.c.rule_id,
            signal_t.c.effect,
            signal_t.c.severity,
            signal_t.c.hedged,
            item_t.c.title,
            item_t.c.url,
            item_t.c.publisher,
            item_t.c.tier,
            item_t.c.published_at,
            signal_t.c.created_at,
        )
        .join(item_t, item_t.c.id == signal_t.c.item_id)
        .where(signal_t.c.created_at <= until, item_t.c.published_at > published_after)
        .order_by(signal_t.c.id)
    )
    if since is not None:
        query = query.where(signal_t.c.created_at > since)
    if thesis is not None:
        query = query.where(signal_t.c.thesis == thesis)
    return [Found(*row) for row in session.execute(query)]


@dataclass(frozen=True, slots=True)
class AlertMark:
    """An alert as a chart marks it."""

    id: int
    at: datetime
    leg: str
    kind: str  # transition | early
    new_state: str | None
    severity: str


def alerts_between(
    session: Session, since: datetime, until: datetime, thesis: str | None = None
) -> list[AlertMark]:
    """Alerts (of ``thesis``; None: any) raised from ``since`` to ``until``, oldest first."""
    query = select(
        alert_t.c.id,
        alert_t.c.created_at,
        alert_t.c.leg,
        alert_t.c.kind,
        alert_t.c.new_state,
        alert_t.c.severity,
    ).where(alert_t.c.created_at >= since, alert_t.c.created_at <= until)
    if thesis is not None:
        query = query.where(alert_t.c.thesis == thesis)
    return [AlertMark(*row) for row in session.execute(query.order_by(alert_t.c.id))]


def newer_move(session: Session, alert_id: int, leg: str) -> AlertMark | None:
    """The newest transition alert on ``leg`` after alert ``alert_id``: the leg moved since."""
    row = session.execute(
        select(
            alert_t.c.id,
            alert_t.c.created_at,
            alert_t.c.leg,
            alert_t.c.kind,
            alert_t.c.new_state,
            alert_t.c.severity,
        )
        .where(alert_t.c.leg == leg, alert_t.c.id > alert_id, alert_t.c.kind == "transition")
        .order_by(alert_t.c.id.desc())
        .limit(1)
    ).first()
    return AlertMark(*row) if row else None


@dataclass(frozen=True, slots=True)
class Matched:
    """What one rule matched in one item: the field's text and the spans in it."""

    item_id: int
    rule_id: str
    field: str  # title | summary
    text: str  # the field as the rules read it (the revision the signal was made from)
    spans: tuple[tuple[int, int], ...]


def matched_in(
    session: Session, item_ids: Collection[int], rules: Collection[str] | None = None
) -> list[Matched]:
    """The words each rule matched in these items, with the text they were matched in.

    A signal made from an earlier text of an item (the feed rewrote it since) is read against
    that text, so offsets land on the words the rule saw.
    """
    if not item_ids:
        return []
    query = select(
        signal_t.c.item_id, signal_t.c.revision, signal_t.c.rule_id, signal_t.c.spans
    ).where(signal_t.c.item_id.in_(list(item_ids)))
    if rules is not None:
        query = query.where(signal_t.c.rule_id.in_(list(rules)))
    signals = list(session.execute(query.order_by(signal_t.c.item_id, signal_t.c.id)))
    texts = _texts(session, {(s.item_id, s.revision) for s in signals})
    out: dict[tuple[int, str, str], Matched] = {}
    for s in signals:
        text = texts.get((s.item_id, s.revision))
        if text is None:
            continue
        for span in s.spans:
            field = str(span.get("field", "title"))
            if field not in text:
                continue
            key = (s.item_id, s.rule_id, field)
            got = out.get(key)
            pair = (int(span["start"]), int(span["end"]))
            if got is None:
                out[key] = Matched(s.item_id, s.rule_id, field, text[field], (pair,))
            elif pair not in got.spans:
                out[key] = Matched(got.item_id, got.rule_id, field, got.text, (*got.spans, pair))
    return list(out.values())


def _texts(session: Session, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], dict[str, str]]:
    ids = sorted({item for item, _ in wanted})
    found: dict[tuple[int, int], dict[str, str]] = {}
    for row in session.execute(
        select(item_t.c.id, item_t.c.revision, item_t.c.title, item_t.c.summary).where(
            item_t.c.id.in_(ids)
        )
    ):
        found[(row.id, row.revision)] = {"title": row.title, "summary": row.summary}
    older = [pair for pair in wanted if pair not in found]
    if older:
        for row in session.execute(
            select(
                item_revision_t.c.item_id,
                item_revision_t.c.revision,
                item_revision_t.c.title,
                item_revision_t.c.summary,
            ).where(item_revision_t.c.item_id.in_(sorted({i for i, _ in older})))
        ):
            found.setdefault(
                (row.item_id, row.revision), {"title": row.title, "summary": row.summary}
            )
    return found
