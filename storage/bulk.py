"""Bulk statements shaped for each database: many rows or keys in one statement, built once.

On PostgreSQL a batch goes as one array per column: ``INSERT ... SELECT unnest(...)`` and
``col = ANY(array)`` keep one statement text whatever the batch size, so the server prepares
it once, where a multi-row VALUES or an IN list of 200 parameters is parsed and planned anew
each time (twice the time per row here). SQLite runs executemany and IN lists in C.

On SQLite the inserts bypass SQLAlchemy's per-row parameter handling (about 15 us a row, as
much as SQLite's own work): values go through the columns' own bind processors, each distinct
value once per batch, and then straight to the driver as executemany. What is stored is what
SQLAlchemy would store. When ids must come back they are read back by rowid range (see
:meth:`_SQLiteInsert.run`): a multi-row ``VALUES ... RETURNING`` costs SQLite twice what
executemany does (about 12 us more an item row).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    ColumnElement,
    Connection,
    Dialect,
    Executable,
    Insert,
    Select,
    Table,
    UniqueConstraint,
    any_,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnClause

__all__ = ["Bulk", "Lookup", "Many", "one_of"]

# SQLite builds before 3.32 allow 999 parameters in a statement; later ones 32,766.
SQLITE_PARAMS = 999


def one_of(column: ColumnClause[Any] | ColumnElement[Any], name: str, pg: bool) -> Any:
    """``column`` equal to one of the list passed as parameter ``name``."""
    if pg:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


class _SQLiteInsert:
    """The driver-level form of one insert on SQLite, made once per engine's dialect."""

    def __init__(self, table: Table, columns: Sequence[str], returning: Sequence[str], d: Dialect):
        # Columns left out take their Python-side default, as SQLAlchemy's insert would give
        # them; a default computed per row (a callable, a sequence) keeps SQLAlchemy's path.
        others = [c for c in table.c if c.name not in columns and c.default is not None]
        self.usable = all(getattr(c.default, "is_scalar", False) for c in others)
        self.defaults = tuple(getattr(c.default, "arg", None) for c in others)
        names = (*columns, *(c.name for c in others))
        quote = d.identifier_preparer.quote
        listed = ", ".join(quote(c) for c in names)
        # Names from the table, quoted by the dialect; every value is a bound parameter.
        table_name = d.identifier_preparer.format_table(table)
        self.head = f"INSERT INTO {table_name} ({listed}) VALUES "  # noqa: S608
        self.row = "(" + ", ".join("?" * len(names)) + ")"
        self.tail = f" RETURNING {', '.join(quote(c) for c in returning)}" if returning else ""
        self.single = self.head + self.row
        self.per_statement = max(1, SQLITE_PARAMS // len(names))
        self.readback = self.by_key = ""
        pk = list(table.primary_key.columns)
        # A unique column among those inserted and returned names each new row for sure.
        key = next((c for c in returning if c in columns and _unique(table, c)), None)
        if returning and key is not None and len(pk) == 1 and pk[0].name not in columns:
            back = ", ".join(quote(c) for c in returning)
            rowid = quote(pk[0].name)
            self.key_at = names.index(key)
            self.key_back = returning.index(key)
            self.readback = (
                f"SELECT {back} FROM {table_name} WHERE {rowid} BETWEEN"  # noqa: S608
                f" last_insert_rowid() - ? AND last_insert_rowid() ORDER BY {rowid}"
            )
            self.by_key = f"SELECT {back} FROM {table_name} WHERE {quote(key)} IN "  # noqa: S608
        # Column positions with a bind processor (dates, JSON), and the processor.
        self.processors: list[tuple[int, Callable[[Any], Any]]] = []
        for i, c in enumerate(names):
            proc = table.c[c].type.dialect_impl(d).bind_processor(d)
            if proc is not None:
                self.processors.append((i, proc))

    def params(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        extra = self.defaults
        if not self.processors:
            return [row + extra for row in rows] if extra else list(rows)
        out = [[*row, *extra] for row in rows]
        for i, proc in self.processors:
            # A batch shares most of its dates (the time it was seen): each converted once.
            done: dict[Any, Any] = {}
            for row in out:
                value = row[i]
                if value is None:
                    continue
                try:
                    new = done.get(value)
                except TypeError:  # a JSON list or dict: no key to remember it by
                    row[i] = proc(value)
                    continue
                if new is None:
                    new = done[value] = proc(value)
                row[i] = new
        return [tuple(row) for row in out]

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        params = self.params(rows)
        if not self.tail:
            conn.exec_driver_sql(self.single, params)
            return []
        if self.readback:
            return self._read_back(conn, params)
        back: list[Any] = []
        step = self.per_statement
        for start in range(0, len(params), step):
            part = params[start : start + step]
            sql = self.head + ", ".join([self.row] * len(part)) + self.tail
            flat = tuple(value for row in part for value in row)
            back += conn.exec_driver_sql(sql, flat).all()
        return back

    def _read_back(self, conn: Connection, params: list[tuple[Any, ...]]) -> list[Any]:
        """executemany, then the new rows' returned columns read by rowid range.

        The first insert takes the database's write lock, so no other connection inserts
        until commit, and SQLite gives a row without an id the table's highest rowid plus one:
        the batch's rows are the last ``len(params)`` rowids up to ``last_insert_rowid()``.
        The unique column read back is compared with what was inserted, row for row; should
        the ids not be consecutive (SQLite picks them at random once the highest possible rowid
        is taken) the rows are read by that column instead.
        """
        conn.exec_driver_sql(self.single, params)
        back = list(conn.exec_driver_sql(self.readback, (len(params) - 1,)).all())
        at, got = self.key_at, self.key_back
        if len(back) == len(params) and all(
            b[got] == p[at] for b, p in zip(back, params, strict=True)
        ):
            return back
        keys = [p[at] for p in params]
        found: list[Any] = []
        for start in range(0, len(keys), SQLITE_PARAMS):
            part = keys[start : start + SQLITE_PARAMS]
            sql = self.by_key + "(" + ", ".join("?" * len(part)) + ")"
            found += conn.exec_driver_sql(sql, tuple(part)).all()
        return found


def _unique(table: Table, name: str) -> bool:
    """Whether column ``name`` of ``table`` is unique on its own."""
    if table.c[name].unique:
        return True
    return any(
        isinstance(c, UniqueConstraint) and [col.name for col in c.columns] == [name]
        for c in table.constraints
    ) or any(i.unique and [col.name for col in i.columns] == [name] for i in table.indexes)


class Bulk:
    """Inserts of whole batches into one table, returning columns if asked."""

    def __init__(self, table: Table, columns: Sequence[str], returning: Sequence[str] = ()) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.returning = tuple(returning)
        back = [table.c[c] for c in returning]
        plain: Insert = insert(table)
        self._rows: Executable = plain.returning(*back) if back else plain
        self._arrays: Executable | None = None
        self._sqlite: weakref.WeakKeyDictionary[Dialect, _SQLiteInsert] = (
            weakref.WeakKeyDictionary()
        )
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

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Insert ``rows`` (tuples of ``columns``, in order); the returned rows, if any."""
        if not rows:
            return []
        dialect = conn.dialect
        if dialect.name == "sqlite":
            sqlite = self._sqlite.get(dialect)
            if sqlite is None:
                sqlite = _SQLiteInsert(self.table, self.columns, self.returning, dialect)
                self._sqlite[dialect] = sqlite
            if sqlite.usable:
                return sqlite.run(conn, rows)
        if self._arrays is not None and dialect.name == "postgresql":
            by_column = zip(self.columns, zip(*rows, strict=True), strict=True)
            params = {c: list(values) for c, values in by_column}
            result = conn.execute(self._arrays, params)
        else:
            dicts = [dict(zip(self.columns, r, strict=True)) for r in rows]
            result = conn.execute(self._rows, dicts)
        return list(result) if result.returns_rows else []


_TEXTS = 256  # texts kept per lookup (one per combination of list lengths met)
_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


class _SQLiteLookup:
    """The driver-level form of one select on SQLite, made once per engine's dialect."""

    def __init__(self, statement: Select[Any], d: Dialect) -> None:
        compiled = statement.compile(dialect=d)
        # Rows go back as the driver gives them: only columns SQLAlchemy would not convert.
        columns = statement.selected_columns
        self.usable = compiled.positiontup is not None and all(
            c.type.dialect_impl(d).result_processor(d, None) is None for c in columns
        )
        self.order = tuple(compiled.positiontup or ())
        self.parts = _EXPANDING.split(str(compiled))  # text, list name, text, ...
        self.lists = frozenset(self.parts[1::2])
        self.texts: dict[tuple[int, ...], str] = {}

    def run(self, conn: Connection, params: dict[str, Any]) -> Sequence[Any]:
        lengths = tuple(len(params[name]) for name in self.parts[1::2])
        sql = self.texts.get(lengths)
        if sql is None:
            # An empty list is an empty IN (), which SQLite allows: nothing matches it.
            marks = iter(", ".join("?" * n) for n in lengths)
            sql = "".join(p if i % 2 == 0 else next(marks) for i, p in enumerate(self.parts))
            if len(self.texts) >= _TEXTS:
                self.texts.clear()
            self.texts[lengths] = sql
        flat: list[Any] = []
        for name in self.order:
            if name in self.lists:
                flat += params[name]
            else:
                flat.append(params[name])
        return conn.exec_driver_sql(sql, tuple(flat)).all()


class Lookup:
    """A select testing columns against lists (:func:`one_of`), one form per database.

    SQLAlchemy renders an expanding ``IN`` anew at every execution, which costs more than
    SQLite's answer to a batch's lookup; on SQLite the text is made once per list lengths
    and the values go straight to the driver (when no selected column needs converting).
    """

    def __init__(self, sqlite: Select[Any], postgresql: Select[Any]) -> None:
        self.sqlite = sqlite
        self.postgresql = postgresql
        self._driver: weakref.WeakKeyDictionary[Dialect, _SQLiteLookup] = (
            weakref.WeakKeyDictionary()
        )

    def run(self, conn: Connection, params: dict[str, Any]) -> Sequence[Any]:
        """The rows, as tuples of the selected columns."""
        dialect = conn.dialect
        if dialect.name == "postgresql":
            return conn.execute(self.postgresql, params).all()
        if dialect.name == "sqlite":
            driver = self._driver.get(dialect)
            if driver is None:
                driver = self._driver[dialect] = _SQLiteLookup(self.sqlite, dialect)
            if driver.usable:
                return driver.run(conn, params)
        return conn.execute(self.sqlite, params).all()


class _SQLiteMany:
    """One statement's text and parameter conversions on SQLite, made once per dialect."""

    def __init__(self, statement: Executable, d: Dialect) -> None:
        compiled = statement.compile(dialect=d)  # type: ignore[attr-defined]
        self.sql = str(compiled)
        self.order = tuple(compiled.positiontup or ())
        self.usable = compiled.positiontup is not None and "POSTCOMPILE" not in self.sql
        procs = {name: compiled.binds[name].type._cached_bind_processor(d) for name in self.order}
        self.procs = tuple(procs[name] for name in self.order)

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            row[name] if proc is None else proc(row[name])
            for name, proc in zip(self.order, self.procs, strict=True)
        )


class Many:
    """A statement run for many parameter sets (executemany); on SQLite straight to the driver.

    SQLAlchemy's executemany converts each row's parameters in Python, as much as SQLite's
    own work on a short UPDATE; here each value goes through its bind processor once and the
    text is compiled once.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._sqlite: weakref.WeakKeyDictionary[Dialect, _SQLiteMany] = weakref.WeakKeyDictionary()

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        if dialect.name == "sqlite":
            driver = self._sqlite.get(dialect)
            if driver is None:
                driver = self._sqlite[dialect] = _SQLiteMany(self.statement, dialect)
            if driver.usable:
                conn.exec_driver_sql(driver.sql, [driver.params(row) for row in rows])
                return
        conn.execute(self.statement, list(rows))
