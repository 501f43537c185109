"""The tables: feeds with their fetch state and health, stories, items and their sightings.

An *item* is one piece of news stored once (unique canonical URL, unique content hash).
A *sighting* records that a feed carried it (unique per feed and entry key), so a story
syndicated in many feeds is one item with many sources. A *story* groups items from different
outlets that report the same event in other words. When a feed rewrites an entry under the same
key, the item takes the new text and its *revision* goes up; the text it replaced is kept as an
*item revision*.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, Table, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime

__all__ = [
    "Alert",
    "BoardState",
    "ChatPref",
    "Delivery",
    "Feed",
    "Item",
    "ItemRevision",
    "Sighting",
    "Signal",
    "Story",
    "Transition",
    "alert_t",
    "board_t",
    "chat_pref_t",
    "delivery_t",
    "feed_t",
    "item_revision_t",
    "item_t",
    "sighting_t",
    "signal_t",
    "story_t",
    "transition_t",
]


class Feed(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    url: str = Field(max_length=2000)
    tier: str = Field(max_length=20)
    interval_s: int
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    # Conditional GET and unchanged-body detection.
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    body_hash: str | None = Field(default=None, max_length=64)
    # Health, shown by `thesiswatch feeds` and /feeds.
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = 0
    failures_total: int = 0
    polls_total: int = 0
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Several workers share the feeds: one holds a poll's lease, a dead one's lease expires.
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Story(SQLModel, table=True):
    __table_args__ = (Index("ix_story_last_published_at", "last_published_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)  # content hash of the founding item
    title: str = Field(max_length=600)
    title_sig: str = Field(max_length=600)
    first_published_at: datetime = Field(sa_type=UTCDateTime)
    last_published_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Item(SQLModel, table=True):
    __table_args__ = (
        Index("ix_item_story_id", "story_id"),
        Index("ix_item_published_at", "published_at"),
        Index("ix_item_evaluated_at", "evaluated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    story_id: int = Field(sa_column=Column(Integer, ForeignKey("story.id"), nullable=False))
    feed_id: int = Field(sa_column=Column(Integer, ForeignKey("feed.id"), nullable=False))
    tier: str = Field(max_length=20)
    publisher: str = Field(max_length=200)
    title: str = Field(max_length=600)
    summary: str = Field(max_length=4000)
    url: str | None = Field(default=None, max_length=2000, unique=True)
    content_hash: str = Field(max_length=64, unique=True)
    published_at: datetime = Field(sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    # Set in the transaction that stores the item's signals: restarts neither skip nor repeat.
    # A rewrite clears it, so the new text is read again.
    evaluated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revision: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class Sighting(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("feed_id", "entry_key", name="uq_sighting_feed_entry"),
        Index("ix_sighting_item_id", "item_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(sa_column=Column(Integer, ForeignKey("item.id"), nullable=False))
    feed_id: int = Field(sa_column=Column(Integer, ForeignKey("feed.id"), nullable=False))
    entry_key: str = Field(max_length=64)
    publisher: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=2000)
    seen_at: datetime = Field(sa_type=UTCDateTime)
    # What this feed last said under this key: a change is a rewrite. None on sightings stored
    # before rewrites were kept: they learn it on their next poll.
    text_hash: str | None = Field(default=None, max_length=32)


class ItemRevision(SQLModel, table=True):
    """A text an item had before its feed rewrote the entry under the same key."""

    __tablename__ = "item_revision"
    __table_args__ = (UniqueConstraint("item_id", "revision", name="uq_item_revision"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(sa_column=Column(Integer, ForeignKey("item.id"), nullable=False))
    revision: int
    title: str = Field(max_length=600)
    summary: str = Field(max_length=4000)
    published_at: datetime = Field(sa_type=UTCDateTime)
    # None: rewritten again before the rules read it (a replay skips it, as the live run did).
    evaluated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replaced_at: datetime = Field(sa_type=UTCDateTime)
    # The feed whose rewrite replaced it.
    feed_id: int = Field(sa_column=Column(Integer, ForeignKey("feed.id"), nullable=False))


# Core tables for bulk statements; SQLModel's class attributes are typed as values, not columns.
feed_t: Table = Feed.__table__  # type: ignore[attr-defined]
story_t: Table = Story.__table__  # type: ignore[attr-defined]
item_t: Table = Item.__table__  # type: ignore[attr-defined]
sighting_t: Table = Sighting.__table__  # type: ignore[attr-defined]
item_revision_t: Table = ItemRevision.__table__  # type: ignore[attr-defined]


class Signal(SQLModel, table=True):
    """What one rule said about one revision of one item, under one rule-set version."""

    __table_args__ = (
        UniqueConstraint(
            "item_id", "revision", "rule_id", "ruleset_version", name="uq_signal_item_revision_rule"
        ),
        Index("ix_signal_leg_created", "leg", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(sa_column=Column(Integer, ForeignKey("item.id"), nullable=False))
    revision: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    rule_id: str = Field(max_length=200)
    ruleset_version: str = Field(max_length=64)
    # The thesis whose leg this is (rows from before several theses: the one thesis then run).
    thesis: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    leg: str = Field(max_length=100)
    effect: str = Field(max_length=20)
    direction: str = Field(max_length=20)
    severity: str = Field(max_length=20)
    hedged: bool
    tickers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    spans: list[dict[str, object]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(sa_type=UTCDateTime)


class BoardState(SQLModel, table=True):
    """The thesis board as last advanced: one row per thesis."""

    __tablename__ = "board_state"

    thesis: str = Field(primary_key=True, max_length=200)
    ruleset_version: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    data: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Transition(SQLModel, table=True):
    """The ledger: every leg state change with the evidence behind it."""

    __table_args__ = (Index("ix_transition_leg_at", "leg", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    # The thesis whose leg this is (rows from before several theses: the one thesis then run).
    thesis: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    leg: str = Field(max_length=100)
    old_state: str = Field(max_length=20)
    new_state: str = Field(max_length=20)
    at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=500)
    ruleset_version: str = Field(max_length=64)
    evidence: list[dict[str, object]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class Alert(SQLModel, table=True):
    """The outbox: written in the same transaction as the state change that caused it."""

    __table_args__ = (Index("ix_alert_created_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # transition | early
    # The thesis whose leg this is (rows from before several theses: the one thesis then run).
    thesis: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    leg: str = Field(max_length=100)
    severity: str = Field(max_length=20)
    old_state: str | None = Field(default=None, max_length=20)
    new_state: str | None = Field(default=None, max_length=20)
    confirmed: bool
    story_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("story.id"), nullable=True)
    )
    transition_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("transition.id"), nullable=True)
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The alerts one story raised in one step share a push (the first one's id): each chat gets
    # them as one message. None: the alert is a push of its own.
    push_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))


class Delivery(SQLModel, table=True):
    """One alert to one target; marked sent only after the target accepted it."""

    __table_args__ = (
        UniqueConstraint("alert_id", "target", name="uq_delivery_alert_target"),
        Index("ix_delivery_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(sa_column=Column(Integer, ForeignKey("alert.id"), nullable=False))
    target: str = Field(max_length=100)  # "console" or "chat:<id>"
    status: str = Field(default="pending", max_length=20)  # pending | sent | failed
    attempts: int = 0
    # A long alert goes out in several messages; a retry resumes after the accepted ones.
    parts_sent: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


signal_t: Table = Signal.__table__  # type: ignore[attr-defined]
board_t: Table = BoardState.__table__  # type: ignore[attr-defined]
transition_t: Table = Transition.__table__  # type: ignore[attr-defined]
alert_t: Table = Alert.__table__  # type: ignore[attr-defined]
delivery_t: Table = Delivery.__table__  # type: ignore[attr-defined]


class ChatPref(SQLModel, table=True):
    """What one chat wants: its subscription, mutes, and whether delivery to it is paused."""

    __tablename__ = "chat_pref"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    subscribed: bool = True
    # The theses the chat follows; empty: every thesis (so a new thesis reaches every chat).
    theses: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # Legs as "thesis/leg" (a bare name: the leg of that name in whichever thesis has it).
    legs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tickers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    min_severity: str = Field(default="low", max_length=20)
    muted_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # {leg: ISO time}: legs muted until then
    muted_legs: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    paused: bool = False  # Telegram said the chat is gone or blocked us
    paused_reason: str | None = Field(default=None, max_length=300)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # The "what changed" digest: off | daily | weekly, at a local time (minutes after midnight
    # in the display zone) and, weekly, on a weekday (0 Monday); when it is next due, and when
    # the last one went out (the next one covers what happened since).
    digest: str = Field(default="off", max_length=10, sa_column_kwargs={"server_default": "off"})
    digest_minute: int = Field(default=480, sa_column_kwargs={"server_default": "480"})
    digest_weekday: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    digest_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_digest_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Alerts of this severity or lower arrive without a sound (off: every alert rings); with
    # quiet_digest they are not pushed at all and the digest tells them.
    quiet: str = Field(default="info", max_length=10, sa_column_kwargs={"server_default": "info"})
    quiet_digest: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})


chat_pref_t: Table = ChatPref.__table__  # type: ignore[attr-defined]
