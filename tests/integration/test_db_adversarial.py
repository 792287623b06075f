"""Adversarial checks of the PostgreSQL state and audit: database URLs written in unusual
ways never print their password; and the other defects found from outside."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from prcast.workspace import Workspace


def _run(ws: Workspace, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prcast", "--workspace", str(ws.root), *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "shape",
    [
        # "#", "/" and ":" left unencoded in the password: urlsplit sees no password at all
        "postgresql://pg:{pw}#x/y:z@127.0.0.1:1/postgres",
        # libpq's keyword form, which prcast refuses: the refusal must not quote it whole
        "host=127.0.0.1 port=1 user=pg password={pw}#x/y:z",
    ],
)
def test_a_malformed_database_url_never_prints_its_password(ws: Workspace, shape: str) -> None:
    password = f"pw{uuid.uuid4().hex[:12]}"
    done = _run(ws, "db", "status", env={"PRCAST_DATABASE_URL": shape.format(pw=password)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert password not in done.stdout + done.stderr
    assert "***" in done.stderr  # the URL is still shown, its password hidden


def test_the_database_password_is_read_from_the_workspace_env_file(
    ws: Workspace, pg_url: str
) -> None:
    """As the error's hint says: `env:NAME` is read from the environment, else from .env
    beside channels.toml, for the database as for every channel."""
    password = f"pw{uuid.uuid4().hex[:12]}"
    host_db = pg_url.split("@", 1)[1]
    text = ws.channels_file.read_text(encoding="utf-8")
    named = f"postgresql://pg:env:PRCAST_DB_PASSWORD@{host_db}"
    ws.channels_file.write_text(f'database = "{named}"\n' + text, encoding="utf-8")
    (ws.root / ".env").write_text(f"PRCAST_DB_PASSWORD={password}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PRCAST_DB_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "prcast", "--workspace", str(ws.root), "db", "status"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "postgresql" in done.stdout and password not in done.stdout + done.stderr


def test_a_record_altered_in_the_database_is_placed_in_the_database_not_a_file(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The problem names where the altered record is: the chain in the database (its URL
    shown without password), not a .prcast/audit.jsonl that does not exist."""
    import psycopg
    from typer.testing import CliRunner

    from prcast.cli import app

    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    log = ws.audit()
    for i in range(4):
        log.append("test.record", i=i)
    log.close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("UPDATE prcast.audit_records SET line = replace(line, '\"i\":1', '\"i\":9')"
                   " WHERE seq = 2")  # fmt: skip
    result = CliRunner().invoke(app, ["--workspace", str(ws.root), "audit", "verify"])
    assert result.exit_code == 3
    named = [line for line in result.output.splitlines() if "record 2:" in line]
    assert named, result.output
    assert "(schema prcast)" in named[0] and "audit.jsonl" not in named[0]
    assert not ws.audit_path.exists()


@pytest.mark.parametrize("schema", ["pg_catalog", "pg_mine", "information_schema"])
def test_a_system_schema_is_refused_with_one_clear_message(
    ws: Workspace, pg_url: str, schema: str
) -> None:
    """PostgreSQL's own schemas are no place for a workspace: refused before connecting
    (not an internal error, not prcast's tables written among the system's)."""
    done = _run(ws, "db", "status", env={"PRCAST_DATABASE_URL": pg_url,
                                          "PRCAST_DATABASE_SCHEMA": schema})  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f'PRCAST_DATABASE_SCHEMA: database schema "{schema}"' in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_a_bad_database_schema_in_channels_toml_names_its_own_line(
    ws: Workspace, pg_url: str
) -> None:
    text = ws.channels_file.read_text(encoding="utf-8")
    head = f'# the team\'s database\ndatabase = "{pg_url}"\n\ndatabase_schema = "Acme-Press"\n'
    ws.channels_file.write_text(head + text, encoding="utf-8")
    done = _run(ws, "db", "status", env={})
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'channels.toml:4: database schema "Acme-Press"' in done.stderr


def test_a_server_that_never_answers_is_one_clear_error_not_a_hang(ws: Workspace) -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (the backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = f"postgresql://pg@127.0.0.1:{port}/press"
        done = _run(ws, "db", "status", env={"PRCAST_DATABASE_URL": url})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot connect to the database" in done.stderr and "timeout" in done.stderr


def test_a_lock_held_by_a_stopped_session_is_waited_for_then_one_clear_error(
    ws: Workspace, pg_url: str
) -> None:
    """Another session (a laptop suspended mid-append) holds the audit chain's head: a send
    waits PRCAST_DB_LOCK_TIMEOUT seconds, then stops with one message and posts nothing;
    once the lock is gone the same send posts once."""
    import psycopg

    from tests.conftest import outbox_entries

    env = {"PRCAST_DATABASE_URL": pg_url, "PRCAST_DB_LOCK_TIMEOUT": "2"}
    assert _run(ws, "db", "upgrade", env=env).returncode == 0
    with psycopg.connect(pg_url) as holder:  # a transaction left open
        holder.execute("SELECT * FROM prcast.audit_head FOR UPDATE")
        done = _run(ws, "send", "releases/example.md", "--yes", env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "is locked by another session for more than 2 s" in done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        assert outbox_entries(ws) == []
    done = _run(ws, "send", "releases/example.md", "--yes", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(outbox_entries(ws)) == 1


def test_a_connection_lost_mid_statement_is_one_clear_error(pg_url: str) -> None:
    import psycopg

    from prcast.errors import DeliveryError
    from prcast.store.dialect import PostgreSQL

    db = PostgreSQL(pg_url, "prcast")
    pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(pg_url, autocommit=True) as admin:  # the server drops it
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(DeliveryError) as lost:
        db.execute("SELECT 1")
    assert "the connection to the database" in lost.value.message
    assert "was lost" in lost.value.message and "prcast resume" in (lost.value.hint or "")
    db.close()


def test_doctor_checks_the_audit_chain_in_the_database(ws: Workspace, pg_url: str) -> None:
    """Not "no audit log yet" for a workspace whose chain is in PostgreSQL: doctor verifies
    it there, and fails with exit 3 when a row was altered."""
    import psycopg

    env = {"PRCAST_DATABASE_URL": pg_url}
    assert _run(ws, "send", "releases/example.md", "--yes", env=env).returncode == 0
    done = _run(ws, "doctor", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chain verifies" in done.stdout and "no audit log yet" not in done.stdout
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("UPDATE prcast.audit_records SET line = replace(line, '\"seq\":2', '\"seq\":9')"
                   " WHERE seq = 2")  # fmt: skip
    done = _run(ws, "doctor", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "record 2" in done.stdout + done.stderr


def test_a_workspace_with_an_audit_log_but_no_state_can_be_imported(
    ws: Workspace, pg_url: str
) -> None:
    """An approver registered before anything was sent leaves an audit log and no state:
    the database is refused until `db import`, so the import must take the log alone
    (it used to refuse too: "no state to import", a dead end)."""
    key = _run(ws, "audit", "key", env={}).stdout.split()[0]
    assert _run(ws, "approver", "add", "--name", "Jana", key, env={}).returncode == 0
    assert ws.audit_path.is_file() and not ws.store_path.exists()
    env = {"PRCAST_DATABASE_URL": pg_url}
    refused = _run(ws, "send", "releases/example.md", "--yes", env=env)
    assert refused.returncode == 2 and "prcast db import" in refused.stderr
    done = _run(ws, "db", "import", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 audit records" in done.stdout
    sent = _run(ws, "send", "releases/example.md", "--yes", env=env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    verified = _run(ws, "audit", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
