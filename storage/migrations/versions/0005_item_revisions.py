"""item revisions: a rewritten entry is kept and read again

Revision ID: 0005
Revises: 0004

Existing items are revision 1 and their signals belong to it; existing sightings have no text
hash yet and learn it on their next poll (so the upgrade itself triggers no re-evaluation).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("published_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("evaluated_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replaced_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feed.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "revision", name="uq_item_revision"),
    )

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))

    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("text_hash", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )

    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch_op.drop_constraint("uq_signal_item_rule", type_="unique")
        batch_op.create_unique_constraint(
            "uq_signal_item_revision_rule", ["item_id", "revision", "rule_id", "ruleset_version"]
        )


def downgrade() -> None:
    # Signals of later revisions would collide on the old key: keep the first revision's only.
    op.execute("DELETE FROM signal WHERE revision > 1")
    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.drop_constraint("uq_signal_item_revision_rule", type_="unique")
        batch_op.create_unique_constraint(
            "uq_signal_item_rule", ["item_id", "rule_id", "ruleset_version"]
        )
        batch_op.drop_column("revision")

    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.drop_column("text_hash")

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_column("revision")

    op.drop_table("item_revision")
