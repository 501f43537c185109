"""one push per story, and quiet (silent or digest-only) alerts per chat

Revision ID: 0008
Revises: 0007

Existing alerts stay pushes of their own (push_id NULL); every existing chat gets the default:
info alerts arrive silently, everything else rings, nothing is held for the digest.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("chat_pref", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "quiet",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                server_default="info",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("quiet_digest", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_pref", schema=None) as batch_op:
        batch_op.drop_column("quiet_digest")
        batch_op.drop_column("quiet")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("push_id")
