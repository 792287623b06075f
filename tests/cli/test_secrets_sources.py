"""Secrets from the workspace's .env file and from the system keyring (a real keyring
backend that works headless: keyrings.alt's file backend), in their documented order, and
never in any output or file prcast writes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from prcast.workspace import Workspace
from tests.integration.conftest import Receiver

FROM_FILE = "whsec-from-dotenv-8c41d2"
FROM_ENV = "whsec-from-environment-77e0a9"
FROM_KEYRING = "whsec-from-keyring-3b9f51"
BACKEND = "keyrings.alt.file.PlaintextKeyring"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def no_secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRCAST_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", BACKEND)


def hook(ws: Workspace, url: str, secret: str) -> None:
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(f'\n[channels.hook]\ntype = "webhook"\nurl = "{url}"\nsecret = "{secret}"\n')


def prcast(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run([sys.executable, "-m", "prcast", "-w", str(ws.root), *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})  # fmt: skip


def signed_with(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def written_files(ws: Workspace) -> str:
    """Everything prcast wrote in the workspace (the .env file itself aside)."""
    texts = []
    for path in ws.root.rglob("*"):
        if path.is_file() and path.name != ".env":
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(texts)


def test_init_keeps_secrets_and_state_out_of_git(ws: Workspace) -> None:
    ignored = (ws.root / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored and ".prcast/" in ignored


def test_a_secret_from_the_env_file_is_used_and_never_printed(
    ws: Workspace, receiver: Receiver
) -> None:
    hook(ws, receiver.url, "env:PRCAST_WEBHOOK_SECRET")
    (ws.root / ".env").write_text(
        f"# secrets of this workspace\nexport PRCAST_WEBHOOK_SECRET='{FROM_FILE}'\n",
        encoding="utf-8",
    )
    listed = prcast(ws, "channels", "list", "--json")
    [secret] = next(c for c in json.loads(listed.stdout) if c["name"] == "hook")["secrets"]
    assert secret == {"ref": "env:PRCAST_WEBHOOK_SECRET", "variable": "PRCAST_WEBHOOK_SECRET",
                      "set": True, "source": ".env"}  # fmt: skip
    sent = prcast(ws, "send", "example", "--channel", "hook", "--yes")
    assert sent.returncode == 0, sent.stderr
    [request] = receiver.requests
    assert request.headers["X-Prcast-Signature"] == signed_with(FROM_FILE, request.body)
    doctor = prcast(ws, "doctor", "--offline", "--json")
    assert doctor.returncode == 0, doctor.stdout
    assert any(".env" in c["detail"] and c["status"] == "ok" for c in json.loads(doctor.stdout)["checks"])  # fmt: skip
    everything = listed.stdout + sent.stdout + sent.stderr + doctor.stdout + doctor.stderr
    assert FROM_FILE not in everything and FROM_FILE not in written_files(ws)


def test_the_environment_wins_over_the_env_file(ws: Workspace, receiver: Receiver) -> None:
    hook(ws, receiver.url, "env:PRCAST_WEBHOOK_SECRET")
    (ws.root / ".env").write_text(f"PRCAST_WEBHOOK_SECRET={FROM_FILE}\n", encoding="utf-8")
    sent = prcast(ws, "send", "example", "--channel", "hook", "--yes",
                  env={"PRCAST_WEBHOOK_SECRET": FROM_ENV})  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    [request] = receiver.requests
    assert request.headers["X-Prcast-Signature"] == signed_with(FROM_ENV, request.body)
    assert FROM_ENV not in sent.stdout + sent.stderr + written_files(ws)


def test_a_bad_env_file_line_is_named_without_its_text(ws: Workspace, receiver: Receiver) -> None:
    hook(ws, receiver.url, "env:PRCAST_WEBHOOK_SECRET")
    (ws.root / ".env").write_text(f"# ok\n{FROM_FILE}\n", encoding="utf-8")
    sent = prcast(ws, "send", "example", "--channel", "hook", "--yes")
    assert sent.returncode == 2 and ".env:2: not a NAME=value line" in sent.stderr
    assert FROM_FILE not in sent.stderr + sent.stdout and "Traceback" not in sent.stderr
    assert receiver.requests == []


def test_a_secret_from_the_system_keyring(ws: Workspace, receiver: Receiver) -> None:
    hook(ws, receiver.url, "keyring:prcast/hook-secret")
    missing = prcast(ws, "send", "example", "--channel", "hook", "--yes")
    assert missing.returncode == 2
    assert 'no secret "hook-secret" for service "prcast" in the system keyring' in missing.stderr
    assert "keyring set prcast hook-secret" in missing.stderr and receiver.requests == []
    stored = subprocess.run([sys.executable, "-c", "import keyring; keyring.set_password("
                             f"'prcast', 'hook-secret', '{FROM_KEYRING}')"],
                            env=os.environ.copy(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    listed = json.loads(prcast(ws, "channels", "list", "--json").stdout)
    [secret] = next(c for c in listed if c["name"] == "hook")["secrets"]
    assert secret["ref"] == "keyring:prcast/hook-secret" and secret["source"] == "keyring"
    sent = prcast(ws, "send", "example", "--channel", "hook", "--yes")
    assert sent.returncode == 0, sent.stderr
    [request] = receiver.requests
    assert request.headers["X-Prcast-Signature"] == signed_with(FROM_KEYRING, request.body)
    assert FROM_KEYRING not in sent.stdout + sent.stderr + written_files(ws)


def test_a_secret_written_into_channels_toml_is_still_refused(ws: Workspace) -> None:
    hook(ws, "http://127.0.0.1:9/hook", "keyring:no-slash")
    refused = prcast(ws, "channels", "list")
    assert refused.returncode == 2 and "channels.toml:" in refused.stderr
    assert "keyring:SERVICE/NAME" in refused.stderr
