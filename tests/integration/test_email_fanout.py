"""An email run sent by several OS processes (prcast/delivery/fanout.py), against a real
SMTP server (aiosmtpd): each recipient exactly once, counted at the server by recipient and
Message-ID; the audit chain verifies; a kill of everything, or of one helper, leaves at
most `connections` messages in doubt and nothing sent twice."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from prcast.audit import AuditLog
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import Mailbox, add_channel, email_channel, smtp_server
from tests.integration.test_email import press_list

RECIPIENTS = 600
CONNECTIONS = 4


@pytest.fixture
def slow_mailbox() -> Iterator[Mailbox]:
    for box in smtp_server():
        box.delay = 0.003  # a run long enough to be killed in the middle
        yield box


def setup(ws: Workspace, box: Mailbox, processes: int | None) -> None:
    press_list(ws, n=RECIPIENTS)
    add_channel(ws, email_channel(box.port, connections=CONNECTIONS, processes=processes or None))
    (ws.releases_dir / "notice.md").write_text(
        '+++\ntitle = "Plant reopens on Monday"\nchannels = ["press-mail"]\n'
        'audience = ["tech-press", "business-press"]\n+++\nThe plant reopens on Monday.\n',
        encoding="utf-8",
    )


def prcast(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "prcast", "--workspace", str(ws.root), *args]


def received(box: Mailbox) -> Counter[tuple[str, str]]:
    """(recipient, Message-ID) of every message the server took."""
    out: Counter[tuple[str, str]] = Counter()
    for rcpts, data in list(box.messages):
        mid = str(email.message_from_bytes(data)["Message-ID"])
        for r in rcpts:
            out[(r, mid)] += 1
    return out


def report(cli: Invoke) -> dict[str, object]:
    result = cli("report", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def joined(ws: Workspace) -> list[dict[str, object]]:
    return [r for r in AuditLog(ws.audit_path).records() if r["type"] == "run.joined"]


def children(pid: int) -> list[int]:
    """The processes `pid` started (its helpers)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


#: seconds a run may take to reach a point the test waits for (a loaded machine is slow)
PATIENCE = 300.0


def helpers_once_sent(proc: subprocess.Popen[bytes], box: Mailbox, messages: int) -> list[int]:
    """The pids of the helpers of `proc` (a multi-process send) once `box` has received
    `messages` messages; fails at once, with its exit code, if `proc` ended first."""
    deadline = time.monotonic() + PATIENCE
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"the run exited with {proc.returncode} after {len(box.messages)} of the"
                f" {messages} messages the test waits for; its stderr:\n" + stderr_so_far(proc)
            )
        if len(box.messages) >= messages:
            helpers = children(proc.pid)
            if helpers:
                return helpers
        assert time.monotonic() < deadline, (
            f"{len(box.messages)} of {messages} messages, helpers {children(proc.pid)},"
            f" after {PATIENCE:.0f} s"
        )
        time.sleep(0.002)


def stderr_so_far(proc: subprocess.Popen[bytes]) -> str:
    """What `proc` wrote to its stderr pipe (if it has one) up to now, without waiting for
    the end of the pipe (a helper may still hold it open)."""
    if proc.stderr is None:
        return ""
    os.set_blocking(proc.stderr.fileno(), False)
    try:
        data = proc.stderr.read() or b""
    except BlockingIOError:
        data = b""
    return data.decode(errors="replace")[-3000:]


