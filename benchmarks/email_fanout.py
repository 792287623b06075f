"""Email fan-out to a 10,000-recipient group over a local SMTP server that accepts and
discards. Three lines in one run: (a) the ceiling, plain smtplib pushing pre-rendered
messages over one reused connection; (b) a naive loop, one new connection per message;
(c) prcast end to end (personalised rendering, delivery store, durable audit records), with
its default number of sending processes (the CPU count less one; `--processes N` to choose,
see prcast/delivery/fanout.py)
and, beside it, (c1) with `processes = 1` (one process, one event loop).
The server runs in a process of its own, as a real one does (in the benchmark's process it
would take the GIL from whatever runs there; the ceiling itself is the same either way).

    .venv/bin/python -m benchmarks.email_fanout --recipients 10000 --runs 5
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, timed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int) -> None:
    """The sink: accept every message and discard it (runs in its own process)."""
    import time

    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 discarded"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


class Sink:
    """The sink's process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.email_fanout", "--serve", str(self.port)],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the SMTP sink did not start")

    def cpu(self) -> float:
        """The sink's CPU time so far (user + system, seconds), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def own_cpu() -> float:
    """This process's CPU time and its reaped children's (a team's helpers), in seconds."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def workspace(root: Path, recipients: int, port: int, connections: int = 4) -> Any:
    from prcast.workspace import init_workspace

    ws, _ = init_workspace(root)
    with open(ws.lists_dir / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "beat"])
        for i in range(recipients):
            w.writerow([f"Journalist {i}", f"j{i}@outlet{i % 97}.example", "tech"])
    (ws.lists_dir / "groups.toml").write_text('[groups.press]\nwhere = { beat = "tech" }\n')
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(f'\n[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
                f'from_address = "Press <press@example.org>"\nconnections = {connections}\n')  # fmt: skip
    return ws


def figure(values: list[float]) -> Figure:
    return Figure(statistics.median(values), min(values), max(values), len(values))


def run(
    recipients: int, runs: int, connections: int = 4, processes: int | None = None
) -> dict[str, Any]:
    from prcast.channels.email import Composer
    from prcast.delivery import prepare, send

    server = Sink()
    port = server.port
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace(Path(tmp) / "render", recipients, port)
            plan = prepare(ws, "example", ["mail"], to=["press"])
            composer = Composer(ws.config.channels["mail"])  # type: ignore[arg-type]
            messages = [composer.message(d.post, d.key) for d in plan.deliveries]
            rcpts = [d.post.recipients[0] for d in plan.deliveries]

        #: CPU milliseconds a message: the sender's and the sink's, per line
        cpu: dict[str, list[tuple[float, float]]] = {"a": [], "c": [], "c1": []}

        def ceiling() -> float:
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                mine, sink = own_cpu(), server.cpu()
                t = timed(
                    lambda: [
                        smtp.sendmail("press@example.org", [r], m)
                        for r, m in zip(rcpts, messages, strict=True)
                    ]
                )
                cpu["a"].append(((own_cpu() - mine) * 1000 / len(messages),
                                 (server.cpu() - sink) * 1000 / len(messages)))  # fmt: skip
            return len(messages) / t

        def naive() -> float:
            def loop() -> None:
                for r, m in zip(rcpts, messages, strict=True):
                    with smtplib.SMTP("127.0.0.1", port) as smtp:
                        smtp.sendmail("press@example.org", [r], m)

            return len(messages) / timed(loop)

        def prcast_end_to_end(processes: int | None, line: str) -> float:
            with tempfile.TemporaryDirectory() as tmp:
                ws = workspace(Path(tmp) / "ws", recipients, port, connections)

                def go() -> None:
                    plan = prepare(ws, "example", ["mail"], to=["press"])
                    outcome = send(ws, plan, processes=processes)
                    assert outcome.ok, outcome.counts

                mine, sink = own_cpu(), server.cpu()
                rate = recipients / timed(go)
                cpu[line].append(((own_cpu() - mine) * 1000 / recipients,
                                  (server.cpu() - sink) * 1000 / recipients))  # fmt: skip
                return rate

        # each run measures the four lines back to back, so a ratio compares figures taken
        # within a minute of each other (on a shared machine the load moves between runs)
        values: dict[str, list[float]] = {"a": [], "b": [], "c": [], "c1": []}
        for _ in range(runs):
            values["a"].append(ceiling())
            values["b"].append(naive())
            values["c"].append(prcast_end_to_end(processes, "c"))
            values["c1"].append(prcast_end_to_end(1, "c1"))
        a, b, c, c1 = (figure(values[k]) for k in ("a", "b", "c", "c1"))
        pairs = list(zip(values["a"], values["c"], values["c1"], strict=True))
    finally:
        server.stop()
    from prcast.delivery.fanout import cpus

    return {"recipients": recipients, "connections": connections, "ceiling": a, "naive": b, "prcast": c,
            "single": c1, "processes": processes or max(1, min(cpus() - 1, 8, connections, recipients // 500)),
            "vs_ceiling": figure([cc / aa for aa, cc, _ in pairs]),
            "vs_naive": c.median / b.median,
            "single_vs_ceiling": figure([c1 / aa for aa, _, c1 in pairs]),
            "cpu": {k: (statistics.median(x for x, _ in v), statistics.median(y for _, y in v))
                    for k, v in cpu.items()}}  # fmt: skip


def report(r: dict[str, Any]) -> list[str]:
    (a_own, a_sink), (c_own, c_sink), (c1_own, c1_sink) = (r["cpu"][k] for k in ("a", "c", "c1"))
    return [
        f"email fan-out to {r['recipients']:,} recipients (messages/second):",
        f"  (a) ceiling, smtplib, one connection, pre-rendered: {r['ceiling'].show('msg/s')}",
        f"  (b) naive loop, a connection per message:           {r['naive'].show('msg/s')}",
        f"  (c) prcast end to end, {r['connections']} connections, {r['processes']} processes: {r['prcast'].show('msg/s')}",
        f"  (c1) the same, processes = 1:                     {r['single'].show('msg/s')}",
        f"  (c)/(a) = {r['vs_ceiling'].show('', 2)} (goal >= 0.8; per run, same run's ceiling)",
        f"  (c1)/(a) = {r['single_vs_ceiling'].show('', 2)}",
        f"  (c)/(b) = {r['vs_naive']:.2f} (goal >= 5)",
        "CPU a message (medians; the sender's, all its threads and helpers, + the sink's):",
        f"  (a) smtplib {a_own:.2f} ms + sink {a_sink:.2f} ms; (c) prcast {c_own:.2f} ms + sink {c_sink:.2f} ms;"
        f" (c1) {c1_own:.2f} ms + {c1_sink:.2f} ms",
        f"  with every core busy the rate is bound by CPU: (c)/(a) <= {(a_own + a_sink) / (c_own + c_sink):.2f}"
        " (the ratio of the two sums); with a core each, by the larger of prcast's and the sink's",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--connections", type=int, default=4, help="the email channel's connections"
    )
    parser.add_argument(
        "--processes", type=int, help="(c)'s sending processes (default: prcast's default)"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    result = run(args.recipients, args.runs, args.connections, args.processes)
    print("\n".join(report(result)))


if __name__ == "__main__":
    main()
