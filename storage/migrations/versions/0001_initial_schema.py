"""initial schema

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("body_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("last_polled_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_error_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failures_total", sa.Integer(), nullable=False),
        sa.Column("polls_total", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "story",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("title_sig", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("first_published_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_published_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.create_index("ix_story_last_published_at", ["last_published_at"], unique=False)

    op.create_table(
        "item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("publisher", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("published_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_seen_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feed.id"],
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["story.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("content_hash"),
        sa.UniqueConstraint("url"),
    )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index("ix_item_published_at", ["published_at"], unique=False)
        batch_op.create_index("ix_item_story_id", ["story_id"], unique=False)

    op.create_table(
        "sighting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("publisher", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("seen_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feed.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["item.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "entry_key", name="uq_sighting_feed_entry"),
    )
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.create_index("ix_sighting_item_id", ["item_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.drop_index("ix_sighting_item_id")

    op.drop_table("sighting")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_story_id")
        batch_op.drop_index("ix_item_published_at")

    op.drop_table("item")
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.drop_index("ix_story_last_published_at")

    op.drop_table("story")
    op.drop_table("feed")
