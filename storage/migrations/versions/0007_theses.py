"""several theses: signals, the ledger and alerts name their thesis; chats choose theses

Revision ID: 0007
Revises: 0006

Rows from before name no thesis; they belong to the one thesis the bot ran then, whose name
the board row carries (board_state is keyed by thesis already). With no board row yet, the
shipped default thesis's name. Every existing chat follows every thesis (an empty list).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DEFAULT_THESIS = "chip-for-rare-earth"
_TABLES = ("signal", "transition", "alert")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "thesis",
                    sqlmodel.sql.sqltypes.AutoString(length=200),
                    server_default="",
                    nullable=False,
                )
            )
    with op.batch_alter_table("chat_pref", schema=None) as batch_op:
        batch_op.add_column(sa.Column("theses", sa.JSON(), server_default="[]", nullable=False))
    bind = op.get_bind()
    names = [row[0] for row in bind.execute(sa.text("SELECT thesis FROM board_state"))]
    # One board row is the thesis that wrote every row; none (or, never made by this code,
    # several): the shipped default.
    name = names[0] if len(names) == 1 else DEFAULT_THESIS
    for table in _TABLES:
        bind.execute(
            sa.text(f"UPDATE {table} SET thesis = :name WHERE thesis = ''"),  # noqa: S608
            {"name": name},
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_pref", schema=None) as batch_op:
        batch_op.drop_column("theses")
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("thesis")
