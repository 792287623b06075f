"""What differs between database engines, in one place: connecting, starting a write
transaction, placeholders and the few type names DDL needs. The Store writes portable SQL
with `?` placeholders; a dialect runs it. SQLite is the embedded default; a PostgreSQL
dialect is the same interface over psycopg."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the Store uses; rows are looked up by column name."""

    serial: str
    #: what a SELECT that picks rows to claim ends with: lock them, skipping those taken
    skip_locked: str
    #: what a SELECT of a row to change in this transaction ends with: lock it
    for_update: str

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor: ...

    def transaction(self, exclusive: bool = True) -> Any: ...

    def lock(self, name: str) -> None: ...

    def try_lock(self, name: str) -> bool: ...

    def prepare(self) -> None: ...

    def reset_serial(self, table: str, column: str) -> None: ...

    def has_table(self, name: str) -> bool: ...

    def table_names(self) -> list[str]: ...

    def columns(self, table: str) -> list[str]: ...

    def close(self) -> None: ...


class SQLite:
    """SQLite in WAL mode. Every statement outside `transaction()` commits on its own."""

    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
    skip_locked = ""  # the write transaction holds the whole database
    for_update = ""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=60)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # the fsynced audit log is the durable record; the store may lose its last commits
        # in a power cut, and resume trusts the log over it
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.depth = 0

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self.db.execute(sql, tuple(args))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        return self.db.executemany(sql, rows)

    @contextmanager
    def transaction(self, exclusive: bool = True) -> Iterator[SQLite]:
        """One atomic write: taken with the write lock up front (BEGIN IMMEDIATE), so two
        processes' compare-and-set never interleave, exclusive or not. Nested calls join the
        outer one."""
        if self.depth:
            self.depth += 1
            try:
                yield self
            finally:
                self.depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self.depth = 1
        try:
            yield self
        except BaseException:
            self.depth = 0
            self.db.execute("ROLLBACK")
            raise
        self.depth = 0
        self.db.execute("COMMIT")

    def lock(self, name: str) -> None:
        """Nothing to take: a transaction holds the write lock of the whole database."""

    def try_lock(self, name: str) -> bool:
        return True

    def prepare(self) -> None:
        """Nothing to make: the file is the database."""

    def reset_serial(self, table: str, column: str) -> None:
        """AUTOINCREMENT follows the largest id by itself."""

    def table_names(self) -> list[str]:
        rows = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%'"
            " ESCAPE '!' ORDER BY name"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def columns(self, table: str) -> list[str]:
        return [str(r[1]) for r in self.db.execute(f"PRAGMA table_info({table})").fetchall()]

    def has_table(self, name: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def close(self) -> None:
        self.db.close()


class Row(tuple[Any, ...]):
    """A result row addressable like sqlite3.Row: by position or by column name."""

    names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


def _rows(cursor: Any) -> Any:
    """psycopg row factory making `Row`s."""
    names = {d.name: i for i, d in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Row:
        return Row(values, names)

    return make


@functools.lru_cache(maxsize=512)
def placeholders(sql: str) -> str:
    """`?` placeholders as psycopg's `%s`, except inside a quoted string or identifier;
    every literal `%` doubled (psycopg reads `%` everywhere, quoted or not)."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""  # a doubled quote closes and reopens: the same either way
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


#: a schema name prcast accepts: no quoting needed anywhere
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgreSQL:
    """PostgreSQL through psycopg 3, every workspace in a schema of its own. Statements
    outside `transaction()` commit on their own (autocommit)."""

    serial = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    for_update = " FOR UPDATE"

    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        if not SCHEMA_NAME.match(schema):
            raise ValueError(f"bad schema name {schema!r}")
        self.schema = schema
        self.db = psycopg.connect(url, autocommit=True, row_factory=_rows)
        # the schema may not exist yet (the first migration makes it); naming it is harmless
        self.db.execute(f"SET search_path TO {schema}")
        self.depth = 0

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self.db.execute(placeholders(sql), tuple(args))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        cur = self.db.cursor()
        batch = [tuple(r) for r in rows]
        if batch:
            cur.executemany(placeholders(sql), batch)
        return cur

    @contextmanager
    def transaction(self, exclusive: bool = True) -> Iterator[PostgreSQL]:
        """One atomic write. Exclusive (the default) also takes this schema's write lock,
        as SQLite's BEGIN IMMEDIATE does: read-then-write steps never interleave. Claims
        take rows with SKIP LOCKED instead and need no write lock. Nested calls join."""
        if self.depth:
            self.depth += 1
            try:
                if exclusive:
                    self.lock("write")
                yield self
            finally:
                self.depth -= 1
            return
        self.db.execute("BEGIN")
        self.depth = 1
        try:
            if exclusive:
                self.lock("write")
            yield self
        except BaseException:
            self.depth = 0
            import psycopg

            try:
                if not self.db.closed:
                    self.db.execute("ROLLBACK")
            except psycopg.Error:  # the connection is gone: the server rolled back
                pass
            raise
        self.depth = 0
        self.db.execute("COMMIT")

    def lock(self, name: str) -> None:
        """Wait for this schema's lock `name`, held to the end of the transaction."""
        self.db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{self.schema}:{name}",)
        )

    def try_lock(self, name: str) -> bool:
        """Take this schema's lock `name` unless another transaction holds it."""
        row = self.db.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", (f"{self.schema}:{name}",)
        ).fetchone()
        return bool(row and row[0])

    def prepare(self) -> None:
        """Make this workspace's schema (in the migration's transaction)."""
        self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")

    def has_table(self, name: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (self.schema, name),
        ).fetchone()
        return row is not None

    def table_names(self) -> list[str]:
        rows = self.db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " ORDER BY table_name",
            (self.schema,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def columns(self, table: str) -> list[str]:
        rows = self.db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = %s ORDER BY ordinal_position",
            (self.schema, table),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def reset_serial(self, table: str, column: str) -> None:
        """After rows were copied in with their ids: the next id follows the largest."""
        self.db.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
            f" COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        )

    def close(self) -> None:
        self.db.close()
