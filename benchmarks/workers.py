"""Team mode: fan-out of one scheduled release to 5,000 recipients on an SMTP server that
takes 50 ms per message (aiosmtpd, a handler that sleeps), sent by 1, 2 and 4 `prcast
worker` processes sharing a PostgreSQL database (started here: Debian's package, initdb
in a temporary folder). Throughput is counted on the server, from its first message to its
last; the ratios are to one worker, measured in the same run.

    .venv/bin/python -m benchmarks.workers --recipients 5000 --workers 1,2,4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, machine, postgres_server
from benchmarks.email_fanout import free_port, workspace

LATENCY = 0.05


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback; yields its URL."""
    with postgres_server("prcast-bench-pg-", "-c max_connections=200", SystemExit) as url:
        yield url


class SlowServer:
    """aiosmtpd whose every message takes LATENCY seconds; it notes when each arrives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.arrivals: list[float] = []
        server = self

        class Slow:
            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
                await asyncio.sleep(LATENCY)
                server.arrivals.append(time.monotonic())
                return "250 2.0.0 queued"

        self.controller = Controller(Slow(), hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port

    def stop(self) -> None:
        self.controller.stop()


def one(server: str, recipients: int, count: int, tmp: Path) -> float:
    """Messages per second with `count` workers."""
    smtp = SlowServer()
    env = {**os.environ, "PRCAST_DATABASE_URL": fresh_database(server, "bench_", 12),
           "PRCAST_TEAM_SPREAD": str(count)}  # fmt: skip
    env.pop("PRCAST_WORKSPACE", None)
    procs = []
    try:
        root = workspace(tmp / f"ws{count}", recipients, smtp.port).root
        for i in range(count):
            folder = tmp / f"w{count}-{i}"
            folder.mkdir()
            procs.append(subprocess.Popen([sys.executable, "-m", "prcast", "worker"], cwd=folder,
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        due = (datetime.now(UTC) + timedelta(seconds=3)).isoformat(timespec="seconds")
        subprocess.run([sys.executable, "-m", "prcast", "--workspace", str(root), "schedule", "add",
                        "example", "-c", "mail", "--to", "press", "--at", due],
                       env=env, check=True, capture_output=True)  # fmt: skip
        deadline = time.monotonic() + 60 + recipients * LATENCY * 2
        while len(smtp.arrivals) < recipients:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"{count} worker(s): {len(smtp.arrivals)} of {recipients} sent")
            time.sleep(0.05)
        first, last = smtp.arrivals[0], smtp.arrivals[-1]
        return (len(smtp.arrivals) - 1) / max(last - first, 1e-6)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        smtp.stop()


def run(recipients: int, counts: list[int]) -> dict[int, float]:
    with postgres() as server, tempfile.TemporaryDirectory() as tmp:
        return {n: one(server, recipients, n, Path(tmp)) for n in counts}


def report(recipients: int, figures: dict[int, float]) -> list[str]:
    base = figures[min(figures)]
    lines = [
        f"team mode: fan-out to {recipients:,} recipients, SMTP {LATENCY * 1000:.0f} ms per message,"
        " 4 connections per worker",
        f"  machine: {machine()}",
    ]
    for n, rate in sorted(figures.items()):
        lines.append(f"  {n} worker(s): {rate:7.1f} msg/s   ratio to one worker: {rate / base:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=5_000)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # clean up when stopped
    counts = sorted({int(n) for n in args.workers.split(",")})
    print("\n".join(report(args.recipients, run(args.recipients, counts))))


if __name__ == "__main__":
    main()
