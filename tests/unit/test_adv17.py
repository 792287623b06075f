"""Regressions found by trying issue 17's work as a German press office would."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from prcast.channels.base import Post
from prcast.channels.outbox import OutboxChannel
from prcast.config import OutboxConfig
from prcast.workspace import Workspace
from tests.conftest import Invoke


def test_press_room_dates_follow_the_workspace_time_zone_not_the_machines(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Berlin press office whose server runs in UTC: the page says MEZ, not UTC."""
    monkeypatch.setenv("TZ", "UTC")
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text('timezone = "Europe/Berlin"\n' + text, encoding="utf-8")
    room = OutboxChannel(OutboxConfig(name="room"), ws.root)
    post = Post(channel="room", release_id="r", title="Titel", text="# Titel\n\nText.",
                language="de", embargo=datetime(2099, 12, 1, 8, 30, tzinfo=UTC))  # fmt: skip
    receipt = asyncio.run(room.publish(post, "e" * 32))
    asyncio.run(room.close())
    assert receipt.url is not None
    page = ws.root / "outbox" / receipt.url.removeprefix("https://press.example.org/")
    shown = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
    assert "1. Dezember 2099, 09:30 Uhr MEZ" in shown
    assert "08:30" not in shown


def _add_hook_from_env(ws: Workspace) -> None:
    """A webhook channel whose URL is the secret PRCAST_HOOK_URL (from the environment or
    the workspace's .env)."""
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(
        text + '\n[channels.hook]\ntype = "webhook"\nurl = "env:PRCAST_HOOK_URL"\n',
        encoding="utf-8",
    )


def test_an_env_file_that_never_ends_is_refused_not_read_forever(
    ws: Workspace, cli: Invoke
) -> None:
    """`.env` linked to /dev/zero (or any huge or binary file): exit 2 naming it, no hang."""
    _add_hook_from_env(ws)
    env = ws.root / ".env"
    env.symlink_to("/dev/zero")
    result = cli("channels", "list")
    assert result.exit_code == 2, result.output
    assert ".env" in result.output and "Traceback" not in result.output
    env.unlink()
    env.write_bytes(b"PRCAST_HOOK_URL=https://hook.example/x\x00\n")
    result = cli("channels", "list")
    assert result.exit_code == 2, result.output
    assert ".env:1:" in result.output and "hook.example" not in result.output


@pytest.mark.parametrize(
    ("language", "expected"),
    [("de", "Die Kette des Prüfprotokolls ist intakt"), ("fr", "La chaîne du journal d’audit")],
)
def test_the_reports_audit_line_speaks_the_release_language(
    ws: Workspace, cli: Invoke, language: str, expected: str
) -> None:
    """A German boss reads the audit verdict in German, not "audit chain verified (…)"."""
    (ws.releases_dir / "werk.md").write_text(
        f'+++\ntitle = "Werkstatt"\nlanguage = "{language}"\n+++\nText.\n', encoding="utf-8"
    )
    assert cli("send", "werk", "--yes").exit_code == 0
    for fmt in ("text", "md", "html"):
        shown = cli("report", "--format", fmt).stdout
        assert expected in shown, (fmt, shown)
        assert "audit chain verified" not in shown and "records" not in shown


def test_html_and_links_in_a_title_are_neutralised_in_the_markdown_report(
    ws: Workspace, cli: Invoke
) -> None:
    """report.md is opened in Markdown viewers, which pass raw HTML through and follow links."""
    (ws.releases_dir / "werk.md").write_text(
        '+++\ntitle = "Werk <script>alert(1)</script> [klick](javascript:alert(2))"\n'
        'language = "de"\n+++\nText.\n',
        encoding="utf-8",
    )
    assert cli("send", "werk", "--yes").exit_code == 0
    md = cli("report", "--format", "md").stdout
    heading = md.splitlines()[0]
    assert heading.startswith("# Werk &lt;script&gt;"), heading
    assert "<script>" not in md and "](javascript:" not in md


