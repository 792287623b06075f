"""Shared helpers: repeat a measurement, summarise it, describe the machine; a throwaway
PostgreSQL server (also the tests' one, tests/pg.py)."""

from __future__ import annotations

import glob
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    median: float
    low: float
    high: float
    runs: int

    def show(self, unit: str, digits: int = 1) -> str:
        return f"{self.median:.{digits}f} {unit} (min {self.low:.{digits}f}, max {self.high:.{digits}f}, {self.runs} runs)"


def measure(fn: Callable[[], float], runs: int) -> Figure:
    """Run `fn` (which returns a figure) `runs` times."""
    values = [fn() for _ in range(runs)]
    return Figure(statistics.median(values), min(values), max(values), runs)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}, {platform.system()}"


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as Debian's postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server(
    folder_prefix: str, settings: str, missing: type[BaseException] = RuntimeError
) -> Iterator[str]:
    """A throwaway PostgreSQL server (Debian's package, initdb in a temporary folder named
    `folder_prefix`...) on loopback, started with `settings` (`-c name=value ...`); yields
    its URL. Raises `missing` when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise missing("PostgreSQL is not installed: `bash scripts/test` installs it (apt)")
    bin_dir = Path(found[-1]).parent
    # not under pytest's folder: the postgres user could not reach into root's
    data = Path(tempfile.mkdtemp(prefix=folder_prefix))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust",
                                 "-U", "pg"]), check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 {settings}"
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-o", options,
                                 "-l", str(data / "log"), "-w", "start"]), check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://pg@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "fast",
                                     "stop"]), capture_output=True)  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)


def fresh_database(server: str, prefix: str, hex_digits: int) -> str:
    """A new, empty database on the server (named `prefix` and random hex digits); its URL."""
    import psycopg

    name = f"{prefix}{uuid.uuid4().hex[:hex_digits]}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"
