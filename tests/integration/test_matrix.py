"""The Matrix adapter against a real Synapse homeserver."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from prcast.channels.base import ChannelError, Post
from prcast.channels.matrix import MatrixChannel
from prcast.config import MatrixConfig
from prcast.secrets import SecretRef
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import LINK, Homeserver, add_channel, unique, write_release


def messages(hs: Homeserver, token: str, room: str) -> list[dict[str, Any]]:
    """Every m.room.message in the room, newest first (all pages)."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"dir": "b", "limit": 100}
    while True:
        r = httpx.get(
            f"{hs.url}/_matrix/client/v3/rooms/{quote(room)}/messages",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        page = r.json()
        out += [e for e in page["chunk"] if e["type"] == "m.room.message"]
        if not page["chunk"] or "end" not in page:
            return out
        params["from"] = page["end"]


@pytest.fixture
def staff(
    synapse: Homeserver, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[str, str]:
    token = synapse.register(unique("press"))
    monkeypatch.setenv("PRCAST_MATRIX_TOKEN", token)
    return token, synapse.create_room(token)


def matrix_channel(ws: Workspace, hs: Homeserver, room: str) -> None:
    add_channel(
        ws,
        f"""
[channels.staff]
type = "matrix"
homeserver = "{hs.url}"
room = "{room}"
token = "env:PRCAST_MATRIX_TOKEN"
""",
    )


def test_release_reaches_the_private_room_as_one_message(
    ws: Workspace, cli: Invoke, synapse: Homeserver, staff: tuple[str, str]
) -> None:
    token, room = staff
    matrix_channel(ws, synapse, room)
    write_release(ws, mention="@bob@social.example")
    result = cli("send", "launch", "--channel", "staff", "--yes")
    assert result.exit_code == 0, result.output
    [event] = messages(synapse, token, room)
    content = event["content"]
    assert content["msgtype"] == "m.text"
    assert content["body"].startswith("# Repair workshop opens in Leipzig")
    assert (
        LINK in content["body"]
        and "#repair" in content["body"]
        and "Größere Schulen" in content["body"]
    )
    assert content["format"] == "org.matrix.custom.html"
    assert f'<a href="{LINK}">' in content["formatted_body"]
    assert 'src="mxc://localhost/' in content["formatted_body"]
    assert 'alt="Two technicians repairing a laptop at a workbench"' in content["formatted_body"]
    report = json.loads(cli("report", "--format", "json").stdout)
    assert report["deliveries"][0]["remote_id"] == event["event_id"]


def test_a_repeated_transaction_id_creates_one_event(
    synapse: Homeserver, staff: tuple[str, str]
) -> None:
    token, room = staff
    config = MatrixConfig(
        name="staff", homeserver=synapse.url, room=room, token=SecretRef("PRCAST_MATRIX_TOKEN")
    )
    post = Post(channel="staff", release_id="r", title="t", text="Shift change at 14:00.")

    async def twice() -> tuple[str, str]:
        channel = MatrixChannel(config)
        try:
            first = await channel.publish(post, "k" * 32)
            second = await channel.publish(post, "k" * 32)  # the answer was lost; retried
        finally:
            await channel.close()
        return first.remote_id, second.remote_id

    first, second = asyncio.run(twice())
    assert first == second
    assert [e["event_id"] for e in messages(synapse, token, room)] == [first]


def test_a_public_room_is_refused(synapse: Homeserver, staff: tuple[str, str]) -> None:
    token, _ = staff
    public = synapse.create_room(token, preset="public_chat")
    config = MatrixConfig(
        name="staff", homeserver=synapse.url, room=public, token=SecretRef("PRCAST_MATRIX_TOKEN")
    )

    async def send() -> None:
        channel = MatrixChannel(config)
        try:
            await channel.publish(
                Post(channel="staff", release_id="r", title="t", text="secret plans"), "p" * 32
            )
        finally:
            await channel.close()

    with pytest.raises(ChannelError, match="is not private"):
        asyncio.run(send())
    assert messages(synapse, token, public) == []