def test_approvals_show_the_signing_time_in_the_workspace_time_zone(
    ws: Workspace, cli: Invoke
) -> None:
    """A press office in Kolkata (+05:30) reads when legal signed in its own time, not UTC."""
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text('timezone = "Asia/Kolkata"\n' + text, encoding="utf-8")
    (ws.releases_dir / "news.md").write_text('+++\ntitle = "News"\n+++\nText.\n', "utf-8")
    made = cli("approver", "init", "--name", "Jana Example")
    assert made.exit_code == 0, made.output
    assert cli("approver", "add", "--name", "Jana Example", made.stdout.split()[-1]).exit_code == 0
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    at = json.loads(cli("approvals", "news", "--json").stdout)["approvals"][0]["at"]
    signed = datetime.fromisoformat(at)
    local = signed.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M:%S IST")
    shown = cli("approvals", "news").stdout
    assert shown.startswith(f"{local}  Jana Example"), shown
    assert signed.astimezone(UTC).strftime("%H:%M:%S") not in shown


def test_links_are_not_swallowed_into_a_list_the_body_ends_with(ws: Workspace, cli: Invoke) -> None:
    """A body ending in "- Punkt" keeps its list; the release's links are a list of their own."""
    (ws.releases_dir / "werk.md").write_text(
        '+++\ntitle = "Werk"\nlanguage = "de"\nlinks = ["https://gruenwerk.example/a"]\n+++\n'
        "Die Punkte:\n\n- Punkt eins\n- Punkt zwei\n",
        encoding="utf-8",
    )
    assert cli("send", "werk", "--yes").exit_code == 0
    page = next((ws.root / "outbox" / "releases").glob("*.html")).read_text(encoding="utf-8")
    body = page[page.index('<div class="body">') : page.index("</div>")]
    lists = re.findall(r"<ul>(.*?)</ul>", body, re.S)
    assert len(lists) == 2, body
    assert "Punkt eins" in lists[0] and "gruenwerk.example/a" not in lists[0]
    assert "<p>" not in lists[0]  # still a tight list, as written
    assert "gruenwerk.example/a" in lists[1]


def test_a_report_over_a_tampered_audit_log_exits_3_and_still_says_so(
    ws: Workspace, cli: Invoke
) -> None:
    """The boss's report is printed, but a script (`prcast report --json && ...`) sees exit 3."""
    assert cli("send", "example", "--yes").exit_code == 0
    assert cli("report").exit_code == 0
    lines = ws.audit_path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"part":1', b'"part":2')
    ws.audit_path.write_bytes(b"".join(lines))
    for fmt in ("text", "json", "csv"):
        result = cli("report", "--format", fmt)
        assert result.exit_code == 3, (fmt, result.output)
        assert result.stdout and "AUDIT CHAIN BROKEN" in result.stderr


def test_a_report_into_a_folder_that_does_not_exist_is_exit_2_naming_it(
    ws: Workspace, cli: Invoke, tmp_path: Path
) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    target = tmp_path / "missing" / "report.html"
    result = cli("report", "--format", "html", "-o", str(target))
    assert result.exit_code == 2, result.output
    assert "missing/report.html: cannot write the report" in result.stderr
    assert "Traceback" not in result.output
    result = cli("report", "--format", "html", "-o", str(tmp_path))
    assert result.exit_code == 2 and "cannot write the report" in result.stderr


def test_a_broken_press_room_template_stops_the_send_before_anything_is_published(
    ws: Workspace, cli: Invoke
) -> None:
    """Not: the entry written and marked delivered, the page never built, and the next send
    saying "Nothing new was sent" while the release has no page."""
    (ws.templates_dir / "pressroom").mkdir(parents=True, exist_ok=True)
    broken = ws.templates_dir / "pressroom" / "release.html.j2"
    broken.write_text('{% extends "pressroom/base.html.j2" %}\n{{ page.title }\n', "utf-8")
    doctor = cli("doctor", "--offline")
    assert "FAIL templates" in doctor.stdout and "release.html.j2:2" in doctor.stdout
    refused = cli("send", "example", "--yes")
    assert refused.exit_code == 2, refused.output
    assert "templates/pressroom/release.html.j2:2: template syntax error" in refused.stderr
    assert not (ws.root / "outbox" / "posts").is_dir() or not any(
        (ws.root / "outbox" / "posts").iterdir()
    )
    broken.unlink()
    sent = cli("send", "example", "--yes")
    assert sent.exit_code == 0, sent.output
    assert "1 delivered" in sent.stdout and "Nothing new was sent" not in sent.stdout
    assert any((ws.root / "outbox" / "releases").glob("*.html"))
    again = cli("send", "example", "--yes")
    assert "Nothing new was sent" in again.stdout


