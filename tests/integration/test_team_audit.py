"""One audit chain for the team, signed by every machine: each machine (its own folder and
its own config folder, so its own signing key) appends to the chain in PostgreSQL and signs
checkpoints kept in the database with its published key. Plain `prcast audit verify` on
any machine checks them all and names the signers; a checkpoint altered in the database,
or signed by a key that is not the team's, is named; `audit export --checkpoints` gives a
verifier everything it needs, without the database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from prcast import keys
from prcast.checkpoint import Checkpoint, parse, sign
from prcast.cli import app
from prcast.workspace import Workspace


def prcast(root: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def as_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> Path:
    """Switch this process to another machine: a home and config folder of its own, and
    nothing appended yet (a command signs a checkpoint of every log it appended to)."""
    from prcast import audit

    monkeypatch.setattr(audit, "appended", set())
    home = machine_home(tmp_path, name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home.parent


def machine_home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / "machines" / name / "home"
    home.mkdir(parents=True, exist_ok=True)
    return home


APPEND = """
import sys
from pathlib import Path
from prcast import keys
from prcast.workspace import Workspace
log = Workspace(Path(sys.argv[1])).audit()
for i in range(int(sys.argv[3])):
    log.append("test.record", by=sys.argv[2], i=i)
log.checkpoint()  # as at the end of a run
log.close()
print(keys.audit_key(create=False)[0].verifier.vkey)
"""


def append_and_sign(tmp_path: Path, who: str, count: int, root: Path | None = None) -> str:
    """What a machine does in a run, in a process of its own with its own home: append
    records, then sign a checkpoint at its end. Returns its verifier key."""
    home = machine_home(tmp_path, who)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    done = subprocess.run(
        [sys.executable, "-c", APPEND, str(root or home.parent / "ws"), who, str(count)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def team_chain(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Any]:
    """A chain of 30 records: 10 by the workspace's machine, 10 each by two workers, each
    signing at the end of its part. Returns the workers' key names; this process is left
    as the workspace's machine."""
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    office = append_and_sign(tmp_path, "office", 10, ws.root)
    workers = {w: append_and_sign(tmp_path, w, 10) for w in ("worker1", "worker2")}
    as_machine(monkeypatch, tmp_path, "office")
    return {"workers": {w: keys.parse_vkey(v) for w, v in workers.items()},
            "office": keys.parse_vkey(office)}  # fmt: skip


