"""A lease's heartbeat outlives a database that refuses its renewals for a while: it warns
once (naming the error, no password in it), keeps trying, and holds the lease again as
soon as the database takes writes. The causes are real: a lock another session holds
beyond the timeout (PostgreSQL and SQLite), a PostgreSQL connection cut by the server
while new connections are refused."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from prcast.delivery.claims import Lease
from prcast.store.database import Database
from tests.pg import fresh_database

#: seconds to wait for what a working heartbeat does at once (a loaded machine is slow)
PATIENCE = 300.0
PASSWORD = "lease-s3cret-pw"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition`; fail at once if the heartbeat thread is gone, or after PATIENCE."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        beating = any(t.name == "prcast-lease" and t.is_alive() for t in threading.enumerate())
        assert beating, f"the heartbeat thread died before {what}"
        assert time.monotonic() < deadline, f"not within {PATIENCE:.0f} s: {what}"
        time.sleep(0.05)


def lease_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in list(caplog.records) if r.name == "prcast.lease"]


def failed_tries(caplog: pytest.LogCaptureFixture) -> int:
    """How many renewals have failed so far: a warning for the first, a debug line each."""
    return sum(1 for r in lease_records(caplog) if r.levelno in (logging.WARNING, logging.DEBUG))


def check_warned_once(caplog: pytest.LogCaptureFixture, *naming: str) -> None:
    """One warning for the whole outage, naming the error (one of `naming`); no password
    in anything logged; a line when the lease is held again."""
    records = lease_records(caplog)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "could not renew the lease" in warnings[0], warnings[0]
    assert any(n in warnings[0] for n in naming), warnings[0]
    assert all(PASSWORD not in r.getMessage() for r in records)
    assert any("renewed again" in r.getMessage() for r in records if r.levelno == logging.INFO)


def pg_database(postgres: str, tmp_path: Path) -> tuple[Database, str]:
    """A fresh PostgreSQL database, reached by a URL with a password in it (the test
    server trusts loopback, so any password is taken); its name."""
    url = fresh_database(postgres)
    name = url.rsplit("/", 1)[1]
    with_password = url.replace("postgresql://pg@", f"postgresql://pg:{PASSWORD}@")
    return Database(url=with_password, schema="prcast", root=tmp_path), name


def pg_lease_until(db: psycopg.Connection[Any], owner: str) -> str:
    row = db.execute("SELECT lease_until FROM prcast.owners WHERE id = %s", (owner,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A 2-second lease (renewed every 0.7 s), its log captured."""
    monkeypatch.setenv("PRCAST_LEASE_SECONDS", "2")
    caplog.set_level(logging.DEBUG, logger="prcast.lease")


def test_a_lease_held_up_by_a_postgresql_lock_beyond_its_timeout_is_renewed_once_it_goes(
    postgres: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    short_lease: None,
) -> None:
    monkeypatch.setenv("PRCAST_DB_LOCK_TIMEOUT", "1")
    database, _ = pg_database(postgres, tmp_path)
    with psycopg.connect(database.url, autocommit=True) as other, Lease(database) as lease:
        with other.transaction():
            # another session holds the owners table (a runner stopped mid-write)
            other.execute("LOCK TABLE prcast.owners IN ACCESS EXCLUSIVE MODE")
            held = pg_lease_until(other, lease.id)
            wait_until(lambda: failed_tries(caplog) >= 2, "two renewals failed on the lock")
        wait_until(lambda: pg_lease_until(other, lease.id) > held, "the lease is renewed again")
    check_warned_once(caplog, "locked by another session")


def test_a_lease_whose_postgresql_connection_is_lost_is_renewed_on_a_new_one(
    postgres: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, short_lease: None
) -> None:
    database, name = pg_database(postgres, tmp_path)
    with (
        psycopg.connect(postgres, autocommit=True) as admin,
        psycopg.connect(database.url, autocommit=True) as reader,
        Lease(database) as lease,
    ):
        # The heartbeat connects at its first renewal and keeps that connection; counting
        # backends alone is not enough, as the one that registered the lease may linger in
        # pg_stat_activity for a moment after its client has closed it.
        registered = pg_lease_until(reader, lease.id)
        wait_until(lambda: pg_lease_until(reader, lease.id) > registered, "the first renewal")
        # the server cuts the heartbeat's connection and refuses new ones for a while
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> %s",
            (name, reader.info.backend_pid),
        )
        held = pg_lease_until(reader, lease.id)
        wait_until(lambda: failed_tries(caplog) >= 3, "renewing failed, then reconnecting")
        assert pg_lease_until(reader, lease.id) == held
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        wait_until(lambda: pg_lease_until(reader, lease.id) > held, "the lease is renewed again")
    # the server's words, or prcast's once psycopg has seen the connection is gone
    check_warned_once(caplog, "terminating connection due to administrator command", "was lost")


def test_a_lease_held_up_by_an_sqlite_write_lock_beyond_the_busy_timeout_is_renewed_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, short_lease: None
) -> None:
    """SQLite waits its busy timeout (a minute) before it gives up: this test takes that."""
    path = tmp_path / ".prcast" / "state.db"
    database = Database(path=path, root=tmp_path)
    with Lease(database) as lease:
        other = sqlite3.connect(path, isolation_level=None)
        try:

            def lease_until() -> str:
                row = other.execute(
                    "SELECT lease_until FROM owners WHERE id = ?", (lease.id,)
                ).fetchone()
                return str(row[0])

            other.execute("BEGIN IMMEDIATE")  # another process's write, never finished
            held = lease_until()
            wait_until(lambda: failed_tries(caplog) >= 1, "a renewal failed on the lock")
            other.execute("COMMIT")
            wait_until(lambda: lease_until() > held, "the lease is renewed again")
        finally:
            other.close()
    check_warned_once(caplog, "database is locked")
