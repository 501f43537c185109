"""feed cadence: interval bounds, the adaptive interval, the dispatcher's index, the synced digest

Revision ID: 0009
Revises: 0008

Existing feeds keep their configured interval (the adaptive one starts empty, meaning the
configured one) until the next start syncs their bounds from the feeds file.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("synced_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_interval_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_interval_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("poll_interval_s", sa.Integer(), nullable=True))
        batch_op.create_index("ix_feed_next_poll_at", ["next_poll_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_next_poll_at")
        batch_op.drop_column("poll_interval_s")
        batch_op.drop_column("max_interval_s")
        batch_op.drop_column("min_interval_s")
    op.drop_table("feed_config")
