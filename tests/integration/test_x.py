"""The X adapter against the shared X API v2 test server (no X server can run here)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from prcast.channels.base import ChannelError, Post
from prcast.channels.x import OAuth1, XChannel
from prcast.config import XConfig
from prcast.secrets import SecretRef
from prcast.text.counting import x_length
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import LINK, add_channel, write_release
from tests.servers import x_api

ENV = {
    "PRCAST_X_CONSUMER_KEY": x_api.CONSUMER_KEY,
    "PRCAST_X_CONSUMER_SECRET": x_api.CONSUMER_SECRET,
    "PRCAST_X_ACCESS_TOKEN": x_api.ACCESS_TOKEN,
    "PRCAST_X_ACCESS_TOKEN_SECRET": x_api.ACCESS_SECRET,
}


@pytest.fixture
def x_ws(ws: Workspace, x_server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    add_channel(
        ws,
        f"""
[channels.x]
type = "x"
api_base = "{x_server[0]}"
consumer_key = "env:PRCAST_X_CONSUMER_KEY"
consumer_secret = "env:PRCAST_X_CONSUMER_SECRET"
access_token = "env:PRCAST_X_ACCESS_TOKEN"
access_token_secret = "env:PRCAST_X_ACCESS_TOKEN_SECRET"
""",
    )
    return ws


def reader(url: str, secret: str = x_api.CONSUMER_SECRET) -> httpx.Client:
    auth = OAuth1(x_api.CONSUMER_KEY, secret, x_api.ACCESS_TOKEN, x_api.ACCESS_SECRET)
    return httpx.Client(base_url=url, auth=auth)


def test_release_is_published_as_a_thread_with_image_and_alt_text(
    x_ws: Workspace, cli: Invoke, x_server: tuple[str, Any]
) -> None:
    url, _ = x_server
    write_release(x_ws, mention="@examplepress")
    result = cli("send", "launch", "--channel", "x", "--yes")
    assert result.exit_code == 0, result.output
    rows = json.loads(cli("report", "--format", "json").stdout)["deliveries"]
    assert len(rows) >= 2
    with reader(url) as api:
        tweets = [
            api.get(f"/2/tweets/{r['remote_id']}", params={"expansions": "attachments.media_keys",
                                                           "media.fields": "alt_text"}).json()
            for r in rows
        ]  # fmt: skip
    first = tweets[0]
    assert "referenced_tweets" not in first["data"]
    assert (
        first["includes"]["media"][0]["alt_text"]
        == "Two technicians repairing a laptop at a workbench"
    )
    for parent, child in itertools.pairwise(tweets):
        assert child["data"]["referenced_tweets"] == [
            {"type": "replied_to", "id": parent["data"]["id"]}
        ]
        assert child["data"]["conversation_id"] == first["data"]["id"]
    text = " ".join(t["data"]["text"] for t in tweets)
    assert LINK in text and "#repair" in text and "@examplepress" in text
    assert all(x_length(t["data"]["text"]) <= 280 for t in tweets)
    assert rows[0]["url"] == f"https://x.com/i/web/status/{rows[0]['remote_id']}"


def test_the_server_rejects_a_wrong_signature(x_server: tuple[str, Any]) -> None:
    with reader(x_server[0], secret="not-the-secret") as api:
        r = api.get("/2/users/me")
    assert r.status_code == 401


def test_a_wrong_secret_fails_with_the_services_answer_and_never_shows_it(
    x_ws: Workspace, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_X_CONSUMER_SECRET", "wrong-consumer-secret-123")
    result = cli("send", "example", "--channel", "x", "--yes")
    assert result.exit_code == 1
    report = json.loads(cli("report", "--format", "json").stdout)
    assert "HTTP 401" in report["deliveries"][0]["error"]
    assert "wrong-consumer-secret-123" not in result.output + x_ws.audit_path.read_text()


def test_a_post_whose_answer_was_lost_in_a_crash_is_not_sent_again(
    x_ws: Workspace, cli: Invoke, x_server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, state = x_server
    before = len(state.tweets)
    monkeypatch.setattr(state, "answer_delay", 30.0)
    env = {**os.environ, **ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prcast", "--workspace", str(x_ws.root), "send", "example", "-c", "x", "--yes"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(state.tweets) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(state.tweets) == before + 1, "the tweet never reached the server"
    finally:
        proc.send_signal(signal.SIGKILL)  # dies before the answer arrives
        proc.wait()
    monkeypatch.setattr(state, "answer_delay", 0.0)
    result = cli("resume")
    assert result.exit_code == 1
    assert "in-doubt" in result.output
    assert len(state.tweets) == before + 1
    report = json.loads(cli("report", "--format", "json").stdout)
    assert report["counts"] == {"in-doubt": 1}
    assert cli("audit", "verify").exit_code == 0


def test_rate_limit_is_a_transient_error_with_the_reset_time(
    x_server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = x_server
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    config = XConfig(name="x", api_base=url, **{k: SecretRef(f"PRCAST_X_{k.upper()}") for k in
                     ("consumer_key", "consumer_secret", "access_token", "access_token_secret")})  # fmt: skip
    monkeypatch.setattr(state, "window_limit", 0)

    async def post() -> None:
        channel = XChannel(config)
        try:
            await channel.publish(
                Post(channel="x", release_id="r", title="t", text="rate limited?"), "k" * 32
            )
        finally:
            await channel.close()

    with pytest.raises(ChannelError) as info:
        asyncio.run(post())
    assert info.value.status == 429 and info.value.transient
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 900
