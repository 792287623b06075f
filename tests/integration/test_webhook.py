"""The webhook adapter against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import LINK, Receiver, add_channel, write_release

SECRET = "whsec-test-5f2b9"


def hook(ws: Workspace, url: str, fmt: str = "json", max_length: int | None = None) -> None:
    extra = f"\nmax_length = {max_length}" if max_length else ""
    add_channel(
        ws,
        f"""
[channels.hook]
type = "webhook"
url = "{url}"
secret = "env:PRCAST_WEBHOOK_SECRET"
format = "{fmt}"{extra}
""",
    )


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRCAST_WEBHOOK_SECRET", SECRET)


def test_posts_are_signed_json_with_the_idempotency_key(
    ws: Workspace, cli: Invoke, receiver: Receiver
) -> None:
    hook(ws, receiver.url, max_length=400)
    write_release(ws, mention="@bob@social.example")
    result = cli("send", "launch", "--channel", "hook", "--yes")
    assert result.exit_code == 0, result.output
    report = json.loads(cli("report", "--format", "json").stdout)
    keys = [
        e["key"]
        for e in json.loads(cli("audit", "show", "--json").stdout)
        if e["type"] == "delivery.succeeded"
    ]
    assert len(receiver.requests) == len(report["deliveries"]) >= 2
    previous = None
    for req, key, row in zip(receiver.requests, keys, report["deliveries"], strict=True):
        expected = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
        assert req.headers["X-Prcast-Signature"] == expected
        assert req.headers["Idempotency-Key"] == key
        body = json.loads(req.body)
        assert body["id"] == key and body["parts"] == len(keys) and body["in_reply_to"] == previous
        assert len(body["text"]) <= 400
        previous = row["remote_id"]
    first = json.loads(receiver.requests[0].body)
    assert first["media"] == [
        {"file": "workshop.png", "alt": "Two technicians repairing a laptop at a workbench"}
    ]
    assert LINK in "".join(json.loads(r.body)["text"] for r in receiver.requests)
    assert SECRET not in ws.audit_path.read_text()


@pytest.mark.parametrize(
    ("fmt", "field"), [("slack", "text"), ("discord", "content"), ("teams", "text")]
)
def test_chat_presets(ws: Workspace, cli: Invoke, receiver: Receiver, fmt: str, field: str) -> None:
    hook(ws, receiver.url, fmt=fmt)
    assert cli("send", "example", "--channel", "hook", "--yes").exit_code == 0
    body = json.loads(receiver.requests[0].body)
    assert body[field].startswith("# Example Corp opens its new repair workshop")


def test_a_refusing_endpoint_fails_the_delivery(
    ws: Workspace, cli: Invoke, receiver: Receiver
) -> None:
    receiver.status = 500
    hook(ws, receiver.url)
    result = cli("send", "example", "--channel", "hook", "--yes")
    assert result.exit_code == 1
    assert (
        "HTTP 500" in json.loads(cli("report", "--format", "json").stdout)["deliveries"][0]["error"]
    )
