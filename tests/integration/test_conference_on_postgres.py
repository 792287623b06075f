"""A press conference whose workspace keeps its state and audit chain in PostgreSQL: the
question book, the moderators' claims, skips taken back and answers go to the database, and
the chain verifies and exports there."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prcast import conference
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import HOST, JOURNALISTS
from tests.integration.test_conference import ask, define, newest_id, open_and_ask, statuses_of


def test_skip_unskip_and_answer_on_postgres_are_audited_in_the_database(
    conf_ws: Workspace,
    cli: Invoke,
    conference_server: str,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PRCAST_DATABASE_URL", pg_url)
    name = "pgconf"
    question = f"@{HOST} is the workshop open on Sundays?"
    _, [q1] = open_and_ask(conf_ws, cli, conference_server, name, [question])
    monkeypatch.setenv("PRCAST_MODERATOR", "dave")
    assert cli("conference", "skip", q1.qid, "--reason", "off topic", "-c", name).exit_code == 0
    monkeypatch.setenv("PRCAST_MODERATOR", "carol")
    result = cli("conference", "unskip", q1.qid, "-c", name)
    assert result.exit_code == 0, result.output
    marker = newest_id(conference_server)
    result = cli("conference", "answer", q1.qid, "Yes, from 10.", "-c", name)
    assert result.exit_code == 0, result.output
    assert len(statuses_of(conference_server, HOST, marker)) == 1
    assert not conf_ws.audit_path.exists() and not conf_ws.store_path.exists()
    out = tmp_path / "audit.jsonl"
    assert cli("audit", "export", "--out", str(out)).exit_code == 0
    kinds = [json.loads(line)["type"] for line in out.read_text().splitlines()]
    assert kinds.count("conference.unskipped") == 1 and kinds.count("conference.answered") == 1
    assert cli("audit", "verify").exit_code == 0
    report = cli("report", "--conference", name, "--format", "json")
    assert report.exit_code == 0, report.output


def test_an_answer_in_flight_when_the_conference_closes_is_not_posted_after_the_closing(
    conf_ws: Workspace, conference_server: str
) -> None:
    """A moderator's answer is being posted (the server is slow) when another shell closes
    the conference: the close is refused naming who holds the question, the answer goes out,
    and closing again puts the closing post last; no answer lands after it."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    name = "race"
    define(conf_ws, name, datetime.now(UTC) - timedelta(minutes=1))
    env = {**os.environ, "PRCAST_WORKSPACE": str(conf_ws.root), "PRCAST_MODERATOR": "carol"}
    run = [sys.executable, "-m", "prcast", "conference"]
    assert subprocess.run([*run, "open", "-c", name], env=env).returncode == 0
    ask(conference_server, JOURNALISTS[0], f"@{HOST} will the workshop open on Sundays?")
    conf = conference.load(conf_ws, name)
    [q1] = conference.poll(conf_ws, conf).new
    marker = newest_id(conference_server)
    httpx.post(conference_server + "/api/v1/_mock/faults", json={
        "match": {"methods": ["POST"], "path": "/api/v1/statuses"},
        "effect": {"type": "latency", "delay_ms": 4000}, "count": 1}).raise_for_status()  # fmt: skip
    answering = subprocess.Popen([*run, "answer", q1.qid, "Yes, from 10.", "-c", name], env=env)
    time.sleep(1.5)  # its post is on the way
    closing = subprocess.run([*run, "close", "-c", name], env=env, capture_output=True, text=True)
    assert answering.wait(60) == 0
    assert closing.returncode == 2, closing.stdout + closing.stderr
    assert f"{q1.qid} is taken by carol" in closing.stderr and "Traceback" not in closing.stderr
    closed = subprocess.run([*run, "close", "-c", name], env=env, capture_output=True, text=True)
    assert closed.returncode == 0, closed.stdout + closed.stderr
    posted = sorted(statuses_of(conference_server, HOST, marker), key=lambda s: int(s["id"]))
    assert len(posted) == 2 and "from 10" in posted[0]["content"]
    with conference.Book(conf_ws, conf) as book:
        assert book.state().status == conference.CLOSED
        assert book.question(q1.qid).status == conference.ANSWERED


def test_two_moderators_taking_back_the_same_skips_at_once_each_is_taken_back_once(
    conf_ws: Workspace, conference_server: str, pg_url: str, tmp_path: Path
) -> None:
    """Two processes (two moderators on two machines sharing PostgreSQL) unskip the same ten
    questions at the same moment: each question opens again once, audited once."""
    import os
    import subprocess
    import sys

    name = "both"
    env = {**os.environ, "PRCAST_WORKSPACE": str(conf_ws.root), "PRCAST_DATABASE_URL": pg_url}
    os.environ["PRCAST_DATABASE_URL"] = pg_url  # this process's Book too
    try:
        define(conf_ws, name, datetime.now(UTC) - timedelta(minutes=1))
        run = [sys.executable, "-m", "prcast", "conference"]
        assert subprocess.run([*run, "open", "-c", name], env=env).returncode == 0
        for n in range(10):
            ask(conference_server, JOURNALISTS[n], f"@{HOST} question {n}: and on day {n}?")
        conf = conference.load(conf_ws, name)
        questions = conference.poll(conf_ws, conf).new
        assert len(questions) == 10
        for q in questions:
            conference.skip(conf_ws, conf, q.qid, "later", by="dave")
        script = " && ".join(f"{{ {' '.join(run)} unskip {q.qid} -c {name} || true; }}"
                             for q in questions)  # fmt: skip
        procs = [subprocess.Popen(["bash", "-c", script], env={**env, "PRCAST_MODERATOR": who},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for who in ("carol", "erin")]  # fmt: skip
        outputs = [p.communicate(timeout=300)[0] for p in procs]
        assert "Traceback" not in "".join(outputs) and "internal error" not in "".join(outputs)
        out = tmp_path / "audit.jsonl"
        export = subprocess.run([sys.executable, "-m", "prcast", "audit", "export", "--out",
                                 str(out)], env=env)  # fmt: skip
        assert export.returncode == 0
        records = [json.loads(line) for line in out.read_text().splitlines()]
        unskipped = [r["qid"] for r in records if r["type"] == "conference.unskipped"]
        assert sorted(unskipped) == sorted(q.qid for q in questions)
        with conference.Book(conf_ws, conf) as book:
            assert {q.status for q in book.questions()} == {conference.OPEN}
    finally:
        os.environ.pop("PRCAST_DATABASE_URL", None)
