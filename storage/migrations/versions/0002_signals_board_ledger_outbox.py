"""signals board ledger outbox

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "board_state",
        sa.Column("thesis", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("ruleset_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("thesis"),
    )
    op.create_table(
        "transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("leg", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("old_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("new_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("ruleset_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transition", schema=None) as batch_op:
        batch_op.create_index("ix_transition_leg_at", ["leg", "at"], unique=False)

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("leg", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("old_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("new_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.Column("transition_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["story.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transition_id"],
            ["transition.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_created_at", ["created_at"], unique=False)

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "target", name="uq_delivery_alert_target"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_status_next", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "signal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("ruleset_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("leg", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("effect", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("hedged", sa.Boolean(), nullable=False),
        sa.Column("tickers", sa.JSON(), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["item.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "rule_id", "ruleset_version", name="uq_signal_item_rule"),
    )
    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.create_index("ix_signal_leg_created", ["leg", "created_at"], unique=False)

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("evaluated_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_item_evaluated_at", ["evaluated_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_evaluated_at")
        batch_op.drop_column("evaluated_at")

    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.drop_index("ix_signal_leg_created")

    op.drop_table("signal")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_status_next")

    op.drop_table("delivery")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_created_at")

    op.drop_table("alert")
    with op.batch_alter_table("transition", schema=None) as batch_op:
        batch_op.drop_index("ix_transition_leg_at")

    op.drop_table("transition")
    op.drop_table("board_state")
