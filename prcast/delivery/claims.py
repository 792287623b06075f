"""Who may send: an owner is one process, registered in the store with a lease it renews
from a heartbeat thread while it works. A chain (a thread's parts) or a schedule item is
claimed by one owner in one compare-and-set; when the owner's lease runs out (its machine
died, or it hung), the claim may be taken over. On the same machine a dead owner is seen at
once: its process is gone, so its claims are taken without waiting for the lease."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from prcast.store import Owner, Store, now, stamp
from prcast.store.database import Database, hide_passwords_in

log = logging.getLogger("prcast.lease")

#: how long an owner stays alive without renewing (PRCAST_LEASE_SECONDS; at least 2)
DEFAULT_LEASE = 60.0
#: seconds before the first retry of a failed renewal; each further one waits twice as long,
#: up to the usual third of the lease
_FIRST_RETRY = 0.25


def lease_seconds() -> float:
    try:
        return max(2.0, float(os.environ.get("PRCAST_LEASE_SECONDS", DEFAULT_LEASE)))
    except ValueError:
        return DEFAULT_LEASE


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str:
    """The start time of a process (clock ticks since boot): with the pid, it names one
    process even when pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _until(seconds: float) -> str:
    return stamp(datetime.now(UTC) + timedelta(seconds=seconds))


def this_process(command: str = "") -> Owner:
    pid = os.getpid()
    return Owner(
        id=uuid.uuid4().hex,
        host=socket.gethostname(),
        boot=_boot_id(),
        pid=pid,
        pid_start=_process_start(pid),
        command=command or " ".join(os.path.basename(a) for a in sys.argv[:2]),
        started_at=now(),
        lease_until=_until(lease_seconds()),
    )


def is_dead(owner: Owner) -> bool:
    """Known to be dead: an owner on this machine (same host, same boot) whose process is
    gone. An owner elsewhere is alive until its lease runs out."""
    if not owner.id:
        return True
    if owner.host != socket.gethostname() or not owner.boot or owner.boot != _boot_id():
        return False
    return _process_start(owner.pid) != owner.pid_start


def is_expired(owner: Owner) -> bool:
    return not owner.id or owner.lease_until <= now()


class Lease:
    """This process as an owner, for the duration of a `with` block: registered, renewed
    every third of the lease by a thread (so a busy event loop cannot starve it), and
    dropped at the end (its claims go back). A process killed without dropping leaves its
    claims to be taken over."""

    def __init__(self, store_path: Path | Database, command: str = "") -> None:
        self.store_path = store_path
        self.owner = this_process(command)
        self.seconds = lease_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="prcast-lease", daemon=True)

    @property
    def id(self) -> str:
        return self.owner.id

    def __enter__(self) -> Lease:
        store = Store(self.store_path)
        try:
            store.register_owner(self.owner)
        finally:
            store.close()
        self._thread.start()
        return self

    def _beat(self) -> None:
        """Renew the lease every third of it, until the `with` block ends. A renewal that
        fails (the database locked beyond its timeout, a full disk, a lost connection) is
        said once as a warning, then tried again on a fresh connection, backing off: the
        thread never dies of it, so the lease is held again as soon as the database is."""
        store: Store | None = None
        failures = 0
        pause = self.seconds / 3
        try:
            while not self._stop.wait(pause):
                try:
                    if store is None:
                        store = Store(self.store_path)
                    store.renew_owner(self.owner.id, _until(self.seconds))
                except Exception as exc:  # whatever the store raises: never out of the thread
                    failures += 1
                    pause = min(self.seconds / 3, _FIRST_RETRY * 2 ** min(failures - 1, 16))
                    self._failed(exc, failures, pause)
                    _close(store)
                    store = None  # a lost connection is not used again
                    continue
                if failures:
                    log.info("lease of pid %d renewed again after %d failed tries",
                             self.owner.pid, failures)  # fmt: skip
                failures = 0
                pause = self.seconds / 3
        finally:
            _close(store)

    def _failed(self, exc: Exception, failures: int, pause: float) -> None:
        reason = self._reason(exc)
        if failures == 1:
            log.warning(
                "prcast: could not renew the lease of pid %d in the database %s (%s); trying"
                " again: if this lasts over %.0f s, another runner may take over this run's"
                " remaining chains (nothing is sent twice)",
                self.owner.pid, hide_passwords_in(str(self.store_path)), reason, self.seconds,
            )  # fmt: skip
        else:
            log.debug("lease renewal failed again (try %d, next in %.1f s): %s",
                      failures, pause, reason)  # fmt: skip

    def _reason(self, exc: Exception) -> str:
        return hide_passwords_in(
            str(exc) or type(exc).__name__, getattr(self.store_path, "url", "")
        )

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        store = Store(self.store_path)
        try:
            store.drop_owner(self.owner.id)
        finally:
            store.close()


def _close(store: Store | None) -> None:
    """Close `store` if open; a connection already broken may fail to close, and that is
    no news."""
    if store is not None:
        with contextlib.suppress(Exception):
            store.close()


def describe(owner: Owner, count: int, since: str) -> str:
    """ "27 deliveries held by pid 4711 on host h since 10:02:13 UTC"."""
    when = since[11:19] if len(since) >= 19 else since
    what = "delivery" if count == 1 else "deliveries"
    return f"{count} {what} held by pid {owner.pid} on host {owner.host} since {when} UTC"
