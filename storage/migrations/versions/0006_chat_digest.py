"""chat digest: a daily or weekly "what changed" message per chat

Revision ID: 0006
Revises: 0005

Every existing chat starts with the digest off.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_pref", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "digest",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                server_default="off",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("digest_minute", sa.Integer(), server_default="480", nullable=False)
        )
        batch_op.add_column(
            sa.Column("digest_weekday", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("digest_due_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_digest_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_pref", schema=None) as batch_op:
        batch_op.drop_column("last_digest_at")
        batch_op.drop_column("digest_due_at")
        batch_op.drop_column("digest_weekday")
        batch_op.drop_column("digest_minute")
        batch_op.drop_column("digest")