def test_plain_verify_checks_every_machines_checkpoints_and_names_the_signers(
    ws: Workspace, team_chain: dict[str, Any]
) -> None:
    result = prcast(ws.root, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "30 records" in result.output
    verdict = json.loads(prcast(ws.root, "audit", "verify", "--json").stdout)
    assert verdict["intact"] and verdict["records"] == 30
    signers = {s["key"]: s for s in verdict["signers"]}
    workers = team_chain["workers"]
    assert set(signers) == {team_chain["office"].vkey, *(k.vkey for k in workers.values())}
    assert signers[workers["worker2"].vkey]["latest"] == 30
    assert signers[team_chain["office"].vkey]["latest"] == 10
    assert all(s["host"] for s in signers.values())
    assert sorted(c["size"] for c in verdict["checkpoints"]) == [10, 20, 30]
    pins = [a for k in workers.values() for a in ("--key", k.vkey)]  # the office's is its own
    pinned = prcast(ws.root, "audit", "verify", *pins)
    assert pinned.exit_code == 0, pinned.output
    assert "not pinned" not in pinned.output


def test_records_appended_after_the_last_checkpoint_are_a_warning_in_team_mode(
    ws: Workspace, team_chain: dict[str, Any]
) -> None:
    """Workers append while they run and sign at the end: an unsigned tail is said, not
    taken for tampering; `prcast audit checkpoint` signs it."""
    log = ws.audit()
    log.append("test.record", by="late")
    log.close()
    result = prcast(ws.root, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "record 31 of 31 not covered by a signed checkpoint yet" in result.output


def _stored(pg_url: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(pg_url) as db:
        rows = db.execute(
            "SELECT size, key_name, note FROM prcast.audit_checkpoints ORDER BY size"
        ).fetchall()
    return [(int(s), str(k), str(n)) for s, k, n in rows]


def test_a_checkpoint_altered_in_the_database_is_named(
    ws: Workspace, team_chain: dict[str, Any], pg_url: str
) -> None:
    size, name, note = _stored(pg_url)[1]
    cp, _, _ = parse(note)
    other = Checkpoint(cp.origin, cp.size, bytes(32))  # another root, the old signature
    forged = note.replace(cp.body(), other.body())
    assert forged != note
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("UPDATE prcast.audit_checkpoints SET note = %s WHERE size = %s", (forged, size))
    result = prcast(ws.root, "audit", "verify")
    assert result.exit_code == 3, result.output
    assert f"in the database (size {size}, by {name}" in result.output
    assert "does not verify (forged or altered)" in result.output
    exported = prcast(ws.root, "audit", "export")
    assert exported.exit_code == 3 and "not exported" in exported.output


def test_a_checkpoint_signed_by_an_unknown_key_is_named(
    ws: Workspace, team_chain: dict[str, Any], pg_url: str
) -> None:
    """An insider with database access signs a checkpoint of a rewritten chain with a key of
    their own: not published, it is named as unknown; published, pinning the team's keys
    names it."""
    intruder = keys.generate("mallory@db/prcast-audit")
    size, _, note = _stored(pg_url)[-1]
    cp, _, _ = parse(note)
    forged = sign(Checkpoint(cp.origin, cp.size, bytes(32)), intruder)
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(
            "INSERT INTO prcast.audit_checkpoints (size, key_name, key_id, note, host, signed_at)"
            " VALUES (%s, %s, %s, %s, 'db', '2026-11-23')",
            (size, intruder.name, intruder.verifier.id.hex(), forged),
        )
    result = prcast(ws.root, "audit", "verify")
    assert result.exit_code == 3, result.output
    assert "signed by mallory@db/prcast-audit, not by a key of the team" in result.output

    with psycopg.connect(pg_url, autocommit=True) as db:  # the insider publishes the key too
        db.execute(
            "INSERT INTO prcast.team_keys (vkey, name, host, first_seen)"
            " VALUES (%s, %s, 'db', '2026-11-23T00:00:00')",
            (intruder.verifier.vkey, intruder.name),
        )
    trusting = prcast(ws.root, "audit", "verify")
    assert trusting.exit_code == 3  # its checkpoint does not match the chain
    assert f"checkpoint of size {size} (signed by mallory@db/prcast-audit)" in trusting.output
    pins = [a for k in team_chain["workers"].values() for a in ("--key", k.vkey)]
    pinned = prcast(ws.root, "audit", "verify", *pins)
    assert pinned.exit_code == 3
    assert "mallory@db/prcast-audit published in the database by db" in pinned.output
    assert "is not pinned" in pinned.output
    listed = Path(os.environ["XDG_CONFIG_HOME"]) / "prcast" / "trusted-keys.txt"
    listed.write_text("".join(k.vkey + "\n" for k in team_chain["workers"].values()))
    from_list = prcast(ws.root, "audit", "verify")
    assert from_list.exit_code == 3
    assert "mallory@db/prcast-audit published in the database by db" in from_list.output


def test_export_with_checkpoints_verifies_without_the_database(
    ws: Workspace, team_chain: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, folder = tmp_path / "audit.jsonl", tmp_path / "audit.checkpoints"
    exported = prcast(ws.root, "audit", "export", "--out", str(out), "--checkpoints", str(folder))
    assert exported.exit_code == 0, exported.output
    assert len(list(folder.glob("*.checkpoint"))) == 3
    listed = (folder / "keys.txt").read_text(encoding="utf-8").split()
    assert set(listed) == {
        team_chain["office"].vkey,
        *(k.vkey for k in team_chain["workers"].values()),
    }

    # an auditor: another machine, no database, a copy of the file
    monkeypatch.delenv("PRCAST_DATABASE_URL")
    as_machine(monkeypatch, tmp_path, "auditor")
    copy = tmp_path / "auditor-ws"
    (copy / ".prcast").mkdir(parents=True)
    (copy / "channels.toml").write_text("", encoding="utf-8")
    shutil.copy(out, copy / ".prcast" / "audit.jsonl")
    args = ["audit", "verify", "--checkpoint", str(folder), "--key", str(folder / "keys.txt")]
    checked = prcast(copy, *args, "--json")
    assert checked.exit_code == 0, checked.output
    verdict = json.loads(checked.stdout)
    assert verdict["intact"] and sorted(c["size"] for c in verdict["checkpoints"]) == [10, 20, 30]

    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)  # one record dropped
    (copy / ".prcast" / "audit.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")
    broken = prcast(copy, *args)
    assert broken.exit_code == 3
    assert "checkpoint of size 30" in broken.output and "record 30 deleted" in broken.output
