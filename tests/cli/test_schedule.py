"""Scheduled and embargoed runs: time zones and DST, run-due on the real clock (a
rehearsal for another time never delivers), missed runs, two racing runners, the daemon,
and the embargo on every path whatever the environment says."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from prcast.audit import AuditLog
from prcast.errors import InputError
from prcast.schedule import parse_when
from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries


def test_local_times_are_stored_in_utc_across_dst() -> None:
    assert parse_when("2026-12-01 09:30 Europe/Berlin") == (
        datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
        "Europe/Berlin",
    )
    assert parse_when("2026-07-01 09:30 Europe/Berlin")[0] == datetime(
        2026, 7, 1, 7, 30, tzinfo=UTC
    )
    assert parse_when("2026-03-29 03:30 Europe/Berlin")[0] == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert parse_when("2026-12-01T09:30:00+01:00")[0] == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(InputError, match="does not exist in Europe/Berlin"):
        parse_when("2026-03-29 02:30 Europe/Berlin")
    with pytest.raises(InputError, match="happens twice in Europe/Berlin") as info:
        parse_when("2026-10-25 02:30 Europe/Berlin")
    assert "2026-10-25T02:30:00+02:00" in (info.value.hint or "") and "+01:00" in (
        info.value.hint or ""
    )
    with pytest.raises(InputError, match="has no time zone"):
        parse_when("2026-12-01 09:30")
    with pytest.raises(InputError, match="unknown time zone"):
        parse_when("2026-12-01 09:30 Europe/Atlantis")


#: what an insider might set to move prcast's clock; none of it may move the embargo
CLOCK_TAMPERING = {
    "PRCAST_NOW": "2099-01-01T00:00:00+00:00",
    "FAKETIME": "+1000d",
    "TZ": "Pacific/Kiritimati",
    "SOURCE_DATE_EPOCH": "4102444800",
}


def run_due(
    ws: Workspace, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prcast", "--workspace", str(ws.root), "run-due", *extra],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120)  # fmt: skip


def wait_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def start_daemon(
    ws: Workspace, *options: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`prcast scheduler` in a process of its own, returned once it says it runs (a loaded
    machine may take seconds to start it: what the tests time starts after that)."""
    daemon = subprocess.Popen([sys.executable, "-m", "prcast", "--workspace", str(ws.root), "scheduler", *options],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert daemon.stdout is not None
    ready, _, _ = select.select([daemon.stdout], [], [], 120)
    line = daemon.stdout.readline() if ready else ""
    if "scheduler running" not in line:
        daemon.kill()
        _, err = daemon.communicate(timeout=60)
        raise AssertionError(f"the scheduler did not start: {line!r} {err}")
    return daemon


def startup_seconds() -> float:
    """How long a prcast command takes to start on this machine now (loaded or not)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "prcast", "--version"], capture_output=True, timeout=120,
                   check=True)  # fmt: skip
    return time.monotonic() - started


def test_run_due_sends_at_the_due_time_and_the_report_says_when(ws: Workspace, cli: Invoke) -> None:
    added = cli("schedule", "add", "example", "--at", "2026-12-01 09:30 Europe/Berlin", "--json")
    assert added.exit_code == 0, added.output
    item = json.loads(added.stdout)
    assert (
        item["due_utc"] == "2026-12-01T08:30:00+00:00"
        and item["due_local"] == "2026-12-01T09:30:00+01:00"
    )
    assert cli("schedule", "cancel", str(item["id"])).exit_code == 0
    # far enough ahead that the two run-due below end before it, however loaded the machine
    # is: 12 s, or six times what starting one command takes now
    ahead = max(12.0, 6 * startup_seconds())
    due = (datetime.now(UTC) + timedelta(seconds=ahead)).replace(microsecond=0)
    added = cli("schedule", "add", "example", "--at", due.isoformat(), "--json")
    assert added.exit_code == 0, added.output
    # a rehearsal shows what would fire at a later time and delivers nothing
    rehearsal = run_due(ws, "--at", (due + timedelta(seconds=1)).isoformat(), "--json")
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert [i["release"] for i in json.loads(rehearsal.stdout)["would_fire"]] == [
        "releases/example.md"
    ]
    early = run_due(ws, env=CLOCK_TAMPERING)
    assert datetime.now(UTC) < due, "the machine was too slow to run run-due before the due time"
    assert early.returncode == 0 and outbox_entries(ws) == []
    wait_until(due + timedelta(milliseconds=400))
    on_time = run_due(ws)
    late = (datetime.now(UTC) - due).total_seconds()  # at most this late, however loaded
    assert on_time.returncode == 0, on_time.stdout + on_time.stderr
    assert len(outbox_entries(ws)) == 1
    rows = {r["id"]: r for r in json.loads(cli("schedule", "list", "--all", "--json").stdout)}
    assert rows[1]["status"] == "cancelled" and rows[2]["status"] == "done" and rows[2]["run"]
    report = json.loads(cli("report", "--format", "json").stdout)
    assert report["scheduled"]["due"] == due.isoformat()
    assert 0.4 <= report["scheduled"]["delay_seconds"] <= late
    from babel.dates import format_datetime  # the report's human time, in this machine's zone

    shown = format_datetime(due.astimezone(), "medium", tzinfo=due.astimezone().tzinfo, locale="en")
    assert f"Scheduled (#2): due {shown}" in cli("report").stdout
    assert run_due(ws).returncode == 0  # nothing left to run
    assert len(outbox_entries(ws)) == 1


def test_missed_items_follow_their_policy(ws: Workspace, cli: Invoke) -> None:
    example = (ws.releases_dir / "example.md").read_text(encoding="utf-8")
    (ws.releases_dir / "other.md").write_text(
        example.replace("forty new jobs", "forty-one new jobs")
    )
    # the machine was off for three hours
    missed = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    assert cli("schedule", "add", "example", "--at", missed, "--missed", "skip").exit_code == 0
    assert cli("schedule", "add", "other", "--at", missed, "--missed", "late").exit_code == 0
    result = run_due(ws)
    assert result.returncode == 0, result.stderr
    rows = {r["release"]: r for r in json.loads(cli("schedule", "list", "--all", "--json").stdout)}
    assert (
        rows["releases/example.md"]["status"] == "skipped"
        and "missed by 180 min" in rows["releases/example.md"]["detail"]
    )
    assert rows["releases/other.md"]["status"] == "done"
    assert len(outbox_entries(ws)) == 1
    assert [r["type"] for r in AuditLog(ws.audit_path).records()].count("schedule.skipped") == 1


def test_cancel(ws: Workspace, cli: Invoke) -> None:
    due = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    assert cli("schedule", "add", "example", "--at", due).exit_code == 0
    assert cli("schedule", "cancel", "1").exit_code == 0
    assert cli("schedule", "cancel", "1").exit_code == 2
    wait_until(datetime.fromisoformat(due))
    assert run_due(ws).returncode == 0
    assert outbox_entries(ws) == []
    assert cli("schedule", "list").stdout == ""


def test_two_runners_started_together_deliver_once(ws: Workspace, cli: Invoke) -> None:
    due = datetime.now(UTC).isoformat()
    assert cli("schedule", "add", "example", "--at", due).exit_code == 0
    cmd = [sys.executable, "-m", "prcast", "--workspace", str(ws.root), "run-due"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert len(outbox_entries(ws)) == 1
    fired = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "schedule.fired"]
    assert len(fired) == 1
    attempted = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "delivery.attempted"]
    assert len(attempted) == 1


def embargoed(ws: Workspace, until: datetime) -> None:
    path = ws.releases_dir / "example.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("# embargo = 2026-12-01T09:30:00+01:00", f"embargo = {until.isoformat()}")
    )


def test_embargo_holds_on_every_path(ws: Workspace, cli: Invoke) -> None:
    # far enough ahead that the five commands before the wait end before it, however loaded
    # the machine is: 25 s, or ten times what starting one command takes now
    ahead = max(25.0, 10 * startup_seconds())
    until = (datetime.now(UTC) + timedelta(seconds=ahead)).replace(microsecond=0)
    embargoed(ws, until)
    direct = subprocess.run([sys.executable, "-m", "prcast", "--workspace", str(ws.root), "send", "example", "--yes"],
                            env={**os.environ, **CLOCK_TAMPERING}, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert direct.returncode == 2 and "under embargo" in direct.stderr
    assert cli("schedule", "add", "example", "--at", datetime.now(UTC).isoformat()).exit_code == 0
    early = run_due(ws, env=CLOCK_TAMPERING)
    assert early.returncode == 1 and outbox_entries(ws) == []
    [row] = json.loads(cli("schedule", "list", "--all", "--json").stdout)
    assert row["status"] == "failed" and "under embargo" in row["detail"]
    # the default due time of a schedule is the embargo itself
    assert cli("schedule", "add", "example").exit_code == 0
    assert run_due(ws, env=CLOCK_TAMPERING).returncode == 0 and outbox_entries(ws) == []
    assert datetime.now(UTC) < until, "the machine was too slow to try before the embargo"
    wait_until(until + timedelta(seconds=1))
    assert run_due(ws).returncode == 0
    assert len(outbox_entries(ws)) == 1
    assert not [r for r in AuditLog(ws.audit_path).records() if r["type"] == "embargo.broken"]


def test_the_scheduler_daemon_fires_on_time_and_stops_on_sigterm(
    ws: Workspace, cli: Invoke
) -> None:
    daemon = start_daemon(ws, "--poll", "0.5")
    try:
        due = datetime.now(UTC) + timedelta(seconds=5)  # an item added while it runs
        assert cli("schedule", "add", "example", "--at", due.isoformat()).exit_code == 0
        deadline = time.monotonic() + 120
        while not outbox_entries(ws) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outbox_entries(ws), "the scheduler did not send the item"
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=120)
    assert daemon.returncode == 0, err
    assert "scheduler stopped" in out
    [fired] = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "schedule.fired"]
    assert 0 <= fired["delay_seconds"] < 1.0


def test_the_scheduler_daemon_does_not_send_before_the_embargo(ws: Workspace, cli: Invoke) -> None:
    embargoed(ws, datetime.now(UTC) + timedelta(days=1))
    due = datetime.now(UTC) + timedelta(seconds=1)
    assert cli("schedule", "add", "example", "--at", due.isoformat()).exit_code == 0
    daemon = start_daemon(ws, "--poll", "0.5")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = json.loads(cli("schedule", "list", "--all", "--json").stdout)
            if rows[0]["status"] != "pending" and rows[0]["status"] != "running":
                break
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=120)
    assert rows[0]["status"] == "failed" and "under embargo" in rows[0]["detail"]
    assert outbox_entries(ws) == []


def test_an_embargo_until_tomorrow_holds_on_every_path_whatever_the_environment_says(
    ws: Workspace, cli: Invoke
) -> None:
    embargoed(ws, datetime.now(UTC) + timedelta(days=1))
    env = {**os.environ, **CLOCK_TAMPERING}
    prcast = [sys.executable, "-m", "prcast", "--workspace", str(ws.root)]
    # send
    sent = subprocess.run([*prcast, "send", "example", "--yes"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert sent.returncode == 2 and "under embargo" in sent.stderr
    # resume of a run planned earlier (say, before a crash)
    from prcast.delivery import prepare, record_plan

    plan = prepare(ws, "example")
    record_plan(ws, plan)
    resumed = subprocess.run([*prcast, "resume", plan.run_id], env=env, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert resumed.returncode == 2 and "under embargo" in resumed.stderr
    # run-due, and its rehearsal at a time after the embargo
    assert cli("schedule", "add", "example", "--at", datetime.now(UTC).isoformat()).exit_code == 0
    due = run_due(ws, env=CLOCK_TAMPERING)
    assert due.returncode == 1 and "under embargo" in due.stdout
    assert cli("schedule", "add", "example").exit_code == 0  # due at the embargo
    rehearsal = run_due(ws, "--at", (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                        env=CLOCK_TAMPERING)  # fmt: skip
    assert rehearsal.returncode == 0 and "would fire" in rehearsal.stdout
    # the scheduler daemon, given a due item
    assert cli("schedule", "add", "example", "--at", datetime.now(UTC).isoformat()).exit_code == 0
    daemon = start_daemon(ws, "--poll", "0.2", env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = {
                r["id"]: r for r in json.loads(cli("schedule", "list", "--all", "--json").stdout)
            }
            if rows[3]["status"] not in ("pending", "running"):
                break
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=120)
    assert rows[3]["status"] == "failed" and "under embargo" in rows[3]["detail"]
    assert rows[2]["status"] == "pending"  # the embargo-time item waits for the real time
    assert outbox_entries(ws) == []
    records = list(AuditLog(ws.audit_path).records())
    assert not [r for r in records if r["type"] in ("delivery.attempted", "embargo.broken")]
