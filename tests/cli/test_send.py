import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser

from prcast.audit import AuditLog
from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries


def test_send_delivers_example_to_outbox_and_reports_it(ws: Workspace, cli: Invoke) -> None:
    result = cli("send", "releases/example.md", "--yes")
    assert result.exit_code == 0, result.output
    assert "1 delivered" in result.stdout
    [entry] = outbox_entries(ws)
    data = json.loads(entry.read_text(encoding="utf-8"))
    assert data["title"] == "Example Corp opens its new repair workshop in Leipzig"
    feed = feedparser.parse((ws.root / "outbox" / "feed.xml").read_bytes())
    assert not feed.bozo and feed.entries[0].title == data["title"]

    report = cli("report", "--format", "json")
    assert report.exit_code == 0, report.output
    rep = json.loads(report.stdout)
    assert rep["counts"] == {"delivered": 1}
    assert rep["audit"]["verified"] is True
    assert rep["deliveries"][0]["url"] == data["url"]
    types = [r["type"] for r in AuditLog(ws.audit_path).records()]
    assert types == [
        "run.planned",
        "run.started",
        "delivery.attempted",
        "delivery.succeeded",
        "run.finished",
    ]


def test_sending_the_same_release_twice_does_not_duplicate_entries(
    ws: Workspace, cli: Invoke
) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    again = cli("send", "example", "--yes")
    assert again.exit_code == 0, again.output
    assert "Nothing new was sent" in again.stdout
    assert len(outbox_entries(ws)) == 1
    feed = feedparser.parse((ws.root / "outbox" / "feed.xml").read_bytes())
    assert len(feed.entries) == 1
    attempted = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "delivery.attempted"]
    assert len(attempted) == 1


def test_dry_run_and_declined_confirmation_send_nothing(ws: Workspace, cli: Invoke) -> None:
    dry = cli("send", "example", "--dry-run")
    assert dry.exit_code == 0 and "Dry run" in dry.stdout
    declined = cli("send", "example", input="n\n")
    assert declined.exit_code != 0
    assert outbox_entries(ws) == []
    assert not ws.audit_path.exists()
    accepted = cli("send", "example", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert len(outbox_entries(ws)) == 1


def test_release_under_embargo_is_not_sent(ws: Workspace, cli: Invoke) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    path = ws.releases_dir / "example.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "# embargo = 2026-12-01T09:30:00+01:00", f"embargo = {later}"
        ),
        encoding="utf-8",
    )
    result = cli("send", "example", "--yes")
    assert result.exit_code == 2
    assert "under embargo until" in result.stderr
    assert outbox_entries(ws) == []
    # the embargo is said in the workspace's time zone, as the team reads its clocks
    toml = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(f'timezone = "Asia/Kolkata"\n{toml}', encoding="utf-8")
    result = cli("send", "example", "--yes")
    assert result.exit_code == 2
    local = datetime.fromisoformat(later).astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
    assert f"under embargo until {local} (Asia/Kolkata)" in " ".join(result.stderr.split())
    assert outbox_entries(ws) == []
    earlier = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    path.write_text(
        path.read_text(encoding="utf-8").replace(f"embargo = {later}", f"embargo = {earlier}"),
        encoding="utf-8",
    )
    assert cli("send", "example", "--yes").exit_code == 0