def test_an_env_value_with_an_unclosed_quote_is_an_error_not_part_of_the_secret(
    ws: Workspace, cli: Invoke
) -> None:
    _add_hook_from_env(ws)
    (ws.root / ".env").write_text(
        '# hook\nexport PRCAST_HOOK_URL="https://hook.example/s3cr3t\n', encoding="utf-8"
    )
    result = cli("channels", "list")
    assert result.exit_code == 2, result.output
    assert ".env:2:" in result.stderr and "PRCAST_HOOK_URL" in result.stderr
    assert "s3cr3t" not in result.output


def test_report_list_shows_when_each_run_ended_in_the_workspace_time_zone(
    ws: Workspace, cli: Invoke
) -> None:
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text('timezone = "Asia/Kolkata"\n' + text, encoding="utf-8")
    assert cli("send", "example", "--yes").exit_code == 0
    [run] = json.loads(cli("report", "--list", "--json").stdout)
    ended = datetime.fromisoformat(run["updated_at"])
    local = ended.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M:%S IST")
    shown = cli("report", "--list").stdout
    assert f"{run['id']}  complete    {local}  " in shown, shown


def test_init_inside_a_repository_adds_the_secret_and_state_lines_to_its_gitignore(
    tmp_path: Path,
) -> None:
    """`prcast init .` in a repository that already has a .gitignore: .env and .prcast/ are
    kept out of git too, and the repository's own lines stay."""
    from typer.testing import CliRunner

    from prcast.cli import app

    (tmp_path / ".gitignore").write_text("node_modules/\n.env", encoding="utf-8")
    assert CliRunner().invoke(app, ["init", str(tmp_path)]).exit_code == 0
    lines = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["node_modules/", ".env"]
    assert ".prcast/" in lines and ".env.*" in lines and lines.count(".env") == 1
    assert CliRunner().invoke(app, ["init", str(tmp_path), "--force"]).exit_code == 0
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines() == lines


def test_run_due_rehearsal_takes_a_time_without_zone_in_the_workspace_time_zone(
    ws: Workspace, cli: Invoke
) -> None:
    """As `schedule add --at` does: "2030-12-01 09:31" in a Berlin workspace is 08:31 UTC."""
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text('timezone = "Europe/Berlin"\n' + text, encoding="utf-8")
    added = cli("schedule", "add", "example", "--at", "2030-12-01 09:30")
    assert added.exit_code == 0, added.output
    late = cli("run-due", "--at", "2030-12-01 09:31", "--json")
    assert late.exit_code == 0, late.output
    data = json.loads(late.stdout)
    assert data["rehearsal_at"] == "2030-12-01T08:31:00+00:00" and len(data["would_fire"]) == 1
    early = json.loads(cli("run-due", "--at", "2030-12-01 09:29", "--json").stdout)
    assert early["would_fire"] == []


def test_an_env_file_saved_with_a_byte_order_mark_is_read(ws: Workspace, cli: Invoke) -> None:
    """Windows editors start UTF-8 files with a BOM; the first variable must still be found."""
    _add_hook_from_env(ws)
    (ws.root / ".env").write_bytes(b"\xef\xbb\xbfPRCAST_HOOK_URL=https://hook.example/x\n")
    listed = cli("channels", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [hook] = [c for c in json.loads(listed.stdout) if c["name"] == "hook"]
    assert hook["secrets"][0]["set"] is True and hook["secrets"][0]["source"] == ".env"
