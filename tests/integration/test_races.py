"""Several processes on one run at once, some killed: `send`, `resume`, `run-due` and the
`scheduler` racing on the same release at 20 different start offsets, against real servers
(aiosmtpd with 220 recipients, mastodon-mock with a 22-part thread, the outbox). Counted on
the servers: every recipient and every post exactly once (email may be in doubt, never
twice), no "delivered" without a server-side record, and the audit chain verifies."""

from __future__ import annotations

import email
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from prcast.audit import AuditLog
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import (
    Mailbox,
    add_channel,
    add_masto_and_mail,
    email_channel,
    smtp_server,
)
from tests.integration.test_crash import statuses_since
from tests.integration.test_email import press_list
from tests.integration.test_faults import TOKEN, newest_status

ROUNDS = 20
KINDS = ("send", "resume", "run-due", "scheduler")


@pytest.fixture
def slow_mailbox() -> Iterator[Mailbox]:
    for box in smtp_server():
        box.delay = 0.003
        yield box


def race_release(ws: Workspace, n: int) -> str:
    name = f"race{n:02d}"
    body = " ".join(f"R{n:02d} update {i:03d}: all staff are safe." for i in range(1, 23))
    (ws.releases_dir / f"{name}.md").write_text(
        f'+++\ntitle = "Statement R{n:02d}"\nchannels = ["press-room", "masto", "press-mail"]\n'
        f'audience = ["tech-press", "business-press"]\n+++\n{body}\n',
        encoding="utf-8",
    )
    return name


def prcast(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "prcast", "--workspace", str(ws.root), *args]


def test_racing_runners_with_kills_publish_everything_exactly_once(
    ws: Workspace, cli: Invoke, slow_mailbox: Mailbox, mastodon_server: str
) -> None:
    press_list(ws, n=220)
    add_masto_and_mail(ws, mastodon_server, slow_mailbox.port, connections=2)
    env = {**os.environ, "PRCAST_MASTODON_TOKEN": TOKEN, "PRCAST_LEASE_SECONDS": "4"}
    chance = random.Random(20261123)
    newest_before = newest_status(mastodon_server)
    kills = 0
    mixes: Counter[str] = Counter()
    runs: list[str] = []
    for n in range(ROUNDS):
        name = race_release(ws, n)
        kinds = [chance.choice(KINDS) for _ in range(chance.randint(2, 4))]
        kinds[0] = KINDS[n % len(KINDS)]  # every kind leads some rounds
        mixes.update(kinds)
        if {"run-due", "scheduler"} & set(kinds):
            due = datetime.now(UTC).isoformat()
            assert cli("schedule", "add", name, "--at", due).exit_code == 0
        if "resume" in kinds:
            # resume needs the run: plan it the way send's first step does
            from prcast.delivery import prepare, record_plan

            record_plan(ws, prepare(ws, name))
        procs: list[tuple[str, subprocess.Popen[bytes], float | None]] = []
        for kind in kinds:
            time.sleep(chance.uniform(0.0, 0.5))  # the start offset
            args = {
                "send": ["send", name, "--yes"],
                "resume": ["resume"],
                "run-due": ["run-due"],
                "scheduler": ["scheduler", "--poll", "0.2"],
            }[kind]
            kill_at = chance.uniform(0.3, 2.5) if chance.random() < 0.4 else None
            proc = subprocess.Popen(prcast(ws, *args), env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)  # fmt: skip
            procs.append((kind, proc, None if kill_at is None else time.monotonic() + kill_at))
        deadline = time.monotonic() + 600  # a loaded machine: minutes, not seconds
        while time.monotonic() < deadline:
            for _, proc, kill_at in procs:
                if kill_at is not None and proc.poll() is None and time.monotonic() >= kill_at:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    kills += 1
            finite = [p for k, p, _ in procs if k != "scheduler"]
            if all(p.poll() is not None for p in finite) and (
                "scheduler" not in kinds or schedule_settled(cli)
            ):
                break
            time.sleep(0.02)
        for kind, proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)
            if proc.returncode not in (0, 1, -9):
                raise AssertionError(f"{kind} exited {proc.returncode}: {err.decode()}")
            assert b"internal error" not in err, err.decode()
        # finish whatever a killed process left, as an operator would
        finish = subprocess.run(prcast(ws, "send", name, "--yes", "--json"), env=env,
                                capture_output=True, text=True, timeout=180)  # fmt: skip
        assert finish.returncode in (0, 1), finish.stderr
        runs.append(json.loads(finish.stdout)["run"])
        check_round(ws, cli, n, runs[-1], slow_mailbox)
    assert kills >= 10, f"only {kills} processes were killed"
    assert all(mixes[k] >= 5 for k in KINDS), mixes
    check_mastodon(cli, mastodon_server, newest_before, runs)
    assert cli("audit", "verify").exit_code == 0
    print(f"{ROUNDS} rounds, {sum(mixes.values())} processes {dict(mixes)}, {kills} killed")


