"""Fixtures for team mode: a fresh database on the PostgreSQL server per test, and
`prcast worker` processes, each in its own empty folder (a machine of its own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: short leases and heartbeats, so a dead worker is noticed within seconds
LEASE = "3"


@pytest.fixture
def team_db(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database of its own for the test, set as PRCAST_DATABASE_URL, with short
    leases so a dead worker is noticed within seconds."""
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    monkeypatch.setenv("PRCAST_LEASE_SECONDS", LEASE)
    return pg_url


@dataclass
class Worker:
    name: str
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.folder / "worker.log").read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@dataclass
class Workers:
    started: list[Worker] = field(default_factory=list)

    def alive(self) -> list[Worker]:
        return [w for w in self.started if w.process.poll() is None]


def start_worker(root: Path, name: str, env: dict[str, str], *args: str) -> Worker:
    """`prcast worker` in an empty folder of its own, with a home of its own (its own
    signing key): nothing shared with the workspace or the other workers but the database."""
    folder = root / name
    folder.mkdir(parents=True)
    own_home = folder / "home"
    own_home.mkdir()
    out = open(folder / "worker.log", "wb")  # noqa: SIM115 - closed when the process ends
    process = subprocess.Popen(
        [sys.executable, "-m", "prcast", "worker", *args],
        cwd=folder, stdout=out, stderr=subprocess.STDOUT,
        env={**env, "HOME": str(own_home), "XDG_CONFIG_HOME": str(own_home / ".config")},
    )  # fmt: skip
    out.close()
    return Worker(name, folder, process)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers (killed at the end of the test); wait until each says it is up."""
    crew = Workers()

    def start(name: str, env: dict[str, str], *args: str) -> Worker:
        worker = start_worker(tmp_path / "machines", name, env, *args)
        crew.started.append(worker)
        until(lambda: "prcast worker pid" in worker.log or worker.process.poll() is not None, 60)
        assert worker.process.poll() is None, worker.log
        return worker

    yield start
    for worker in crew.alive():
        worker.process.send_signal(signal.SIGTERM)
    for worker in crew.started:
        try:
            worker.process.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()


def until(condition: Callable[[], bool], seconds: float, what: str = "") -> None:
    """Poll `condition` (every 10 ms) until it holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what or condition}")
        time.sleep(0.01)


def base_env() -> dict[str, str]:
    return dict(os.environ)
