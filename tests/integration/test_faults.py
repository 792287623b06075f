"""Under 20 % injected faults, a 200-delivery run completes with nothing lost and nothing doubled."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import (
    FlakyMailbox,
    Homeserver,
    PersonalDataServer,
    add_channel,
    email_channel,
    flaky_smtp_server,
    unique,
)
from tests.integration.test_email import press_list
from tests.servers import ThreadedServer
from tests.servers.fault_proxy import HTTP_FAULTS, FaultPlan, TcpProxy, http_proxy

TOKEN = "alice_token"


def statement(ws: Workspace, sentences: int, front: str = "") -> None:
    body = " ".join(
        f"Update {i:03d}: the plant is safe and staff are accounted for."
        for i in range(1, sentences + 1)
    )
    (ws.releases_dir / "crisis.md").write_text(
        f'+++\ntitle = "Statement on the fire at the Leipzig plant"\n{front}+++\n{body}\n',
        encoding="utf-8",
    )


def newest_status(base: str) -> int:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    me = httpx.get(f"{base}/api/v1/accounts/verify_credentials", headers=headers).json()
    page = httpx.get(
        f"{base}/api/v1/accounts/{me['id']}/statuses", params={"limit": "1"}, headers=headers
    ).json()
    return int(page[0]["id"]) if page else 0


def test_mastodon_thread_of_200_under_http_faults(
    ws: Workspace, cli: Invoke, mastodon_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = FaultPlan(rate=0.2, hold_seconds=1.0)
    newest_before = newest_status(mastodon_server)
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", TOKEN)
    toml = '[channels.masto]\ntype = "mastodon"\ninstance = "{proxy}"\ntoken = "env:PRCAST_MASTODON_TOKEN"\n'
    rows = send_200_through_faults(ws, cli, mastodon_server, "masto", toml, plan)
    assert 20 <= sum(plan.injected.values()) <= 80
    headers = {"Authorization": f"Bearer {TOKEN}"}
    me = httpx.get(f"{mastodon_server}/api/v1/accounts/verify_credentials", headers=headers).json()
    statuses: list[dict[str, object]] = []
    max_id = None
    while True:
        params = {"limit": "40", **({"max_id": max_id} if max_id else {})}
        page = httpx.get(
            f"{mastodon_server}/api/v1/accounts/{me['id']}/statuses", params=params, headers=headers
        ).json()
        if not page:
            break
        statuses += page
        max_id = page[-1]["id"]
    ours = [s for s in statuses if int(str(s["id"])) > newest_before]
    assert_each_update_once([str(s["content"]) for s in ours])
    assert len(ours) == len(rows)  # no status but the thread's, and each once
    by_id = {str(s["id"]): s for s in ours}
    for parent, child in itertools.pairwise(rows):
        assert by_id[child["remote_id"]]["in_reply_to_id"] == parent["remote_id"]
    retries = [
        r
        for r in json.loads(cli("audit", "show", "--json").stdout)
        if r["type"] == "delivery.retry"
    ]
    assert retries, "faults were injected but nothing was retried"
    assert cli("audit", "verify").exit_code == 0


@pytest.fixture
def flaky_mailbox() -> Iterator[FlakyMailbox]:
    yield from flaky_smtp_server(rate=0.2)


def test_email_to_200_under_smtp_faults(
    ws: Workspace, cli: Invoke, flaky_mailbox: FlakyMailbox
) -> None:
    proxy = TcpProxy(flaky_mailbox.port, drop_rate=0.2)
    try:
        press_list(ws, n=200)
        add_channel(ws, email_channel(proxy.port, connections=4, retry_base=0.01, max_attempts=12))
        statement(
            ws, 3, front='channels = ["press-mail"]\naudience = ["tech-press", "business-press"]\n'
        )
        result = cli("send", "crisis", "--yes")
        assert result.exit_code == 0, result.output
    finally:
        proxy.close()
    assert flaky_mailbox.temp_failed >= 20 and proxy.dropped >= 1
    received = flaky_mailbox.by_recipient()
    assert len(received) == 200 and all(len(m) == 1 for m in received.values())
    report = json.loads(cli("report", "--format", "json").stdout)
    assert report["counts"]["delivered"] == 200


FAULTY_POLICY = "max_length = 80\ntimeout = 0.5\nretry_base = 0.01\nmax_attempts = 12\n"


def send_200_through_faults(
    ws: Workspace, cli: Invoke, upstream: str, channel: str, toml: str, plan: FaultPlan
) -> list[dict[str, object]]:
    """Send a 200-update statement to `channel` (its table: `toml` with {proxy} for the
    proxy's URL) through the fault proxy; every delivery must end delivered."""
    with ThreadedServer(http_proxy(upstream, plan)) as proxy:
        add_channel(ws, toml.replace("{proxy}", proxy) + FAULTY_POLICY)
        statement(ws, 200, front=f'channels = ["{channel}"]\n')
        result = cli("send", "crisis", "--yes")
        assert result.exit_code == 0, result.output
    assert set(plan.injected) == set(HTTP_FAULTS), plan.injected
    report = json.loads(cli("report", "--format", "json").stdout)
    rows: list[dict[str, object]] = report["deliveries"]
    assert report["counts"] == {"delivered": len(rows)} and len(rows) >= 200
    return rows


def assert_each_update_once(texts: list[str]) -> None:
    numbers = Counter(n for t in texts for n in re.findall(r"Update (\d{3})", t))
    assert len(numbers) == 200 and set(numbers.values()) == {1}, "an update was lost or doubled"


def test_matrix_thread_of_200_under_http_faults(
    ws: Workspace, cli: Invoke, synapse: Homeserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_matrix import messages

    token = synapse.register(unique("faults"))
    room = synapse.create_room(token)
    monkeypatch.setenv("PRCAST_MATRIX_TOKEN", token)
    toml = f'[channels.staff]\ntype = "matrix"\nhomeserver = "{{proxy}}"\nroom = "{room}"\ntoken = "env:PRCAST_MATRIX_TOKEN"\n'
    rows = send_200_through_faults(
        ws, cli, synapse.url, "staff", toml, FaultPlan(rate=0.2, hold_seconds=1.0)
    )
    events = messages(synapse, token, room)
    assert len(events) == len(rows), "a message was lost or doubled"
    assert_each_update_once([e["content"]["body"] for e in events])


def test_bluesky_thread_of_200_under_http_faults(
    ws: Workspace, cli: Invoke, pds: PersonalDataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, did, app_password = pds.create_account(unique("faults"))
    monkeypatch.setenv("PRCAST_BLUESKY_APP_PASSWORD", app_password)
    toml = (f'[channels.bsky]\ntype = "bluesky"\nservice = "{{proxy}}"\nhandle = "{handle}"\n'
            'app_password = "env:PRCAST_BLUESKY_APP_PASSWORD"\n')  # fmt: skip
    plan = FaultPlan(rate=0.2, hold_seconds=1.0, only_methods=("POST",))
    rows = send_200_through_faults(ws, cli, pds.url, "bsky", toml, plan)
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = pds.get("com.atproto.repo.listRecords", repo=did, collection="app.bsky.feed.post", limit="100",
                       **({"cursor": cursor} if cursor else {}))  # fmt: skip
        records += page["records"]
        cursor = page.get("cursor")
        if not page["records"] or not cursor:
            break
    assert len(records) == len(rows), "a post was lost or doubled"
    assert_each_update_once([r["value"]["text"] for r in records])
