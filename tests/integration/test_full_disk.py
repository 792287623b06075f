"""A disk that fills up under prcast: a real file system (tmpfs, of a set size) holding the
workspace, filled by the SMTP server itself (aiosmtpd) at the 150th message of an email
run. prcast stops with one message naming the file it could not write, exit code 1, never
"internal error"; nothing is sent twice; once there is room again `prcast resume` sends
everything else, and what it cannot know about (a request in flight when it stopped) is
in doubt, at most one per connection. A disk too full for the plan sends
nothing at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from prcast.store import DELIVERED, IN_DOUBT, SUPPRESSED, UNADDRESSED
from prcast.workspace import Workspace, init_workspace
from tests.integration.conftest import Mailbox, add_channel, email_channel, smtp_server
from tests.integration.test_email import press_list

RECIPIENTS = 1200
CONNECTIONS = 4
FILL_AT = 150


def as_root(*command: str) -> list[str]:
    """`command` as root: directly when we are, else through sudo without a password
    (the test command installs its Debian packages the same way)."""
    if os.geteuid() == 0:
        return list(command)
    assert shutil.which("sudo"), "mounting a tmpfs needs root or sudo"
    return ["sudo", "-n", *command]


class Disk:
    """A tmpfs of a set size: a file system that really fills up."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir()
        subprocess.run(as_root("mount", "-t", "tmpfs", "-o", f"size={size},mode=1777",
                               "tmpfs", str(path)), check=True)  # fmt: skip
        self.filler = path / "filler"

    def grow(self, size: str) -> None:
        subprocess.run(as_root("mount", "-o", f"remount,size={size}", str(self.path)), check=True)

    def fill(self, leave: int) -> None:
        """Fill the file system up to `leave` bytes free."""
        st = os.statvfs(self.path)
        free = st.f_bavail * st.f_frsize
        with open(self.filler, "ab", buffering=0) as f, contextlib.suppress(OSError):
            f.write(b"\0" * max(0, free - leave))  # (an error: full already)

    def unmount(self) -> None:
        subprocess.run(as_root("umount", "-l", str(self.path)), check=False)


def mounted(path: Path, size: str) -> Iterator[Disk]:
    """A Disk at `path` for a fixture to yield, unmounted after the test."""
    d = Disk(path, size)
    try:
        yield d
    finally:
        d.unmount()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    yield from mounted(tmp_path / "disk", "80m")


@pytest.fixture
def filling_mailbox(disk: Disk) -> Iterator[tuple[Mailbox, list[int]]]:
    """A real SMTP server that fills the disk when it takes message FILL_AT; the list holds
    how many bytes to leave free (set by the test)."""
    leave: list[int] = []
    for box in smtp_server():
        original = box.messages

        class Filling(list):  # type: ignore[type-arg]
            def append(self, item: object) -> None:
                super().append(item)
                if len(self) == FILL_AT and leave:
                    disk.fill(leave[0])

        box.messages = Filling(original)
        yield box, leave


def workspace_on(disk: Disk, box: Mailbox) -> Workspace:
    ws, _ = init_workspace(disk.path / "ws")
    press_list(ws, n=RECIPIENTS)
    add_channel(ws, email_channel(box.port, connections=CONNECTIONS, processes=1))
    (ws.releases_dir / "notice.md").write_text(
        '+++\ntitle = "Plant reopens on Monday"\nchannels = ["press-mail"]\n'
        'audience = ["tech-press", "business-press"]\n+++\nThe plant reopens on Monday.\n',
        encoding="utf-8",
    )
    return ws


def prcast(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prcast", "--workspace", str(ws.root), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def recipients(box: Mailbox) -> Counter[str]:
    return Counter(r for rcpts, _ in list(box.messages) for r in rcpts)


def check_stopped_cleanly(done: subprocess.CompletedProcess[str], *files: str) -> None:
    """One message naming the file that could not be written, exit code 1."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not write the" in done.stderr and "stopped here" in done.stderr, done.stderr
    assert any(f in done.stderr for f in files), done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("leave", [0, 150_000], ids=["audit-log-first", "some-room-left"])
def test_a_disk_that_fills_while_an_email_run_sends_stops_it_and_resume_sends_the_rest_once(
    disk: Disk, filling_mailbox: tuple[Mailbox, list[int]], leave: int
) -> None:
    box, leaving = filling_mailbox
    ws = workspace_on(disk, box)
    leaving.append(leave)

    stopped = prcast(ws, "send", "notice", "--yes")
    check_stopped_cleanly(stopped, "audit.jsonl", "state.db")
    first = recipients(box)
    assert FILL_AT <= sum(first.values()) < RECIPIENTS  # it stopped, soon after the disk filled
    assert max(first.values()) == 1

    disk.filler.unlink()
    resumed = prcast(ws, "resume")
    assert resumed.returncode in (0, 1), resumed.stdout + resumed.stderr
    assert "internal error" not in resumed.stderr and "Traceback" not in resumed.stderr

    got = recipients(box)
    assert max(got.values()) == 1, [r for r, n in got.items() if n > 1]  # nothing twice
    store = ws.store()
    try:
        run = store.latest_run()
        assert run is not None
        rows = store.deliveries(run.id)
    finally:
        store.close()
    status = {
        row.post["recipients"][0]: row.status
        for row in rows
        if row.status not in (SUPPRESSED, UNADDRESSED)  # the opted out, the phone-only
    }
    assert len(status) == RECIPIENTS
    # every message is delivered (and the server has it once) or in doubt: nothing lost
    # without a word, and the doubt is only about the requests in flight when it stopped
    assert set(status.values()) <= {DELIVERED, IN_DOUBT}, Counter(status.values())
    assert all(got[r] == 1 for r, s in status.items() if s == DELIVERED)
    assert sum(1 for s in status.values() if s == IN_DOUBT) <= CONNECTIONS
    assert set(got) <= set(status)
    if resumed.returncode == 0:
        assert set(got) == set(status)

    verified = prcast(ws, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_disk_too_full_for_the_plan_sends_nothing_until_there_is_room(
    disk: Disk, filling_mailbox: tuple[Mailbox, list[int]]
) -> None:
    box, _ = filling_mailbox
    ws = workspace_on(disk, box)
    disk.fill(2_000_000)  # room for the audit log's plan records, not the state's rows

    refused = prcast(ws, "send", "notice", "--yes")
    check_stopped_cleanly(refused, "state.db", "audit.jsonl")
    assert not box.messages

    disk.filler.unlink()
    sent = prcast(ws, "send", "notice", "--yes")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    got = recipients(box)
    assert len(got) == RECIPIENTS and max(got.values()) == 1
    assert prcast(ws, "audit", "verify").returncode == 0
