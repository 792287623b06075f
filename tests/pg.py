"""A throwaway PostgreSQL server for the whole test session (Debian's package, initdb in a
temporary folder), and a fresh database per test. Imported by the unit and integration
conftests, so the store's tests run on it as well as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.common import fresh_database as new_database
from benchmarks.common import postgres_server
from prcast.store.database import Database


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server (Debian's package) on loopback; yields its URL."""
    with postgres_server("prcast-postgres-", "-c fsync=off -c max_connections=300") as url:
        yield url


def fresh_database(server: str) -> str:
    """A new, empty database on the server; its URL."""
    return new_database(server, "t_", 16)


@pytest.fixture
def pg_url(postgres: str) -> str:
    """A fresh database of its own for one test."""
    return fresh_database(postgres)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A workspace's database, once as its SQLite file and once as a fresh PostgreSQL
    database: the store's tests run on both."""
    if request.param == "sqlite":
        return Database(path=tmp_path / ".prcast" / "state.db", root=tmp_path)
    url = fresh_database(request.getfixturevalue("postgres"))
    return Database(url=url, schema="prcast", root=tmp_path)
