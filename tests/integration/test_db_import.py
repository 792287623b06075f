"""Moving a workspace to PostgreSQL with `prcast db import`, and choosing the database:
the chain verifies after the import and exports as the original file; importing twice
copies nothing twice; another workspace's database is refused; a broken log is not carried
over; the database password never appears in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from prcast.cli import app
from prcast.workspace import Workspace, init_workspace
from tests.conftest import outbox_entries


def prcast(ws: Workspace, *args: str) -> Result:
    return CliRunner().invoke(app, ["--workspace", str(ws.root), *args])


def _status(ws: Workspace) -> dict[str, object]:
    result = prcast(ws, "db", "status", "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_import_moves_state_and_log_and_the_chain_verifies_there(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert prcast(ws, "send", "releases/example.md", "--yes").exit_code == 0
    scheduled = prcast(ws, "schedule", "add", "releases/example.md", "--at", "2099-01-01 09:30 UTC")
    assert scheduled.exit_code == 0, scheduled.output
    original = ws.audit_path.read_bytes()
    posts = len(outbox_entries(ws))
    assert _status(ws)["backend"] == "sqlite"

    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    result = prcast(ws, "db", "import", "--json")
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["records"] == done["chain"] == done["verified"] == original.count(b"\n")
    assert not done["resumed"]
    status = _status(ws)
    assert (status["backend"], status["runs"], status["schedules"]) == ("postgresql", 1, 1)

    result = prcast(ws, "audit", "verify", "--json")
    assert result.exit_code == 0, result.output
    # the file's signed checkpoint came along, and this machine's key: others check it too
    assert json.loads(result.stdout)["signers"][0]["latest"] == done["chain"]
    with psycopg.connect(pg_url) as db:
        (sizes,) = db.execute("SELECT array_agg(size) FROM prcast.audit_checkpoints").fetchone()
    assert sizes == [done["chain"]]
    assert _status(ws)["team_keys"] == 1
    exported = tmp_path / "export.jsonl"
    assert prcast(ws, "audit", "export", "--out", str(exported)).exit_code == 0
    assert exported.read_bytes() == original

    # the ledger came along: the same release is not published again from the database
    result = prcast(ws, "send", "releases/example.md", "--yes")
    assert result.exit_code == 0, result.output
    assert len(outbox_entries(ws)) == posts
    assert ws.audit_path.read_bytes() == original, "the file log was written after the move"

    log = ws.audit()  # the team goes on appending in the database
    log.append("test.note", text="after the move")
    log.close()
    again = prcast(ws, "db", "import", "--json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["resumed"] and second["records"] == 0 and sum(second["rows"].values()) == 0
    assert second["chain"] == second["verified"] == done["chain"] + 1
    assert _status(ws)["runs"] == 1


def test_a_database_is_not_used_before_the_workspace_files_are_imported(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sending from an empty database would not know what the files say went out."""
    assert prcast(ws, "send", "releases/example.md", "--yes").exit_code == 0
    posts = len(outbox_entries(ws))
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    result = prcast(ws, "send", "releases/example.md", "--yes")
    assert result.exit_code == 2, result.output
    assert "prcast db import" in result.output and "Traceback" not in result.output
    assert len(outbox_entries(ws)) == posts
    assert _status(ws)["runs"] == 0  # db status still answers
    assert prcast(ws, "db", "import").exit_code == 0
    assert prcast(ws, "send", "releases/example.md", "--yes").exit_code == 0
    assert len(outbox_entries(ws)) == posts  # published once, from either backend


def test_import_into_a_database_holding_another_workspace_is_refused(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other, _ = init_workspace(tmp_path / "other")
    for w in (ws, other):
        assert prcast(w, "send", "releases/example.md", "--yes").exit_code == 0
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    assert prcast(ws, "db", "import").exit_code == 0
    result = prcast(other, "db", "import")
    assert result.exit_code == 2
    assert "another workspace's state" in result.output and "Traceback" not in result.output
    assert _status(ws)["runs"] == 1
    # in a schema of its own, the second client's workspace imports beside the first
    monkeypatch.setenv("PRCAST_DATABASE_SCHEMA", "other_client")
    assert prcast(other, "db", "import").exit_code == 0


def test_a_broken_log_is_not_imported(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert prcast(ws, "send", "releases/example.md", "--yes").exit_code == 0
    lines = ws.audit_path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"type":"', b'"type":"x', 1)
    ws.audit_path.write_bytes(b"".join(lines))
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    result = prcast(ws, "db", "import")
    assert result.exit_code == 3
    assert "record 2" in result.output
    with psycopg.connect(pg_url) as db:  # checked before anything was written there
        assert db.execute("SELECT to_regclass('prcast.runs')").fetchone() == (None,)


def _run(ws: Workspace, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prcast", "--workspace", str(ws.root), *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_database_password_never_appears_in_output(ws: Workspace, pg_url: str) -> None:
    user, password = f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(f"CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{password}'")
    host_db = pg_url.split("@", 1)[1]
    url = f"postgresql://{user}:{password}@{host_db}"
    for args in (("db", "status"), ("db", "upgrade", "--json"), ("send", "releases/example.md",
                 "--yes"), ("audit", "verify"), ("db", "status", "--json")):  # fmt: skip
        done = _run(ws, *args, env={"PRCAST_DATABASE_URL": url})
        assert done.returncode == 0, done.stderr
        assert password not in done.stdout + done.stderr
    assert f"{user}:***@" in _run(ws, "db", "status", env={"PRCAST_DATABASE_URL": url}).stdout
    in_query = f"postgresql://{user}@{host_db}?password={password}"  # libpq's other way
    done = _run(ws, "db", "status", env={"PRCAST_DATABASE_URL": in_query})
    assert done.returncode == 0, done.stderr
    assert "password=***" in done.stdout and password not in done.stdout + done.stderr

    # a server that is not there: one clear line, exit 2, no password, no traceback
    closed = f"postgresql://{user}:{password}@127.0.0.1:1/nowhere"
    done = _run(ws, "db", "status", env={"PRCAST_DATABASE_URL": closed})
    assert done.returncode == 2
    assert "cannot connect to the database" in done.stderr
    assert password not in done.stdout + done.stderr and "Traceback" not in done.stderr

    # in channels.toml the password is named, never written
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(f'database = "{url}"\n' + text, encoding="utf-8")
    done = _run(ws, "db", "status", env={})
    assert done.returncode == 2
    assert "channels.toml:1" in done.stderr and "holds a password" in done.stderr
    assert password not in done.stdout + done.stderr
    named = f"postgresql://{user}:env:PRCAST_DB_PASSWORD@{host_db}"
    ws.channels_file.write_text(f'database = "{named}"\n' + text, encoding="utf-8")
    done = _run(ws, "db", "status", env={"PRCAST_DB_PASSWORD": password})
    assert done.returncode == 0, done.stderr
    assert "postgresql" in done.stdout and password not in done.stdout + done.stderr
    done = _run(ws, "db", "status", env={})
    assert done.returncode == 2 and "PRCAST_DB_PASSWORD is not set" in done.stderr
