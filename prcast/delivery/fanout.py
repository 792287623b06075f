"""One run sent by several OS processes: where one event loop is the bound (a large email
run spends its time in Python, not waiting for the server), the process that plans the run
starts helpers that share it through the ordinary claims (claims.py), exactly as several
`prcast resume` processes would.

- The team's size: the channel's `processes` setting or `--processes`, by default the CPU
  count less one (a core is left to the relay, the database and the rest of the machine:
  on a 2-core machine the measured team of two was slower than one process, see
  benchmarks/RESULTS.md); never more than the channel's connections, and (by default) one
  process per 500 messages at most. Only channels whose settings have `processes` are shared (email).
- The channel's `connections` and `max_per_minute` are split between the processes, so the
  whole team holds as many connections as configured: after a crash of everything at most
  that many messages are in doubt, as with one process.
- Each process walks its own slice of the run and then helps with the others' (engine.py
  `_Work`); a helper that dies leaves its claims to the first process, which takes them
  over when the helpers are gone, as `prcast resume` would (its in-flight messages are
  then in doubt).
- Helpers report their progress on a pipe; the first process shows it and reads the
  outcome of every delivery from the store at the end. Ctrl-C or SIGTERM to it stops them.

`python -m prcast.delivery.fanout ROOT RUN INDEX TEAM RESEND` runs one helper (the first
process starts them; not a command for people)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from prcast.config import ChannelConfig
    from prcast.delivery.engine import Event
    from prcast.store import DeliveryRow
    from prcast.workspace import Workspace

#: by default, at most one process per this many messages of a channel (a process costs
#: about half a second of start-up)
MESSAGES_PER_PROCESS = 500
#: by default, never more processes than this
MAX_DEFAULT = 8
#: how often a helper passes its progress on (seconds)
REPORT_EVERY = 0.1

C = TypeVar("C", bound="ChannelConfig")


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Share:
    """This process's part of a team: its number (0: the first) and, per shared channel,
    how many processes send it."""

    index: int
    processes: Mapping[str, int]

    def connections(self, total: int, channel: str) -> int:
        """This process's share of `total` (the first ones get the remainder)."""
        count = self.processes.get(channel, 1)
        return total // count + (1 if self.index < total % count else 0)

    def config(self, config: C) -> C:
        """The channel's settings for this process: its share of the connections and of
        the rate limit."""
        count = self.processes.get(config.name, 1)
        total = getattr(config, "connections", None)
        if count <= 1 or not isinstance(total, int):
            return config
        mine = self.connections(total, config.name)
        changes: dict[str, Any] = {"connections": mine}
        if config.max_per_minute:
            changes["max_per_minute"] = max(1, config.max_per_minute * mine // total)
        return dataclasses.replace(config, **changes)


def team_size(config: ChannelConfig, messages: int, wanted: int | None = None) -> int:
    """How many processes send `messages` of a channel: `wanted` (--processes), else its
    `processes` setting, else the CPU count less one, capped as the module says."""
    if not hasattr(config, "processes"):
        return 1  # a channel that cannot be shared
    connections = int(getattr(config, "connections", 1) or 1)
    chosen = wanted or getattr(config, "processes", None)
    if chosen is None:
        spare = cpus() - 1
        return max(1, min(spare, MAX_DEFAULT, connections, messages // MESSAGES_PER_PROCESS))
    return max(1, min(int(chosen), connections, messages))


def plan_team(ws: Workspace, pending: list[DeliveryRow], wanted: int | None) -> dict[str, int]:
    """Per channel of the pending deliveries that more than one process is to send: how many."""
    counts: dict[str, int] = {}
    for row in pending:
        counts[row.channel] = counts.get(row.channel, 0) + 1
    team = {}
    for channel, messages in counts.items():
        size = team_size(ws.config.channel(channel), messages, wanted)
        if size > 1:
            team[channel] = size
    return team


def _event_line(event: Event) -> bytes:
    return (json.dumps(dataclasses.asdict(event), ensure_ascii=False) + "\n").encode("utf-8")


class Helpers:
    """The helper processes of a run, started by its first process: their progress is
    passed to `on_event` (from one reader thread each, under one lock)."""

    def __init__(
        self,
        ws: Workspace,
        run_id: str,
        team: Mapping[str, int],
        on_event: Callable[[Event], None],
        resend_in_doubt: bool,
    ) -> None:
        self.ws, self.run_id, self.team = ws, run_id, dict(team)
        self.on_event = on_event
        self.resend_in_doubt = resend_in_doubt
        self.lock = threading.Lock()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.readers: list[threading.Thread] = []

    def event(self, event: Event) -> None:
        """`on_event`, one call at a time whichever thread calls it."""
        with self.lock:
            self.on_event(event)

    @property
    def pids(self) -> set[int]:
        return {p.pid for p in self.processes}

    def start(self) -> None:
        size = max(self.team.values())
        for index in range(1, size):
            command = [sys.executable, "-m", "prcast.delivery.fanout", str(self.ws.root),
                       self.run_id, str(index), json.dumps(self.team),
                       "resend" if self.resend_in_doubt else "-"]  # fmt: skip
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # a helper reports its errors on the pipe
                start_new_session=False,
            )
            self.processes.append(process)
            reader = threading.Thread(target=self._read, args=(process,), daemon=True)
            reader.start()
            self.readers.append(reader)

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        from prcast.delivery.engine import Event

        assert process.stdout is not None
        for line in process.stdout:
            try:
                data = json.loads(line)
                event = Event(**data)
            except (ValueError, TypeError):
                continue
            if event.kind != "planned":  # the first process counts the whole run
                self.event(event)
        process.wait()  # reaped at once: a dead helper's claims are then seen as a dead owner's

    def wait(self) -> None:
        """Until every helper has finished (their progress read to the end)."""
        for reader in self.readers:
            while reader.is_alive():
                reader.join(0.2)  # a short join, so Ctrl-C is taken at once
        for process in self.processes:
            process.wait()

    def stop(self) -> None:
        """Stop the helpers still running (SIGTERM: they let their claims go), SIGKILL
        after a grace period."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def stopped_by_sigterm(helpers: Helpers) -> Iterator[None]:
    """While the block runs, SIGTERM stops this process as Ctrl-C does (its helpers are
    stopped on the way out), unless the program handles SIGTERM itself (the scheduler
    finishes the item in hand: the helpers then finish their part with it)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    before = signal.signal(signal.SIGTERM, _as_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _as_ctrl_c(signum: int, frame: object) -> None:
    """SIGTERM taken as Ctrl-C is: through SIGINT's handler, so inside `asyncio.run` the
    run's main task is cancelled (its deliveries wind down through their `finally`s) rather
    than a KeyboardInterrupt raised at whatever line the event loop happened to be on."""
    if callable(signal.getsignal(signal.SIGINT)):
        signal.raise_signal(signal.SIGINT)
    else:  # SIGINT ignored (a background job of a script): stop here
        raise KeyboardInterrupt


# --- the helper's side -----------------------------------------------------------------------


class _Reporter:
    """A helper's events, written to its stdout in batches."""

    def __init__(self) -> None:
        self.out = sys.stdout.buffer
        self.lines: list[bytes] = []
        self.last = time.monotonic()

    def __call__(self, event: Event) -> None:
        self.lines.append(_event_line(event))
        if time.monotonic() - self.last >= REPORT_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            with contextlib.suppress(OSError):
                self.out.write(b"".join(self.lines))
                self.out.flush()
            self.lines = []
        self.last = time.monotonic()


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this helper when the process that started it dies."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def help_run(root: Path, run_id: str, index: int, team: Mapping[str, int], resend: bool) -> None:
    """Send this helper's part of a run (see the module's docstring)."""
    from prcast.delivery.claims import Lease
    from prcast.delivery.engine import _deliver
    from prcast.store import SUPPRESSED, UNADDRESSED
    from prcast.workspace import Workspace

    parent = os.getppid()
    ws = Workspace(root)
    report = _Reporter()
    store = ws.store()
    audit = ws.audit()
    try:
        rows = [
            r
            for r in store.deliveries(run_id)
            if team.get(r.channel, 1) > index and r.status not in (SUPPRESSED, UNADDRESSED)
        ]
        if not rows:
            return
        with Lease(ws.database, "send (helper)") as lease:
            audit.append("run.joined", run=run_id, helper=index, pid=lease.owner.pid,
                         host=lease.owner.host, channels=sorted({r.channel for r in rows}))  # fmt: skip
            _deliver(ws, store, audit, run_id, rows, lease.id, report, resend,
                     share=Share(index, team), keep_going=lambda: os.getppid() == parent)  # fmt: skip
    finally:
        report.flush()
        audit.close()
        store.close()


def main(argv: list[str]) -> int:
    from prcast.delivery.engine import Event
    from prcast.secrets import redact

    root, run_id, index, team, resend = argv
    # stop as Ctrl-C does, even when started from a job that ignores Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    _die_with_parent()
    try:
        help_run(Path(root), run_id, int(index), json.loads(team), resend == "resend")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # reported to the first process, which takes over the rest
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        line = _event_line(Event("note", "", message=redact(f"helper {index}: {message}")))
        with contextlib.suppress(OSError):
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
