"""`prcast doctor` on a good workspace and on broken ones: one line per check, the exit code
of the worst failure, nothing posted, secrets named and never shown."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries

TOKEN = "mastodon-token-for-doctor-91ac"


def doctor(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run([sys.executable, "-m", "prcast", "doctor", "-w", str(ws.root), *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})  # fmt: skip


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checks(result: subprocess.CompletedProcess[str]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for c in json.loads(result.stdout)["checks"]:
        out.setdefault(c["name"], []).append(c)
    return out


def test_a_good_workspace_passes_every_check_and_nothing_is_posted(
    ws: Workspace, cli: Invoke
) -> None:
    assert cli("lists", "suppress", "x@example.org").exit_code == 0  # an audit log to verify
    result = doctor(ws)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    names = [line.split(":", 1)[0].split()[-1] for line in lines]
    for name in ("config", "templates", "releases", "secrets", "channels", "lists", "policy", "audit", "clock"):  # fmt: skip
        assert name in names
    assert all(line.startswith("ok") for line in lines), result.stdout
    assert outbox_entries(ws) == []
    found = checks(doctor(ws, "--json"))
    assert found["audit"][0]["status"] == "ok" and "records" in found["audit"][0]["detail"]
    assert found["channels"][0]["status"] == "ok"


def test_a_broken_template_a_missing_secret_and_an_unreachable_channel(ws: Workspace) -> None:
    (ws.templates_dir / "microblog.txt.j2").write_text("{{ title }\n{% if %}\n", encoding="utf-8")
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(
            f'\n[channels.masto]\ntype = "mastodon"\ninstance = "http://127.0.0.1:{closed_port()}"\n'
            'token = "env:PRCAST_DOCTOR_TOKEN"\n'
        )
    missing = doctor(ws, "--json")
    assert missing.returncode == 2
    found = checks(missing)
    [template] = [c for c in found["templates"] if c["status"] == "fail"]
    assert "microblog.txt.j2:1" in template["detail"]
    [secret] = found["secrets"]
    assert secret["status"] == "fail" and "env:PRCAST_DOCTOR_TOKEN is not set" in secret["detail"]
    assert "channels.toml:" in secret["detail"]
    assert any(c["status"] == "warn" and "masto" in c["detail"] for c in found["channels"])
    # with the secret set (and the template fixed) the channel itself is checked: unreachable
    (ws.templates_dir / "microblog.txt.j2").unlink()
    reached = doctor(ws, env={"PRCAST_DOCTOR_TOKEN": TOKEN})
    assert reached.returncode == 1, reached.stdout
    [line] = [x for x in reached.stdout.splitlines() if "masto (mastodon)" in x]
    assert line.startswith("FAIL channels:")
    assert TOKEN not in reached.stdout + reached.stderr
    offline = doctor(ws, "--offline", env={"PRCAST_DOCTOR_TOKEN": TOKEN})
    assert offline.returncode == 0 and "masto (mastodon)" not in offline.stdout


def test_a_tampered_audit_log_fails_with_code_3(ws: Workspace, cli: Invoke) -> None:
    assert cli("lists", "suppress", "x@example.org", "--reason", "phone").exit_code == 0
    assert cli("lists", "suppress", "y@example.org", "--reason", "mail").exit_code == 0
    text = ws.audit_path.read_text(encoding="utf-8")
    ws.audit_path.write_text(text.replace('"phone"', '"fax"'), encoding="utf-8")
    result = doctor(ws, "--offline")
    assert result.returncode == 3
    assert any(x.startswith("FAIL audit:") for x in result.stdout.splitlines())


def test_a_broken_channels_toml_is_one_failing_line_with_its_line_number(ws: Workspace) -> None:
    ws.channels_file.write_text('[channels.press-room]\ntype = "outbx"\n', encoding="utf-8")
    result = doctor(ws)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("FAIL config:") and "channels.toml:2" in line