def schedule_settled(cli: Invoke) -> bool:
    rows = json.loads(cli("schedule", "list", "--all", "--json").stdout)
    return all(r["status"] not in ("pending", "running") for r in rows)


def check_round(ws: Workspace, cli: Invoke, n: int, run: str, box: Mailbox) -> None:
    report = json.loads(cli("report", run, "--format", "json").stdout)
    rows = report["deliveries"]
    assert set(report["counts"]) <= {"delivered", "in-doubt", "suppressed", "no-address"}, (
        n,
        report["counts"],
    )
    # email: nobody twice; every "delivered" recipient received it
    mine: dict[str, int] = Counter()
    for rcpts, data in box.messages:
        if email.message_from_bytes(data)["Subject"] == f"Statement R{n:02d}":
            for r in rcpts:
                mine[r] += 1
    assert all(count == 1 for count in mine.values()), f"round {n}: a journalist got it twice"
    mail_rows = [r for r in rows if r["channel"] == "press-mail" and r["part"]]
    assert len(mail_rows) >= 200
    for r in mail_rows:
        if r["status"] == "delivered":
            assert mine.get(r["target"]) == 1, f"round {n}: delivered without a message"
    assert all(r["status"] != "in-doubt" for r in rows if r["channel"] != "press-mail")
    # the outbox: one entry for this release
    entries = [
        p
        for p in (ws.root / "outbox" / "posts").glob("*.json")
        if json.loads(p.read_text())["title"] == f"Statement R{n:02d}"
    ]
    assert len(entries) == 1, f"round {n}: {len(entries)} press-room entries"


def check_mastodon(cli: Invoke, base: str, newest_before: int, runs: list[str]) -> None:
    ours = statuses_since(base, newest_before)
    by_id = {str(s["id"]): s for s in ours}
    numbers = Counter(m for s in ours for m in re.findall(r"R\d\d update \d{3}", str(s["content"])))
    assert len(numbers) == ROUNDS * 22, "a Mastodon post was lost"
    assert set(numbers.values()) == {1}, "a Mastodon post was published twice"
    for run in runs:
        for r in json.loads(cli("report", run, "--format", "json").stdout)["deliveries"]:
            if r["channel"] == "masto":
                assert r["status"] == "delivered" and r["remote_id"] in by_id, r
    # every thread is one chain: each part replies to the one before, one reply each
    children: dict[str, list[str]] = {}
    for st in ours:
        if st["in_reply_to_id"] is not None:
            children.setdefault(str(st["in_reply_to_id"]), []).append(str(st["id"]))
    assert all(len(c) == 1 for c in children.values()), "a part was answered twice"
    roots = [str(st["id"]) for st in ours if str(st["in_reply_to_id"]) not in by_id]
    assert len(roots) == ROUNDS
    for root in roots:
        chain, at = [root], root
        while at in children:
            at = children[at][0]
            chain.append(at)
        text = " ".join(str(by_id[i]["content"]) for i in chain)
        assert len(set(re.findall(r"R(\d\d) update", text))) == 1
        assert len(re.findall(r"R\d\d update \d{3}", text)) == 22


