"""Kill `prcast send` with SIGKILL at more than 50 points of a run of more than 200
deliveries (outbox, Mastodon thread, email to 200 journalists), resuming after each kill.
Counted on the servers: nothing is lost, nothing is sent twice."""

from __future__ import annotations

import itertools
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

import httpx
import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import Mailbox, add_masto_and_mail, smtp_server
from tests.integration.test_email import press_list
from tests.integration.test_faults import TOKEN, newest_status, statement

KILLS = 55


@pytest.fixture
def slow_mailbox() -> Iterator[Mailbox]:
    for box in smtp_server():
        box.delay = 0.004
        yield box


def statuses_since(base: str, newest_before: int) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    me = httpx.get(f"{base}/api/v1/accounts/verify_credentials", headers=headers).json()
    out: list[dict[str, object]] = []
    max_id = None
    while True:
        params = {"limit": "40", **({"max_id": max_id} if max_id else {})}
        page = httpx.get(
            f"{base}/api/v1/accounts/{me['id']}/statuses", params=params, headers=headers
        ).json()
        page = [s for s in page if int(s["id"]) > newest_before]
        if not page:
            return out
        out += page
        max_id = page[-1]["id"]


def test_kill_at_55_points_then_resume_sends_everything_once(
    ws: Workspace, cli: Invoke, slow_mailbox: Mailbox, mastodon_server: str
) -> None:
    press_list(ws, n=600)
    add_masto_and_mail(ws, mastodon_server, slow_mailbox.port, connections=2)
    statement(
        ws,
        60,
        front='channels = ["press-room", "masto", "press-mail"]\naudience = ["tech-press", "business-press"]\n',
    )
    newest_before = newest_status(mastodon_server)
    env = {**os.environ, "PRCAST_MASTODON_TOKEN": TOKEN}
    chance = random.Random(5)
    kills = 0
    outbox = ws.root / "outbox" / "posts"

    def progress() -> int:
        return len(slow_mailbox.messages) + (
            len(list(outbox.glob("*.json"))) if outbox.is_dir() else 0
        )

    while True:
        command = ["send", "crisis", "--yes"] if kills % 2 == 0 else ["resume"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "prcast", "--workspace", str(ws.root), *command],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if kills >= KILLS:
            assert proc.wait(600) in (0, 1)  # the rest of the run, on a loaded machine too
            break
        start, before = time.monotonic(), progress()
        if kills % 5 == 4:  # some kills early: start-up, planning, the first requests
            deadline, wanted = start + chance.uniform(0.05, 0.8), None
        else:
            deadline, wanted = start + 20, before + chance.randint(1, 2)
        while (
            proc.poll() is None
            and time.monotonic() < deadline
            and (wanted is None or progress() < wanted)
        ):
            time.sleep(0.002)
        if proc.poll() is not None:  # finished before this kill point: no more kill points
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills >= 50, f"the run finished after only {kills} kills"
    cli("resume")  # whatever the last process left

    report = json.loads(cli("report", "--format", "json").stdout)
    rows = report["deliveries"]
    sendable = [r for r in rows if r["status"] not in ("suppressed", "no-address")]
    assert len(sendable) >= 200
    assert set(report["counts"]) <= {"delivered", "in-doubt", "suppressed", "no-address"}, report[
        "counts"
    ]
    in_doubt = {(r["channel"], r["target"]) for r in rows if r["status"] == "in-doubt"}
    assert all(channel == "press-mail" for channel, _ in in_doubt), (
        "a deduplicating channel was left in doubt"
    )

    # email: nobody twice; everyone not in doubt exactly once
    received = slow_mailbox.by_recipient()
    assert all(len(m) == 1 for m in received.values()), "a journalist got the statement twice"
    for r in rows:
        if r["channel"] == "press-mail" and r["status"] == "delivered":
            assert r["target"] in received
    # Mastodon: every part of the thread exactly once, in a single chain
    ours = statuses_since(mastodon_server, newest_before)
    masto_rows = [r for r in rows if r["channel"] == "masto"]
    assert len(ours) == len(masto_rows), "a Mastodon post was lost or doubled"
    numbers = Counter(n for s in ours for n in re.findall(r"Update (\d{3})", str(s["content"])))
    assert len(numbers) == 60 and set(numbers.values()) == {1}
    by_id = {str(s["id"]): s for s in ours}
    for parent, child in itertools.pairwise(masto_rows):
        assert by_id[child["remote_id"]]["in_reply_to_id"] == parent["remote_id"]
    # outbox: one entry
    assert len(list(outbox.glob("*.json"))) == 1
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    print(f"{kills} kills, {len(sendable)} deliveries, {len(in_doubt)} in doubt")
