"""Team mode with real processes racing: `prcast worker` processes, each in its own empty
folder (a machine of its own), share one PostgreSQL database; workers are SIGKILLed while
they send. Counted on the servers (aiosmtpd, mastodon-mock): nothing lost, nothing twice."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from prcast.cli import app
from prcast.workspace import Workspace
from tests.integration.conftest import Mailbox, add_masto_and_mail
from tests.integration.team_support import Worker, team_db, until, workers
from tests.integration.test_crash import statuses_since
from tests.integration.test_email import press_list
from tests.integration.test_faults import TOKEN, newest_status, statement

__all__ = ["team_db", "workers"]  # fixtures


def prcast(ws: Workspace, *args: str) -> Result:
    return CliRunner().invoke(app, ["--workspace", str(ws.root), *args])


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def item_status(ws: Workspace, item_id: int) -> str:
    listed = prcast(ws, "schedule", "list", "--all", "--json")
    assert listed.exit_code == 0, listed.output
    return str(next(i["status"] for i in json.loads(listed.stdout) if i["id"] == item_id))


def worker_env() -> dict[str, str]:
    """What a worker machine has: the database URL and the channel secrets, nothing else
    of the workspace."""
    env = {k: v for k, v in os.environ.items() if k != "PRCAST_WORKSPACE"}
    return {**env, "PRCAST_MASTODON_TOKEN": TOKEN, "PRCAST_TEAM_SPREAD": "4"}


def audit_records(ws: Workspace) -> list[dict[str, Any]]:
    """The team's chain as `prcast audit export` writes it (verified first)."""
    exported = prcast(ws, "audit", "export")
    assert exported.exit_code == 0, exported.output
    return [json.loads(line) for line in exported.stdout.splitlines() if line.startswith("{")]


def check_everything_once(
    ws: Workspace, box: Mailbox, mastodon: str, newest_before: int, run_id: str,
    crew: list[Worker],
) -> dict[str, Any]:  # fmt: skip
    """The report accounts for every delivery; every recipient and post at most once on
    the servers, and exactly once unless reported in doubt; the chain verifies."""
    report = json.loads(prcast(ws, "report", run_id, "--format", "json").stdout)
    rows = report["deliveries"]
    assert set(report["counts"]) <= {"delivered", "in-doubt", "suppressed", "no-address"}, report[
        "counts"
    ]
    received = box.by_recipient()
    assert all(len(m) == 1 for m in received.values()), "a journalist got the release twice"
    mail = [r for r in rows if r["channel"] == "press-mail"]
    for r in mail:
        if r["status"] == "delivered":
            assert r["target"] in received, r
    assert len(received) == sum(1 for r in mail if r["target"] in received)
    in_doubt = [r for r in rows if r["status"] == "in-doubt"]
    assert all(r["channel"] == "press-mail" for r in in_doubt), "Mastodon dedupes: never in doubt"
    ours = statuses_since(mastodon, newest_before)
    masto = [r for r in rows if r["channel"] == "masto"]
    assert len(ours) == len(masto), "a Mastodon post was lost or doubled"
    numbers = Counter(n for s in ours for n in re.findall(r"Update (\d{3})", str(s["content"])))
    assert set(numbers.values()) == {1}
    by_id = {str(s["id"]): s for s in ours}
    for parent, child in itertools.pairwise(masto):
        assert by_id[child["remote_id"]]["in_reply_to_id"] == parent["remote_id"]
    verified = verify_with_workers(ws, crew)
    assert verified.exit_code == 0, verified.output
    return report