def test_a_schedule_item_whose_run_outlasts_the_lease_is_not_taken_again(
    ws: Workspace, cli: Invoke
) -> None:
    """A 2-second lease and a run of about 8 seconds (200 messages to a slow server over one
    connection): the heartbeat keeps the item and its chains claimed, so two more run-due
    processes started after the lease would have run out take nothing."""
    for box in smtp_server():
        box.delay = 0.04
        press_list(ws, n=200)
        add_channel(ws, email_channel(box.port, connections=1))
        release = ws.releases_dir / "slow.md"
        release.write_text(
            '+++\ntitle = "Slow statement"\nchannels = ["press-mail"]\n'
            'audience = ["tech-press", "business-press"]\n+++\nAll staff are safe.\n',
            encoding="utf-8",
        )
        assert cli("schedule", "add", "slow", "--at", datetime.now(UTC).isoformat()).exit_code == 0
        env = {**os.environ, "PRCAST_LEASE_SECONDS": "2"}
        first = subprocess.Popen(prcast(ws, "run-due"), env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120  # however long a loaded machine takes to start it
        while (
            json.loads(cli("schedule", "list", "--all", "--json").stdout)[0]["status"] != "running"
        ):
            assert first.poll() is None and time.monotonic() < deadline, "the item was not taken"
            time.sleep(0.05)
        time.sleep(3.5)  # past the lease: only the heartbeat keeps the claims alive
        assert first.poll() is None, "the run was not slower than the lease"
        late = [subprocess.Popen(prcast(ws, "run-due"), env=env, stderr=subprocess.PIPE)
                for _ in range(2)]  # fmt: skip
        for proc in [first, *late]:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err.decode()
        received = box.by_recipient()
        assert len(received) == 200 and all(len(m) == 1 for m in received.values())
        records = list(AuditLog(ws.audit_path).records())
        assert sum(r["type"] == "schedule.fired" for r in records) == 1
        assert sum(r["type"] == "delivery.attempted" for r in records) == 200
        [row] = json.loads(cli("schedule", "list", "--all", "--json").stdout)
        assert row["status"] == "done"


def test_one_channel_then_all_then_a_subset_publishes_once_per_channel_on_the_servers(
    ws: Workspace, cli: Invoke, mailbox: Mailbox, mastodon_server: str
) -> None:
    press_list(ws, n=30)
    add_masto_and_mail(ws, mastodon_server, mailbox.port, connections=1)
    race_release(ws, 99)
    env = {**os.environ, "PRCAST_MASTODON_TOKEN": TOKEN}
    newest_before = newest_status(mastodon_server)

    def send(*args: str) -> int:
        done = subprocess.run(prcast(ws, "send", "race99", "--yes", *args), env=env,
                              capture_output=True, text=True, timeout=180)  # fmt: skip
        assert "internal error" not in done.stderr
        return done.returncode

    assert send("-c", "masto") == 0
    thread = statuses_since(mastodon_server, newest_before)
    markers = Counter(m for st in thread for m in re.findall(r"update \d{3}", str(st["content"])))
    assert len(markers) == 22 and set(markers.values()) == {1} and not mailbox.messages
    assert send() == 0  # every channel of the release: press-room and the press list now
    assert send("-c", "press-mail", "-c", "press-room") == 0
    assert send("-c", "masto") == 0
    assert len(statuses_since(mastodon_server, newest_before)) == len(thread)
    received = mailbox.by_recipient()
    assert len(received) == 30 and all(len(m) == 1 for m in received.values())
    entries = list((ws.root / "outbox" / "posts").glob("*.json"))
    assert len(entries) == 1
    # an edit after publication: refused, naming the channels, nothing sent
    path = ws.releases_dir / "race99.md"
    path.write_text(path.read_text().replace("all staff are safe", "all staff are well"))
    refused = subprocess.run(prcast(ws, "send", "race99", "--yes"), env=env, capture_output=True,
                             text=True, timeout=180)  # fmt: skip
    assert refused.returncode == 2
    for channel in ("masto", "press-mail", "press-room"):
        assert f"  {channel}: " in refused.stderr, refused.stderr
    assert f"masto: {len(thread)} posts with the earlier text" in refused.stderr
    assert len(statuses_since(mastodon_server, newest_before)) == len(thread)
    assert len(mailbox.messages) == 30
