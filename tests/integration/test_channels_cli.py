"""`prcast channels list|test` against the real servers, with good and bad credentials."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import Homeserver, PersonalDataServer, Receiver, add_channel, unique
from tests.servers import x_api

BAD = {
    "PRCAST_MASTODON_TOKEN": "bad-mastodon-token-0001",
    "PRCAST_BLUESKY_APP_PASSWORD": "bad-bsky-pass-0002",
    "PRCAST_MATRIX_TOKEN": "bad-matrix-token-0003",
    "PRCAST_X_CONSUMER_SECRET": "bad-x-secret-0004",
}


@pytest.fixture
def all_channels(
    ws: Workspace,
    mastodon_server: str,
    pds: PersonalDataServer,
    synapse: Homeserver,
    x_server: tuple[str, Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    handle, _, app_password = pds.create_account(unique("checker"))
    matrix_token = synapse.register(unique("checker"))
    room = synapse.create_room(matrix_token)
    good = {
        "PRCAST_MASTODON_TOKEN": "alice_token",
        "PRCAST_BLUESKY_APP_PASSWORD": app_password,
        "PRCAST_MATRIX_TOKEN": matrix_token,
        "PRCAST_X_CONSUMER_KEY": x_api.CONSUMER_KEY,
        "PRCAST_X_CONSUMER_SECRET": x_api.CONSUMER_SECRET,
        "PRCAST_X_ACCESS_TOKEN": x_api.ACCESS_TOKEN,
        "PRCAST_X_ACCESS_TOKEN_SECRET": x_api.ACCESS_SECRET,
    }
    for k, v in good.items():
        monkeypatch.setenv(k, v)
    add_channel(
        ws,
        f"""
[channels.masto]
type = "mastodon"
instance = "{mastodon_server}"
token = "env:PRCAST_MASTODON_TOKEN"

[channels.bsky]
type = "bluesky"
service = "{pds.url}"
handle = "{handle}"
app_password = "env:PRCAST_BLUESKY_APP_PASSWORD"

[channels.staff]
type = "matrix"
homeserver = "{synapse.url}"
room = "{room}"
token = "env:PRCAST_MATRIX_TOKEN"

[channels.x]
type = "x"
api_base = "{x_server[0]}"
consumer_key = "env:PRCAST_X_CONSUMER_KEY"
consumer_secret = "env:PRCAST_X_CONSUMER_SECRET"
access_token = "env:PRCAST_X_ACCESS_TOKEN"
access_token_secret = "env:PRCAST_X_ACCESS_TOKEN_SECRET"

[channels.hook]
type = "webhook"
url = "{receiver.url}"
""",
    )
    return good


def test_all_channels_pass_with_good_credentials(all_channels: dict[str, str], cli: Invoke) -> None:
    result = cli("channels", "test")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 6 and all(line.startswith("ok") for line in lines)
    assert any("@alice" in line for line in lines)
    assert any("@examplepress on X" in line for line in lines)
    data = json.loads(cli("channels", "test", "--json").stdout)
    assert {d["name"] for d in data if d["ok"]} == {
        "press-room",
        "masto",
        "bsky",
        "staff",
        "x",
        "hook",
    }
    listed = json.loads(cli("channels", "list", "--json").stdout)
    masto = next(c for c in listed if c["name"] == "masto")
    assert masto["limit"] == 500 and masto["limit_from_server"] is True
    assert masto["secrets"] == [{"ref": "env:PRCAST_MASTODON_TOKEN", "variable": "PRCAST_MASTODON_TOKEN",
                                 "set": True, "source": "environment"}]  # fmt: skip
    assert cli("channels", "list").exit_code == 0


def test_a_bad_credential_is_one_clear_line_per_channel_without_the_secret(
    all_channels: dict[str, str], cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in BAD.items():
        monkeypatch.setenv(k, v)
    result = cli("channels", "test")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stdout.strip().splitlines()
    failed = {line.split()[1]: line for line in lines if line.startswith("FAIL")}
    assert set(failed) == {"masto", "bsky", "staff", "x"}
    assert "HTTP 401" in failed["masto"] and "HTTP 401" in failed["bsky"]
    assert "HTTP 401" in failed["staff"] and "HTTP 401" in failed["x"]
    for secret in BAD.values():
        assert secret not in result.output
    assert "4 of 6 channel(s) failed" in result.stderr