def verify_with_workers(ws: Workspace, crew: list[Worker]) -> Result:
    """Plain `prcast audit verify` on the workspace's machine: the workers' checkpoints and
    keys are in the database; the verdict names the machines that signed."""
    verified = prcast(ws, "audit", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    signers = {s["key"] for s in json.loads(verified.stdout)["signers"]}
    published = {
        line.rsplit("audit key ", 1)[1].strip()
        for w in crew
        for line in w.log.splitlines()
        if "audit key " in line
    }
    assert len(published) == len(crew), "each worker publishes its key when it starts"
    assert signers & published, "no worker signed a checkpoint"
    return prcast(ws, "audit", "verify")


def planned_run(ws: Workspace, item_id: int) -> str:
    listed = json.loads(prcast(ws, "schedule", "list", "--all", "--json").stdout)
    return str(next(i["run"] for i in listed if i["id"] == item_id))


def test_three_workers_share_a_run_and_survive_two_kills(
    ws: Workspace,
    team_db: str,
    workers: Callable[..., Worker],
    mailbox: Mailbox,
    mastodon_server: str,
) -> None:
    # a real server's pace: the run lasts long enough for a third worker to join it on a
    # loaded machine, and the kills land mid-run
    mailbox.delay = 0.06
    press_list(ws, n=300)
    add_masto_and_mail(ws, mastodon_server, mailbox.port, connections=2)
    statement(ws, 30, front='channels = ["masto", "press-mail"]\n'
              'audience = ["tech-press", "business-press"]\n')  # fmt: skip
    newest_before = newest_status(mastodon_server)
    crew = [workers(f"machine{i}", worker_env()) for i in (1, 2, 3)]
    added = prcast(ws, "schedule", "add", "crisis", "--at", soon(3), "--json")
    assert added.exit_code == 0, added.output
    item = json.loads(added.stdout)["id"]
    run_id = planned_run(ws, item)

    def senders() -> list[Worker]:
        return [
            w for w in crew if w.process.poll() is None and ("fired" in w.log or "helping" in w.log)
        ]

    try:
        until(lambda: len(mailbox.messages) >= 40 and len(senders()) == 3, 60, "all three to send")
    except AssertionError:
        raise AssertionError("\n".join(f"{w.name}:\n{w.log}" for w in crew)) from None
    first = senders()[0]
    first.kill()
    at_first = len(mailbox.messages)
    until(lambda: len(mailbox.messages) >= at_first + 80, 120, "the others to go on")
    second = senders()[0]
    second.kill()
    assert len(mailbox.messages) < 300, "the run ended before the second kill"
    until(lambda: item_status(ws, item) in ("done", "incomplete", "failed"), 240, "the item")
    report = check_everything_once(ws, mailbox, mastodon_server, newest_before, run_id, crew)
    counts = report["counts"]
    assert counts.get("delivered", 0) + counts.get("in-doubt", 0) >= 300 + 30 - 1
    records = audit_records(ws)
    fired = [r for r in records if r["type"] == "schedule.fired" and r.get("schedule") == item]
    assert len(fired) == 1
    senders_seen = {
        (r.get("host"), r.get("pid"))
        for r in records
        if r["type"] in ("run.started", "run.resumed") and r.get("run") == run_id
    }
    assert len(senders_seen) >= 3, "the run was not shared by the workers"
    survivor = next(w for w in crew if w.process.poll() is None)
    assert f"#{item}" in survivor.log or "helping" in survivor.log


def test_a_scheduled_item_fires_once_when_its_worker_is_killed_at_the_due_time(
    ws: Workspace,
    team_db: str,
    workers: Callable[..., Worker],
    mailbox: Mailbox,
    mastodon_server: str,
) -> None:
    mailbox.delay = 0.02
    press_list(ws, n=40)
    add_masto_and_mail(ws, mastodon_server, mailbox.port)
    statement(ws, 5, front='channels = ["masto", "press-mail"]\n'
              'audience = ["tech-press", "business-press"]\n')  # fmt: skip
    newest_before = newest_status(mastodon_server)
    env = {**worker_env(), "PRCAST_TEAM_SPREAD": "1"}
    crew = [workers(f"machine{i}", env) for i in (1, 2)]
    added = prcast(ws, "schedule", "add", "crisis", "--at", soon(3), "--json")
    assert added.exit_code == 0, added.output
    item = json.loads(added.stdout)["id"]
    run_id = planned_run(ws, item)
    until(lambda: any(f"fired #{item}" in w.log for w in crew), 60, "the item to fire")
    first = next(w for w in crew if f"fired #{item}" in w.log)
    first.kill()  # at the due time: it may have sent nothing, or a few
    other = next(w for w in crew if w is not first)
    until(lambda: item_status(ws, item) in ("done", "incomplete", "failed"), 120, "the item")
    assert item_status(ws, item) in ("done", "incomplete")
    check_everything_once(ws, mailbox, mastodon_server, newest_before, run_id, crew)
    assert f"#{item} " in other.log
    # taken over by stalled-job recovery, or by the periodic task finding its runner dead
    assert f"resumed #{item}" in other.log
    records = audit_records(ws)
    fired = [r for r in records if r["type"] == "schedule.fired" and r.get("schedule") == item]
    assert len(fired) == 1, "the item fired twice"
    resumed = [r for r in records if r["type"] == "schedule.resumed" and r.get("schedule") == item]
    assert resumed and resumed[-1]["pid"] == other.process.pid


def test_worker_without_a_database_says_so(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRCAST_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "PRCAST_DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_schedule_add_stores_the_checked_plan_with_secret_references_only(
    ws: Workspace, team_db: str, mailbox: Mailbox, mastodon_server: str
) -> None:
    """What a worker gets is the rendered plan and env: references: the token's value is
    nowhere in the database, and the plan names the release's content hash."""
    import psycopg

    press_list(ws, n=5)
    add_masto_and_mail(ws, mastodon_server, mailbox.port)
    statement(ws, 3, front='channels = ["masto", "press-mail"]\naudience = ["tech-press"]\n')
    os.environ["PRCAST_MASTODON_TOKEN"] = TOKEN  # set on this machine: must not travel
    try:
        added = prcast(ws, "schedule", "add", "crisis", "--at", soon(3600), "--json")
    finally:
        del os.environ["PRCAST_MASTODON_TOKEN"]
    assert added.exit_code == 0, added.output
    item = json.loads(added.stdout)
    assert item["status"] == "pending" and item["run"]
    with psycopg.connect(team_db) as db:
        db.execute("SET search_path TO prcast")
        (manifest,) = db.execute(
            "SELECT manifest FROM team_plans WHERE run_id = %s", (item["run"],)
        ).fetchone()
        rows = db.execute("SELECT channel, target, post FROM publications").fetchall()
        jobs = db.execute(
            "SELECT task_name, args FROM public.procrastinate_jobs WHERE status = 'todo'"
        ).fetchall()
    plan = json.loads(manifest)
    assert plan["channels"]["masto"]["token"] == "env:PRCAST_MASTODON_TOKEN"
    assert plan["release_sha256"] and plan["release_id"]
    posts = [str(post) for _, _, post in rows]
    assert TOKEN not in manifest and not any(TOKEN in p for p in posts)
    assert {channel for channel, _, _ in rows} == {"masto", "press-mail"}
    assert {"j1@outlet1.example", "j3@outlet3.example"} <= {target for _, target, _ in rows}
    assert jobs == [("prcast:fire_scheduled", {"item_id": item["id"], "schema": "prcast"})]
    assert "Update 001" in "".join(posts)


def test_schedule_add_refuses_what_send_would_refuse_and_stores_nothing(
    ws: Workspace, team_db: str, mailbox: Mailbox, mastodon_server: str
) -> None:
    (ws.root / "policy.toml").write_text('blocked_terms = ["Project Falcon"]\n', encoding="utf-8")
    add_masto_and_mail(ws, mastodon_server, mailbox.port)
    (ws.releases_dir / "leak.md").write_text(
        '+++\ntitle = "Statement"\nchannels = ["masto"]\n+++\nProject Falcon ships in May.\n',
        encoding="utf-8",
    )
    refused = prcast(ws, "schedule", "add", "leak", "--at", soon(3600))
    assert refused.exit_code == 2
    assert "Project Falcon" in refused.output and "Traceback" not in refused.output
    assert json.loads(prcast(ws, "schedule", "list", "--all", "--json").stdout) == []


def test_a_release_with_images_is_refused_in_team_mode(
    ws: Workspace, team_db: str, mailbox: Mailbox, mastodon_server: str
) -> None:
    from tests.integration.conftest import write_release

    add_masto_and_mail(ws, mastodon_server, mailbox.port)
    write_release(ws, "@press", front='channels = ["masto"]\n')
    refused = prcast(ws, "schedule", "add", "launch", "--at", soon(3600))
    assert refused.exit_code == 2
    assert "launch.md" in refused.output and "images" in refused.output
    assert json.loads(prcast(ws, "schedule", "list", "--all", "--json").stdout) == []


def test_worker_with_an_unreachable_database_says_so_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.integration.conftest import free_port

    url = f"postgresql://prcast:hunter2secret@127.0.0.1:{free_port()}/prcast"
    monkeypatch.setenv("PRCAST_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "cannot connect to the database" in result.output
    assert "hunter2secret" not in result.output and "Traceback" not in result.output


def test_a_cancelled_item_is_not_sent_by_the_workers(
    ws: Workspace, team_db: str, workers: Callable[..., Worker], mailbox: Mailbox,
    mastodon_server: str,
) -> None:  # fmt: skip
    press_list(ws, n=6)
    add_masto_and_mail(ws, mastodon_server, mailbox.port)
    statement(ws, 2, front='channels = ["press-mail"]\naudience = ["tech-press"]\n')
    worker = workers("machine1", worker_env())
    added = prcast(ws, "schedule", "add", "crisis", "--at", soon(3), "--json")
    assert added.exit_code == 0, added.output
    item = json.loads(added.stdout)["id"]
    assert prcast(ws, "schedule", "cancel", str(item)).exit_code == 0
    until(lambda: f"#{item} not run here: it is cancelled" in worker.log, 60, "the due time")
    assert mailbox.messages == []
    assert item_status(ws, item) == "cancelled"


def test_workers_starting_at_once_on_an_empty_database_all_come_up(
    team_db: str, tmp_path: Any
) -> None:
    """The first workers on a new database create the job queue's tables: at once, the
    tables are made once and every worker starts."""
    from tests.integration.team_support import start_worker

    crew = [start_worker(tmp_path / "machines", f"m{i}", worker_env()) for i in range(3)]
    try:
        until(
            lambda: all("prcast worker pid" in w.log or w.process.poll() is not None for w in crew),
            60,
            "the workers to start",
        )
        assert all(w.process.poll() is None for w in crew), [w.log for w in crew]
    finally:
        for w in crew:
            w.kill()


def test_run_due_hands_over_an_item_queued_before_the_team_database(
    ws: Workspace, team_db: str, workers: Callable[..., Worker], mailbox: Mailbox,
    mastodon_server: str,
) -> None:  # fmt: skip
    """An item without a stored plan (as `prcast db import` brings them over) is not sent
    by a worker on its own; `prcast run-due` on the workspace plans, checks and stores it,
    and a worker sends it."""
    press_list(ws, n=6)
    add_masto_and_mail(ws, mastodon_server, mailbox.port)
    statement(ws, 2, front='channels = ["press-mail"]\naudience = ["tech-press"]\n')
    store = ws.store()
    due = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    item = store.add_schedule("releases/crisis.md", due, "UTC", [], [], "late")
    store.close()
    worker = workers("machine1", worker_env())
    handed = prcast(ws, "run-due", "--json")
    assert handed.exit_code == 0, handed.output
    until(lambda: item_status(ws, item) in ("done", "incomplete", "failed"), 60, "the item")
    assert item_status(ws, item) == "done", worker.log
    assert f"fired #{item}" in worker.log
    received = mailbox.by_recipient()
    assert len(received) == 3 and all(len(m) == 1 for m in received.values())
