"""A throwaway PostgreSQL server for the whole test session (Debian's package, initdb in a
temporary folder), and a fresh database per test. Imported by the unit and integration
conftests, so the store's tests run on it as well as on SQLite."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prcast.store.database import Database


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as Debian's postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server (Debian's package) on loopback; yields its URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `bash scripts/test` installs it (apt)")
    bin_dir = Path(found[-1]).parent
    # not under pytest's folder: the postgres user could not reach into root's
    data = Path(tempfile.mkdtemp(prefix="prcast-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust",
                                 "-U", "pg"]), check=True, capture_output=True)  # fmt: skip
    options = (
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    )
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-o", options,
                                 "-l", str(data / "log"), "-w", "start"]), check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://pg@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "fast",
                                     "stop"]), capture_output=True)  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)


def fresh_database(server: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


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