def test_failed_delivery_exits_1_and_resume_finishes_it(ws: Workspace, cli: Invoke) -> None:
    (ws.root / "outbox").write_text("a file where the outbox folder should be", encoding="utf-8")
    failed = cli("send", "example", "--yes")
    assert failed.exit_code == 1, failed.output
    rep = json.loads(cli("report", "--format", "json").stdout)
    assert rep["counts"] == {"failed": 1}
    assert rep["deliveries"][0]["error"]
    (ws.root / "outbox").unlink()
    resumed = cli("resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(outbox_entries(ws)) == 1
    rep = json.loads(cli("report", "--format", "json").stdout)
    assert rep["counts"] == {"delivered": 1}
    assert cli("audit", "verify").exit_code == 0


def test_channel_without_an_adapter_refuses_before_anything_is_sent(
    ws: Workspace, cli: Invoke
) -> None:
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(
            '\n[channels.masto]\ntype = "mastodon"\ninstance = "https://m.example"\ntoken = "env:PRCAST_T"\n'
        )
    result = cli("send", "example", "--yes")
    assert result.exit_code == 2
    assert "environment variable PRCAST_T is not set" in result.stderr
    assert outbox_entries(ws) == []
    rendered = cli("render", "example", "--json")
    assert rendered.exit_code == 0
    channels = {c["channel"]: c for c in json.loads(rendered.stdout)["channels"]}
    assert channels["masto"]["limit"] == 500 and channels["masto"]["rule"] == "mastodon"


def test_render_shows_counts_per_channel(ws: Workspace, cli: Invoke) -> None:
    result = cli("render", "releases/example.md")
    assert result.exit_code == 0, result.output
    assert "press-room (outbox" in result.stdout
    data = json.loads(cli("render", "example", "--json").stdout)
    post = data["channels"][0]["posts"][0]
    assert post["length"] == len(post["text"])
    assert f"{post['length']}/100000" in result.stdout


def test_audit_verify_names_the_tampered_record(ws: Workspace, cli: Invoke) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    assert cli("audit", "verify").exit_code == 0
    lines = ws.audit_path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"part":1', b'"part":2')
    ws.audit_path.write_bytes(b"".join(lines))
    result = cli("audit", "verify")
    assert result.exit_code == 3
    assert "record 3" in result.stderr
    report = json.loads(cli("report", "--format", "json").stdout)
    assert report["audit"]["verified"] is False


def test_audit_show_and_export(ws: Workspace, cli: Invoke, tmp_path: Path) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    shown = json.loads(cli("audit", "show", "--json").stdout)
    assert [r["seq"] for r in shown] == [1, 2, 3, 4, 5]
    run_id = shown[0]["run"]
    assert len(json.loads(cli("audit", "show", "--run", run_id, "--json").stdout)) == 5
    assert cli("audit", "show").exit_code == 0
    out = tmp_path / "export.jsonl"
    assert cli("audit", "export", "-o", str(out)).exit_code == 0
    assert out.read_bytes() == ws.audit_path.read_bytes()


def test_report_formats(ws: Workspace, cli: Invoke, tmp_path: Path) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    text = cli("report")
    assert (
        text.exit_code == 0 and "delivered" in text.stdout and "audit chain verified" in text.stdout
    )
    md = cli("report", "--format", "md").stdout
    assert (
        md.startswith("# Example Corp opens its new repair workshop in Leipzig\n")
        and "| press-room | public | 1/1 | delivered |" in md
    )
    html_path = tmp_path / "r.html"
    assert cli("report", "--format", "html", "-o", str(html_path)).exit_code == 0
    assert '<td data-label="Status">delivered</td>' in html_path.read_text(encoding="utf-8")
    missing = cli("report", "run-000000000000")
    assert missing.exit_code == 2


def test_init_refuses_to_overwrite_and_finds_workspace_upwards(
    tmp_path: Path, monkeypatch: object
) -> None:
    from typer.testing import CliRunner

    from prcast.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["init", "press"]).exit_code == 0
    again = runner.invoke(app, ["init", "press"])
    assert again.exit_code == 2 and "already holds a workspace" in again.stderr
    (tmp_path / "press" / "releases" / "sub").mkdir()
    import os

    os.chdir(tmp_path / "press" / "releases" / "sub")
    result = runner.invoke(app, ["render", "example", "--json"])
    assert result.exit_code == 0, result.output
    os.chdir(tmp_path)
    nowhere = runner.invoke(app, ["render", "example"])
    assert nowhere.exit_code == 2 and "no prcast workspace" in nowhere.stderr


