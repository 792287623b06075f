"""What differs between database engines, in one place: connecting, starting a write
transaction, placeholders and the few type names DDL needs. The Store writes portable SQL
with `?` placeholders; a dialect runs it. SQLite is the embedded default; a PostgreSQL
dialect is the same interface over psycopg."""

from __future__ import annotations

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

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor: ...

    def transaction(self) -> Any: ...

    def has_table(self, name: str) -> bool: ...

    def close(self) -> None: ...


class SQLite:
    """SQLite in WAL mode. Every statement outside `transaction()` commits on its own."""

    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

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
    def transaction(self) -> Iterator[SQLite]:
        """One atomic write: taken with the write lock up front (BEGIN IMMEDIATE), so two
        processes' compare-and-set never interleave. Nested calls join the outer one."""
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

    def has_table(self, name: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def close(self) -> None:
        self.db.close()
