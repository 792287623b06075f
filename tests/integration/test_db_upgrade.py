"""`prcast db upgrade` prepares a team database before any worker starts: prcast's schema
(team_plans, the audit checkpoints and team keys included, by migration) and the job
queue's tables, once, whoever runs it at the same time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from typer.testing import CliRunner, Result

from prcast.cli import app
from prcast.store.migrations import LATEST
from prcast.workspace import Workspace


def prcast(ws: Workspace, *args: str) -> Result:
    return CliRunner().invoke(app, ["--workspace", str(ws.root), *args])


def tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_db_upgrade_creates_the_schema_and_the_job_queue_once(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    assert "procrastinate_jobs" not in tables(pg_url, "public")
    first = prcast(ws, "db", "upgrade", "--json")
    assert first.exit_code == 0, first.output
    facts = json.loads(first.stdout)
    assert (facts["version"], facts["job_queue"]) == (LATEST, "created")
    assert "procrastinate_jobs" in tables(pg_url, "public")
    assert {"team_plans", "audit_checkpoints", "team_keys"} <= tables(pg_url, "prcast")
    again = prcast(ws, "db", "upgrade")
    assert again.exit_code == 0, again.output
    assert "job queue (procrastinate's tables): already there" in again.output
    status = json.loads(prcast(ws, "db", "status", "--json").stdout)
    assert (status["team_plans"], status["team_keys"]) == (0, 0)


def test_three_db_upgrades_at_once_create_the_job_queue_once(ws: Workspace, pg_url: str) -> None:
    env = {**os.environ, "PRCAST_DATABASE_URL": pg_url}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prcast",
                "--workspace",
                str(ws.root),
                "db",
                "upgrade",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    said = sorted(json.loads(out)["job_queue"] for out, _ in results)
    assert said == ["created", "present", "present"]


def test_a_database_with_team_plans_made_on_first_use_upgrades_keeping_them(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team database of the prcast before this migration: version 4, team_plans created by
    the first `schedule add` (not by a migration), holding a plan. Upgrading keeps it."""
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    assert prcast(ws, "db", "upgrade").exit_code == 0
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("SET search_path TO prcast")
        db.execute("DROP TABLE team_plans, audit_checkpoints, team_keys")
        db.execute("UPDATE schema_version SET version = 4")
        db.execute(
            "CREATE TABLE team_plans (run_id TEXT PRIMARY KEY, manifest TEXT NOT NULL,"
            " created_at TEXT NOT NULL)"
        )
        db.execute("INSERT INTO team_plans VALUES ('run-1', '{\"kept\": true}', '2026-11-01')")
    assert json.loads(prcast(ws, "db", "status", "--json").stdout)["version"] == LATEST
    store = ws.store()
    try:
        assert store.team_plan("run-1") == '{"kept": true}'
    finally:
        store.close()
    assert {"audit_checkpoints", "team_keys"} <= tables(pg_url, "prcast")