def test_frequency_cap_refuses_before_anything_is_sent(ws: Workspace, cli: Invoke) -> None:
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(
        text.replace('path = "outbox"', 'path = "outbox"\nposts_per_hour = 2'), encoding="utf-8"
    )
    example = (ws.releases_dir / "example.md").read_text(encoding="utf-8")
    for name in ("a", "b", "c"):
        (ws.releases_dir / f"{name}.md").write_text(
            example.replace("forty new jobs", f"forty new jobs ({name})"), encoding="utf-8"
        )
    assert cli("send", "a", "--yes").exit_code == 0
    assert cli("send", "b", "--yes").exit_code == 0
    third = cli("send", "c", "--yes")
    assert third.exit_code == 2
    assert "over its frequency cap of 2 (posts_per_hour): nothing was sent" in third.stderr
    assert len(outbox_entries(ws)) == 2
    assert cli("send", "a", "--yes").exit_code == 0  # resending what was sent is not new posting


def test_report_explains_in_doubt_deliveries(ws: Workspace, cli: Invoke) -> None:
    from prcast.store import IN_DOUBT, Store

    assert cli("send", "example", "--yes").exit_code == 0
    store = Store(ws.store_path)
    run = store.latest_run()
    assert run is not None
    [row] = store.deliveries(run.id)
    store.update_delivery(row.key, IN_DOUBT, error="connection lost")
    store.close()
    text = cli("report").stdout
    assert "1 in doubt" in text and f"prcast resume {run.id} --resend-in-doubt" in text
    data = json.loads(cli("report", "--format", "json").stdout)
    assert data["in_doubt"]["count"] == 1 and "--resend-in-doubt" in data["in_doubt"]["advice"]
    assert "## In doubt" in cli("report", "--format", "md").stdout


def test_a_request_the_audit_log_saw_leave_is_in_doubt_even_if_the_store_lost_it(
    ws: Workspace, cli: Invoke
) -> None:
    """As after a power cut: the fsynced audit log says the request left; the store does not."""
    from prcast.audit import AuditLog
    from prcast.delivery import prepare, record_plan
    from prcast.store import Store

    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write('\n[channels.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:9/never"\n')
    plan = prepare(ws, "example", ["hook"])
    record_plan(ws, plan)
    [d] = plan.deliveries
    AuditLog(ws.audit_path).append("delivery.attempted", run=plan.run_id, key=d.key, channel="hook",
                                   target=d.target, part=1, parts=1, attempt=1)  # fmt: skip
    store = Store(ws.store_path)
    assert store.deliveries(plan.run_id)[0].status == "planned"
    store.close()
    result = cli("resume", plan.run_id)
    assert result.exit_code == 1
    report = json.loads(cli("report", plan.run_id, "--format", "json").stdout)
    assert report["counts"] == {"in-doubt": 1}
    sent = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "delivery.attempted"]
    assert len(sent) == 1  # it was not sent again


def test_an_unreachable_channel_fails_alone_on_one_line(ws: Workspace) -> None:
    """A Mastodon instance on a closed port: the press room is delivered, the Mastodon
    channel is one line with its name and server, exit 1, and no internal error."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens here once the socket is closed
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(
            f'\n[channels.masto]\ntype = "mastodon"\ninstance = "http://127.0.0.1:{closed}"\n'
            'token = "env:PRCAST_TEST_TOKEN"\nmax_attempts = 2\nretry_base = 0.1\n'
        )
    env = {**os.environ, "PRCAST_TEST_TOKEN": "not-a-real-token", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "prcast", "--workspace", str(ws.root), "send", "example", "--yes"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "internal error" not in result.stdout + result.stderr
    assert len(outbox_entries(ws)) == 1  # the working channel was delivered
    lines = [line for line in result.stdout.splitlines() if "not delivered" in line]
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("masto (") and f"127.0.0.1:{closed}" in lines[0]
    assert "Connect" in lines[0] or "refused" in lines[0]


def test_debug_before_or_after_the_subcommand_prints_the_traceback(ws: Workspace) -> None:
    base = [sys.executable, "-m", "prcast", "--workspace", str(ws.root)]
    plain = subprocess.run([*base, "send", "no-such-release"], capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    for args in (["send", "no-such-release", "--debug"], ["--debug", "send", "no-such-release"]):
        result = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert "Traceback (most recent call last)" in result.stderr, (args, result.stderr)
        assert "InputError" in result.stderr
