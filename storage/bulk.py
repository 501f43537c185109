"""Bulk statements shaped for each database: many rows or keys in one statement, built once.

On PostgreSQL a batch goes as one array per column: ``INSERT ... SELECT unnest(...)`` and
``col = ANY(array)`` keep one statement text whatever the batch size, so the server prepares
it once, where a multi-row VALUES or an IN list of 200 parameters is parsed and planned anew
each time (twice the time per row here). SQLite runs executemany and IN lists in C.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    ColumnElement,
    Connection,
    Executable,
    Insert,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnClause

__all__ = ["Bulk", "one_of"]


def one_of(column: ColumnClause[Any] | ColumnElement[Any], name: str, pg: bool) -> Any:
    """``column`` equal to one of the list passed as parameter ``name``."""
    if pg:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


class Bulk:
    """Inserts of whole batches into one table, returning columns if asked."""

    def __init__(self, table: Table, columns: Sequence[str], returning: Sequence[str] = ()) -> None:
        self.columns = tuple(columns)
        back = [table.c[c] for c in returning]
        plain: Insert = insert(table)
        self._rows: Executable = plain.returning(*back) if back else plain
        self._arrays: Executable | None = None
        # A JSON value cannot be an element of a PostgreSQL array: such tables go row by row.
        if not any(isinstance(table.c[c].type, JSON) for c in self.columns):
            arrays: list[BindParameter[Any]] = [
                bindparam(c, type_=ARRAY(table.c[c].type)) for c in self.columns
            ]
            unnest = select(
                *[func.unnest(a).label(c) for a, c in zip(arrays, self.columns, strict=True)]
            )
            from_arrays = insert(table).from_select(list(self.columns), unnest)
            self._arrays = from_arrays.returning(*back) if back else from_arrays

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """Insert ``rows`` (dicts holding exactly ``columns``); the returned rows, if any."""
        if self._arrays is not None and conn.dialect.name == "postgresql":
            params = {c: [row[c] for row in rows] for c in self.columns}
            result = conn.execute(self._arrays, params)
        else:
            result = conn.execute(self._rows, list(rows))
        return list(result) if result.returns_rows else []