def check_exactly_once(ws: Workspace, cli: Invoke, box: Mailbox, in_doubt_at_most: int) -> None:
    """Every recipient the report calls delivered got the message once, nobody got it
    twice, and only up to `in_doubt_at_most` are in doubt (sent or not: never again)."""
    data = report(cli)
    rows = [r for r in data["deliveries"] if r["channel"] == "press-mail"]  # type: ignore[attr-defined]
    sendable = [r for r in rows if r["status"] not in ("suppressed", "no-address")]
    assert len(sendable) == RECIPIENTS
    got = received(box)
    assert max(got.values()) == 1, "a journalist got the message twice"
    by_recipient = Counter(r for r, _ in got)
    assert max(by_recipient.values()) == 1, "a journalist got two different messages"
    statuses = Counter(r["status"] for r in sendable)
    assert set(statuses) <= {"delivered", "in-doubt"}, statuses
    assert statuses["in-doubt"] <= in_doubt_at_most, statuses
    for r in sendable:
        if r["status"] == "delivered":
            assert by_recipient[r["target"]] == 1, f"{r['target']} delivered but not received"
    assert len(got) >= statuses["delivered"]
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_three_processes_deliver_each_recipient_exactly_once(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    setup(ws, mailbox, processes=3)
    done = subprocess.run(prcast(ws, "send", "notice", "--yes"), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    out = done.stdout.decode()
    assert f"{RECIPIENTS} delivered" in out  # the summary counts the helpers' deliveries too
    assert "Traceback" not in out + done.stderr.decode()
    assert len(mailbox.messages) == RECIPIENTS
    check_exactly_once(ws, cli, mailbox, in_doubt_at_most=0)
    helpers = joined(ws)
    assert len(helpers) == 2, helpers  # two helpers besides the first process
    assert len({h["pid"] for h in helpers}) == 2
    assert {h["helper"] for h in helpers} == {1, 2}


def test_processes_one_sends_alone(ws: Workspace, cli: Invoke, mailbox: Mailbox) -> None:
    setup(ws, mailbox, processes=None)
    done = subprocess.run(
        prcast(ws, "send", "notice", "--yes", "--processes", "1"), capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()
    assert joined(ws) == []
    check_exactly_once(ws, cli, mailbox, in_doubt_at_most=0)


def test_kill_of_every_process_then_resume_sends_each_recipient_once(
    ws: Workspace, cli: Invoke, slow_mailbox: Mailbox
) -> None:
    setup(ws, slow_mailbox, processes=2)
    for point in (60, 300):  # one kill early, one late (of the resumed run)
        command = ["send", "notice", "--yes"] if point == 60 else ["resume"]
        proc = subprocess.Popen(
            prcast(ws, *command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the helpers are killed with it
        )  # fmt: skip
        helpers_once_sent(proc, slow_mailbox, point)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.2)  # the killed helpers' last writes, if any, are in the kernel already
    done = subprocess.run(prcast(ws, "resume"), capture_output=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr.decode()  # 1: some in doubt
    assert "Traceback" not in done.stdout.decode() + done.stderr.decode()
    # each kill leaves at most one message in doubt per connection of the whole team
    check_exactly_once(ws, cli, slow_mailbox, in_doubt_at_most=2 * CONNECTIONS)


def test_a_killed_helper_is_taken_over_and_the_run_completes(
    ws: Workspace, cli: Invoke, slow_mailbox: Mailbox
) -> None:
    setup(ws, slow_mailbox, processes=2)
    proc = subprocess.Popen(prcast(ws, "send", "notice", "--yes"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    helpers = helpers_once_sent(proc, slow_mailbox, 150)
    os.kill(helpers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    # the first process finished the run: what the helper had not sent is delivered, what it
    # had in flight is in doubt (exit code 1), nothing is left planned
    assert proc.returncode in (0, 1), err.decode()
    assert "Traceback" not in out.decode() + err.decode()
    assert b"Run " in out
    data = report(cli)
    assert set(data["counts"]) <= {"delivered", "in-doubt", "suppressed", "no-address"}, data  # type: ignore[arg-type]
    # the helper held half the connections: at most that many of its messages in doubt
    check_exactly_once(ws, cli, slow_mailbox, in_doubt_at_most=CONNECTIONS // 2)
    assert len(slow_mailbox.messages) >= RECIPIENTS - CONNECTIONS // 2


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_send_stops_its_helpers_and_resume_finishes(
    ws: Workspace, cli: Invoke, slow_mailbox: Mailbox, how: signal.Signals
) -> None:
    setup(ws, slow_mailbox, processes=2)
    proc = subprocess.Popen(prcast(ws, "send", "notice", "--yes"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    helpers = helpers_once_sent(proc, slow_mailbox, 100)
    proc.send_signal(how)  # to `send` only, not to its process group
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err
    deadline = time.monotonic() + PATIENCE
    while any(alive(h) for h in helpers):
        assert time.monotonic() < deadline, "a helper kept running after send stopped"
        time.sleep(0.05)
    stopped_at = len(slow_mailbox.messages)
    time.sleep(0.5)
    assert len(slow_mailbox.messages) == stopped_at, "something still sends"
    done = subprocess.run(prcast(ws, "resume"), capture_output=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr.decode()
    check_exactly_once(ws, cli, slow_mailbox, in_doubt_at_most=CONNECTIONS)
