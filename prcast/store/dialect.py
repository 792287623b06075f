"""What differs between database engines, in one place: connecting, starting a write
transaction, placeholders and the few type names DDL needs. The Store writes portable SQL
with `?` placeholders; a dialect runs it. SQLite is the embedded default; a PostgreSQL
dialect is the same interface over psycopg."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from prcast.errors import StorageError, storage_reason


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


#: SQLite's result codes for a disk that refuses a write (full, failing, read-only, a file
#: it cannot create there)
_DISK_REFUSED = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN}
)


#: a state database that cannot be opened: even a command that only reads writes beside it
_OPEN_HINT = (
    "free space on that disk (or make it writable): SQLite writes its -wal and -shm files"
    " beside the database even to read it; then run the command again"
)
_OPEN_STOPPED = "stopped here"


class SQLite:
    """SQLite in WAL mode. Every statement outside `transaction()` commits on its own."""

    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
    skip_locked = ""  # the write transaction holds the whole database
    for_update = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.opened = False  # until then a refusal stops a command before it did anything
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, timeout=60)
        except OSError as exc:  # a read-only or full disk, before SQLite is asked
            raise self._storage(storage_reason(exc)) from None
        except sqlite3.OperationalError as exc:
            raise self._refused(exc) from None
        self.db.row_factory = sqlite3.Row
        try:
            self._enter_wal()
            # the fsynced audit log is the durable record; the store may lose its last
            # commits in a power cut, and resume trusts the log over it
            self.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            self.db.close()
            raise
        self.opened = True
        self.depth = 0

    def _enter_wal(self, patience: float = 60.0) -> None:
        """Switch the file to WAL. SQLite answers a mode change that meets another
        connection's lock with "database is locked" at once, without its busy handler: several
        processes opening a new file together must wait for each other here themselves."""
        deadline = time.monotonic() + patience
        pause = 0.005
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise self._refused(exc) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        try:
            return self.db.execute(sql, tuple(args))
        except sqlite3.OperationalError as exc:
            raise self._refused(exc) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        try:
            return self.db.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise self._refused(exc) from None

    def _refused(self, exc: sqlite3.OperationalError) -> Exception:
        """A disk that refuses the write (full, failing, read-only) as one clear error;
        any other error as it is, for the caller."""
        if (exc.sqlite_errorcode & 0xFF) not in _DISK_REFUSED:  # (the primary code)
            return exc
        return self._storage(str(exc))

    def _storage(self, reason: str) -> StorageError:
        """The disk refused the state database: once it is open, a run stopped (resume
        finishes it); before, the command did not start (run it again)."""
        if self.opened:
            return StorageError("the state database", self.path, reason)
        return StorageError("the state database", self.path, reason, _OPEN_HINT, _OPEN_STOPPED)

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
        self.execute("BEGIN IMMEDIATE")
        self.depth = 1
        try:
            yield self
            self.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite rolls back by itself on a full disk
                # a ROLLBACK that fails too (a disk gone) must not hide the first error
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise
        finally:
            self.depth = 0

    def lock(self, name: str) -> None:
        """Nothing to take: a transaction holds the write lock of the whole database."""

    def try_lock(self, name: str) -> bool:
        return True

    def prepare(self) -> None:
        """Nothing to make: the file is the database."""

    def reset_serial(self, table: str, column: str) -> None:
        """AUTOINCREMENT follows the largest id by itself."""

    def table_names(self) -> list[str]:
        rows = self.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%'"
            " ESCAPE '!' ORDER BY name"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def columns(self, table: str) -> list[str]:
        return [str(r[1]) for r in self.execute(f"PRAGMA table_info({table})").fetchall()]

    def has_table(self, name: str) -> bool:
        row = self.execute(
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


#: seconds to wait for a PostgreSQL server's first answer (unless the URL sets connect_timeout)
CONNECT_TIMEOUT = 10
#: how long a statement waits for a lock another session holds (seconds; default 120)
LOCK_TIMEOUT_ENV = "PRCAST_DB_LOCK_TIMEOUT"


def lock_timeout_seconds() -> int:
    try:
        return max(1, int(os.environ.get(LOCK_TIMEOUT_ENV, "") or 120))
    except ValueError:
        return 120


#: what PostgreSQL answers when it rolls back one of two transactions that wait for each
#: other (or, above READ COMMITTED, that cannot both stand): one clear error, never a traceback
GAVE_UP = {"40P01": "a deadlock", "40001": "a serialization failure"}

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
        logging.getLogger("psycopg").addHandler(logging.NullHandler())  # errors: ours to say
        self.schema = schema
        self.url = url
        # a server that accepts the connection and never answers must not hang prcast
        timeout: dict[str, Any] = {}
        if "connect_timeout" not in url:
            timeout["connect_timeout"] = CONNECT_TIMEOUT
        self.db = psycopg.connect(url, autocommit=True, row_factory=_rows, **timeout)
        # the schema may not exist yet (the first migration makes it); naming it is harmless
        self.db.execute(f"SET search_path TO {schema}")
        # a lock held by a session that stopped (a suspended laptop mid-write) is waited
        # for this long, then one clear error; never a hang
        self.db.execute(f"SET lock_timeout = '{lock_timeout_seconds()}s'")
        self.depth = 0

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """A lost connection, or a lock waited for too long, as one clear error."""
        import psycopg

        try:
            yield
        except psycopg.OperationalError as exc:
            from prcast.errors import DeliveryError
            from prcast.store.database import hide_password, hide_passwords_in

            where = f"{hide_password(self.url)} (schema {self.schema})"
            reason = hide_passwords_in(str(exc), self.url)
            if exc.sqlstate == "55P03":  # lock_not_available: lock_timeout ran out
                raise DeliveryError(
                    f"the database {where} is locked by another session for more than"
                    f" {lock_timeout_seconds()} s: stopped here, nothing more was done",
                    hint="a prcast process stopped mid-write elsewhere? (pg_stat_activity"
                    f" shows it); then `prcast resume`. {LOCK_TIMEOUT_ENV} sets the wait",
                ) from None
            if exc.sqlstate in GAVE_UP:  # the server rolled back this transaction
                raise DeliveryError(
                    f"the database {where} rolled back a transaction that met another"
                    f" session's ({GAVE_UP[exc.sqlstate]}): stopped here, nothing more was done",
                    hint="`prcast resume` finishes the run (what was in flight follows the"
                    " in-doubt rules)",
                ) from None
            if exc.sqlstate is not None and not self.db.broken and not self.db.closed:
                raise  # an error of the statement, for the caller to handle
            raise DeliveryError(
                f"the connection to the database {where} was lost ({reason}):"
                " stopped here, nothing more was done",
                hint="when the database is back, `prcast resume` finishes the run"
                " (what was in flight follows the in-doubt rules)",
            ) from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        with self._guarded():
            return self.db.execute(placeholders(sql), tuple(args))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        with self._guarded():
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
        self.execute("BEGIN")
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
        self.execute("COMMIT")

    def lock(self, name: str) -> None:
        """Wait for this schema's lock `name`, held to the end of the transaction."""
        with self._guarded():
            self.db.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"{self.schema}:{name}",),
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
