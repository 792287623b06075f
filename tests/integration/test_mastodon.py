"""The Mastodon adapter against mastodon-mock (a stateful Mastodon REST API server).

Deviations of mastodon-mock from the published Mastodon API that matter here:
- POST /api/v2/media answers 200 with the media's url set (Mastodon answers 202 with
  url null while it processes the file, then GET /api/v1/media/:id gives 206 until done).
  The adapter follows the published API and handles both; the 202 path cannot be
  exercised against this server.
- /api/v2/instance always advertises max_characters = 500.
- A mention of a local account in its full form (`@bob@mock.local`, the server's own
  domain) is not resolved; Mastodon resolves it. The adapter mentions accounts on its own
  server in the local form (`@bob`), which both accept.
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest

from prcast.channels.base import Post
from prcast.channels.mastodon import MastodonChannel
from prcast.config import MastodonConfig
from prcast.secrets import SecretRef
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import LINK, add_channel, write_release

TOKEN = "alice_token"  # seeded by mastodon-mock's test seed


def api(base: str, path: str, token: str = TOKEN) -> httpx.Response:
    return httpx.get(base + path, headers={"Authorization": f"Bearer {token}"})


def statuses_of_alice(base: str) -> list[dict[str, object]]:
    me = api(base, "/api/v1/accounts/verify_credentials").json()
    return list(api(base, f"/api/v1/accounts/{me['id']}/statuses?limit=40").json())


def plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html.replace("</p><p>", "\n\n").replace("<br />", "\n"))


@pytest.fixture
def masto_ws(ws: Workspace, mastodon_server: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", TOKEN)
    add_channel(
        ws,
        f"""
[channels.masto]
type = "mastodon"
instance = "{mastodon_server}"
token = "env:PRCAST_MASTODON_TOKEN"
""",
    )
    return ws


def test_release_is_published_as_a_thread_with_image_and_alt_text(
    masto_ws: Workspace, cli: Invoke, mastodon_server: str
) -> None:
    before = {s["id"] for s in statuses_of_alice(mastodon_server)}
    write_release(masto_ws, mention="@bob")
    result = cli("send", "launch", "--channel", "masto", "--yes")
    assert result.exit_code == 0, result.output
    report = json.loads(cli("report", "--format", "json").stdout)
    rows = report["deliveries"]
    assert len(rows) >= 2 and all(r["status"] == "delivered" for r in rows)

    posted = {str(s["id"]): s for s in statuses_of_alice(mastodon_server) if s["id"] not in before}
    ids = [r["remote_id"] for r in rows]
    assert set(ids) == set(posted)
    first, *rest = (posted[i] for i in ids)
    assert first["in_reply_to_id"] is None
    for parent, child in zip([first, *rest], rest, strict=False):
        assert child["in_reply_to_id"] == parent["id"]
    media = first["media_attachments"]
    assert isinstance(media, list) and len(media) == 1
    assert media[0]["description"] == "Two technicians repairing a laptop at a workbench"
    text = "\n".join(plain(str(posted[i]["content"])) for i in ids)
    assert LINK in text and "#repair" in text and "@bob" in text
    assert all(s["visibility"] == "public" and s["language"] == "en" for s in posted.values())
    assert re.search(r"\(1/\d\)", plain(str(first["content"])))


def test_a_repeated_delivery_key_leaves_one_status(
    mastodon_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", TOKEN)
    config = MastodonConfig(
        name="masto", instance=mastodon_server, token=SecretRef("PRCAST_MASTODON_TOKEN")
    )
    post = Post(channel="masto", release_id="r", title="t", text="Only once, whatever happens.")

    async def twice() -> tuple[str, str]:
        channel = MastodonChannel(config)
        try:
            first = await channel.publish(post, "key-" + "a" * 28)
            # the answer was lost; the engine retries with the same key
            second = await channel.publish(post, "key-" + "a" * 28)
        finally:
            await channel.close()
        return first.remote_id, second.remote_id

    first, second = asyncio.run(twice())
    assert first == second
    texts = [plain(str(s["content"])) for s in statuses_of_alice(mastodon_server)]
    assert texts.count("Only once, whatever happens.") == 1


def test_limits_are_read_from_the_server_and_cached(masto_ws: Workspace, cli: Invoke) -> None:
    assert cli("send", "example", "--channel", "masto", "--yes").exit_code == 0
    cached = json.loads((masto_ws.state_dir / "limits.json").read_text())
    assert cached["masto"]["max_length"] == 500 and cached["masto"]["url_length"] == 23
    rendered = json.loads(cli("render", "example", "--channel", "masto", "--json").stdout)
    assert rendered["channels"][0]["limit"] == 500


def test_a_bad_token_fails_the_delivery_with_the_servers_message(
    masto_ws: Workspace, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", "wrong-token-value")
    result = cli("send", "example", "--channel", "masto", "--yes")
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "wrong-token-value" not in result.output
    audit = masto_ws.audit_path
    assert not audit.exists() or "wrong-token-value" not in audit.read_text()


def test_direct_message_mentions_the_recipients_and_is_direct(
    mastodon_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", TOKEN)
    config = MastodonConfig(
        name="masto", instance=mastodon_server, token=SecretRef("PRCAST_MASTODON_TOKEN")
    )
    post = Post(channel="masto", release_id="r", title="t", text="Embargoed briefing at 10:00.")

    async def send() -> str:
        channel = MastodonChannel(config)
        try:
            return (await channel.send_direct(["@bob", "carol"], post, "dm-" + "b" * 29)).remote_id
        finally:
            await channel.close()

    status = api(mastodon_server, f"/api/v1/statuses/{asyncio.run(send())}").json()
    assert status["visibility"] == "direct"
    assert {m["acct"] for m in status["mentions"]} == {"bob", "carol"}
    assert plain(status["content"]).endswith("Embargoed briefing at 10:00.")


def test_a_group_is_reached_by_direct_messages(
    ws: Workspace, cli: Invoke, mastodon_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", TOKEN)
    add_channel(
        ws,
        f"""
[channels.staff-dm]
type = "mastodon"
instance = "{mastodon_server}"
token = "env:PRCAST_MASTODON_TOKEN"
visibility = "direct"
""",
    )
    (ws.lists_dir / "contacts.csv").write_text(
        "name,email,mastodon,tags,opt_out\n"
        "Bob,bob@corp.example,@bob@mock.local,field,\n"
        "Carol,carol@corp.example,@carol@mock.local,field,\n"
        "Dave,dave@corp.example,@dave@remote.example,field,yes\n"
        "Eve,eve@corp.example,,field,\n",
        encoding="utf-8",
    )
    (ws.lists_dir / "groups.toml").write_text(
        '[groups.field-staff]\nwhere = { tags = ["field"] }\n'
    )
    result = cli("send", "example", "--channel", "staff-dm", "--to", "field-staff", "--yes")
    assert result.exit_code == 0, result.output
    report = json.loads(cli("report", "--format", "json").stdout)
    assert report["groups"] == {"field-staff": {"delivered": 1, "suppressed": 1, "no-address": 1}}
    [row] = [r for r in report["deliveries"] if r["status"] == "delivered"]
    status = api(mastodon_server, f"/api/v1/statuses/{row['remote_id']}").json()
    assert status["visibility"] == "direct"
    assert {m["acct"] for m in status["mentions"]} == {"bob", "carol"}
    assert "Example Corp opens its new repair workshop" in plain(status["content"])
