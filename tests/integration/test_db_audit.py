"""The audit chain in PostgreSQL: appends from several processes (standing in for several
machines) form one chain without a fork; `audit verify` checks it with its signed
checkpoints; `audit export` writes the JSON Lines file that the file log's verifier reads."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prcast.audit import AuditLog, DatabaseAuditLog
from prcast.cli import app
from prcast.workspace import Workspace


def _append(root: str, url: str, name: str, count: int, start: Any, out: Any) -> None:
    os.environ["PRCAST_DATABASE_URL"] = url
    ws = Workspace(Path(root))
    log = ws.audit()
    start.wait()
    seqs = []
    for i in range(count):
        if i % 10 == 9:  # some group commits too
            seqs += [r["seq"] for r in log.append_many([("test.batch", {"by": name, "i": i})] * 3)]
        else:
            seqs.append(log.append("test.record", by=name, i=i)["seq"])
    log.close()
    out.put((name, seqs))


def test_appends_from_four_processes_form_one_chain_that_verifies(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_append, args=(str(ws.root), pg_url, f"m{n}", 100, start, out))
        for n in range(4)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=180) for _ in procs)
    for p in procs:
        p.join(60)
    per_process = 90 + 10 * 3
    total = 4 * per_process
    taken = sorted(s for seqs in results.values() for s in seqs)
    assert taken == list(range(1, total + 1)), "two appenders continued from the same head"
    assert all(seqs == sorted(seqs) for seqs in results.values())
    assert not ws.audit_path.exists(), "the log went to the workspace file, not the database"

    log = ws.audit()
    assert isinstance(log, DatabaseAuditLog)
    verified = log.verify()
    assert verified.records == total
    records = list(log.records())
    assert [r["by"] for r in records].count("m2") == per_process
    # every record chains to the one before it: one chain, no fork
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))

    runner = CliRunner()
    result = runner.invoke(app, ["--workspace", str(ws.root), "audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--workspace", str(ws.root), "audit", "verify", "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["intact"] and verdict["records"] == total, verdict
    assert [c["size"] for c in verdict["checkpoints"]] == [total]  # signed over the whole chain

    exported = tmp_path / "exported.jsonl"
    result = runner.invoke(app, ["--workspace", str(ws.root), "audit", "export", "--out",
                                 str(exported)])  # fmt: skip
    assert result.exit_code == 0, result.output
    from_file = AuditLog(exported)  # the file log's own verifier reads the export
    assert from_file.verify() == verified
    assert [r["hash"] for r in from_file.records()] == [r["hash"] for r in records]


def test_a_record_altered_in_the_database_is_named_by_audit_verify(
    ws: Workspace, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    log = ws.audit()
    for i in range(5):
        log.append("test.record", i=i)
    log.close()
    runner = CliRunner()
    assert runner.invoke(app, ["--workspace", str(ws.root), "audit", "checkpoint"]).exit_code == 0
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as db:  # an insider edits record 3
        db.execute("UPDATE prcast.audit_records SET line = replace(line, '\"i\":2', '\"i\":7')"
                   " WHERE seq = 3")  # fmt: skip
    result = runner.invoke(app, ["--workspace", str(ws.root), "audit", "verify"])
    assert result.exit_code == 3
    assert "record 3" in result.output
