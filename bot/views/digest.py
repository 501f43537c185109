"""The digest: what changed since the last one. Each leg then and now with its moves, the
strongest evidence read, the feeds that failed or went quiet.

Read once (:func:`read_digest`, given the board as /status shows it), rendered by the chat.
The schedule arithmetic (:func:`next_due`) is here too: pure, in the display zone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlmodel import Session

from bot.views.board import BoardView
from rules.model import SEVERITIES, TIERS
from storage.feeds import feed_health
from storage.history import Found, Move, latest_sightings, moves_between, signals_between, states_at

__all__ = [
    "DAYS",
    "MAX_EVIDENCE",
    "PERIODS",
    "Digest",
    "FeedNote",
    "LegChange",
    "next_due",
    "read_digest",
]

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_EVIDENCE = 5
# News read in the period but published longer ago than this is history (an archive): the
# board never took it, and neither does the digest (THESISWATCH_MAX_ALERT_AGE_H's default).
FRESH = timedelta(hours=72)
# A feed with no new item for this long (or the period, if longer) has gone quiet. Shorter
# would flag every official feed that publishes twice a week.
QUIET_AFTER = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class LegChange:
    leg: str
    then: str  # its state when the period began
    now: str
    since: datetime | None  # in this state since (None: never moved)
    moves: tuple[Move, ...]  # in the period, oldest first
    no_evidence: bool  # no rule ever matched for this leg


@dataclass(frozen=True, slots=True)
class FeedNote:
    name: str
    failing: bool  # else quiet
    error: str | None
    failures: int
    last_ok: datetime | None
    last_item: datetime | None


@dataclass(frozen=True, slots=True)
class Digest:
    thesis: str
    since: datetime
    until: datetime
    legs: tuple[LegChange, ...]
    evidence: tuple[Found, ...]  # strongest first, one per item
    signals: int  # everything the rules found in the period, on fresh news
    feeds: tuple[FeedNote, ...]
    feeds_total: int


def next_due(
    schedule: str, minute: int, weekday: int, after: datetime, zone: tzinfo
) -> datetime | None:
    """The first time after ``after`` that a ``daily``/``weekly`` digest at ``minute`` past
    local midnight (on ``weekday``, 0 Monday) is due; None when the schedule is off."""
    if schedule not in PERIODS:
        return None
    local = after.astimezone(zone)
    at = time(minute // 60, minute % 60)

    def on(day: date) -> datetime:
        return datetime.combine(day, at, tzinfo=zone)

    day = local.date()
    if schedule == "weekly":
        day += timedelta(days=(weekday - day.weekday()) % 7)
    step = PERIODS[schedule]
    while on(day) <= local:
        day += step
    return on(day).astimezone(after.tzinfo)


def _strength(found: Found) -> tuple[int, int, int, float]:
    tier = TIERS.index(found.tier) if found.tier in TIERS else len(TIERS)
    severity = SEVERITIES.index(found.severity) if found.severity in SEVERITIES else 0
    return (-severity, int(found.hedged), tier, -found.published_at.timestamp())


def _strongest(found: list[Found]) -> tuple[Found, ...]:
    best: dict[int, Found] = {}
    for f in sorted(found, key=_strength):
        best.setdefault(f.item_id, f)
    return tuple(best.values())[:MAX_EVIDENCE]


def _feeds(session: Session, since: datetime, until: datetime) -> tuple[list[FeedNote], int]:
    rows = [h for h in feed_health(session) if h.active and not h.name.startswith("file:")]
    latest = latest_sightings(session)
    quiet_after = max(until - since, QUIET_AFTER)
    notes = []
    for h in rows:
        last = latest.get(h.name)
        failing = h.consecutive_failures > 0
        if failing or last is None or until - last > quiet_after:
            notes.append(
                FeedNote(
                    h.name, failing, h.last_error, h.consecutive_failures, h.last_success_at, last
                )
            )
    notes.sort(key=lambda n: (not n.failing, n.name))
    return notes, len(rows)


def read_digest(
    session: Session,
    view: BoardView,
    since: datetime,
    until: datetime,
    legs: Collection[str] = (),
) -> Digest:
    """What changed in ``view``'s thesis from ``since`` to ``until`` (``legs``: only these, as
    a chat subscribed). Another thesis may have a leg of the same name: its moves stay out."""
    then = states_at(session, since, view.thesis)
    moves = moves_between(session, since, until, view.thesis)
    changes = []
    for line in view.legs:
        if legs and line.leg not in legs:
            continue
        changes.append(
            LegChange(
                line.leg,
                then.get(line.leg, "intact"),
                line.state,
                line.since,
                tuple(m for m in moves if m.leg == line.leg),
                line.since is None and not line.evidence and line.last_signal is None,
            )
        )
    found = signals_between(
        session, since, until, published_after=since - FRESH, thesis=view.thesis
    )
    found = [f for f in found if not legs or f.leg in legs]
    notes, total = _feeds(session, since, until)
    return Digest(
        view.thesis,
        since,
        until,
        tuple(changes),
        _strongest(found),
        len(found),
        tuple(notes),
        total,
    )
