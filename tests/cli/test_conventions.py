"""CLI conventions as gh, uv and llm users expect them: completion, output into pipes that
is never wrapped or cut, --json on every reporting command, global options after the
subcommand, distinct exit codes, a dry run that shows exactly what would go (also under
embargo), approvals --diff, past schedule times refused, the workspace's time zone."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prcast.audit import AuditLog
from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries
from tests.integration.conftest import tiny_png

BIN = Path(sys.executable).parent
PRCAST = [sys.executable, "-m", "prcast"]


def run(*args: str, ws: Workspace | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    """The real program in a process of its own, stdin closed (no terminal)."""
    cmd = [*PRCAST, *args]
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=120, **kw)  # type: ignore[call-overload]  # fmt: skip


def embargoed(ws: Workspace, until: datetime) -> None:
    path = ws.releases_dir / "example.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("# embargo = 2026-12-01T09:30:00+01:00", f"embargo = {until.isoformat()}"),
        encoding="utf-8",
    )


def press_list(ws: Workspace, rows: list[tuple[str, str, str]]) -> None:
    lines = ["name,email,outlet,beat,language"]
    lines += [f"{name},{address},Outlet,tech,{lang}" for name, address, lang in rows]
    (ws.lists_dir / "contacts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (ws.lists_dir / "groups.toml").write_text(
        '[groups.tech-press]\nwhere = { beat = "tech" }\n', encoding="utf-8"
    )


def mail_channel(ws: Workspace) -> None:
    """An email channel; a dry run never connects, so no server is needed (port 9: discard)."""
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(
            '\n[channels.press-mail]\ntype = "email"\nhost = "127.0.0.1"\nport = 9\n'
            'tls = "none"\nfrom_address = "Example Corp Press <press@example.org>"\n'
        )
    path = ws.releases_dir / "example.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('# audience = ["tech-press"]', 'audience = ["tech-press"]'), encoding="utf-8"
    )


# -- completion ---------------------------------------------------------------------------


def test_bash_completion_completes_subcommands_releases_and_channels(ws: Workspace) -> None:
    script = run("completion", "bash")
    assert script.returncode == 0 and "_PRCAST_COMPLETE=complete_bash" in script.stdout

    def complete(words: str) -> list[str]:
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        empty = '""' if words.endswith(" ") else ""
        shell = (
            f"source <({shlex.join([*PRCAST, 'completion', 'bash'])})\n"
            f"COMP_WORDS=({words}{empty}); COMP_CWORD={cword}\n"
            '_prcast_completion prcast; printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        out = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env,
                             timeout=60, stdin=subprocess.DEVNULL, cwd=ws.root)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert set(complete("prcast sch")) == {"schedule", "scheduler"}
    assert "doctor" in complete("prcast ")
    assert {"show", "import", "groups"} <= set(complete("prcast lists "))
    # inside a workspace: its release names and its channel names
    assert complete("prcast send ex") == ["example"]
    assert complete("prcast render example --channel pr") == ["press-room"]


def test_zsh_and_fish_scripts_and_the_install_option_exist() -> None:
    assert "_PRCAST_COMPLETE=complete_zsh" in run("completion", "zsh").stdout
    assert "complete_fish" in run("completion", "fish").stdout
    helped = run("--help")
    assert "--install-completion" in helped.stdout and "--show-completion" in helped.stdout
    assert run("completion", "tcsh").returncode == 2


# -- output into a pipe ---------------------------------------------------------------------


def test_a_200_character_address_survives_a_pipe(ws: Workspace) -> None:
    local = "stefan.mueller.redaktion.wirtschaft.politik"
    domain = f"ressort-{'x' * 50}.{'y' * 60}.{'z' * 40}.spiegel.example"
    long_address = f"{local}@{domain}"
    assert 200 <= len(long_address) <= 254
    press_list(ws, [("Stefan Long", long_address, "de"), ("Ana Short", "ana@example.org", "en")])
    cmd = (
        f"{shlex.join([*PRCAST, '--workspace', str(ws.root), 'lists', 'show', 'tech-press'])} | cat"
    )
    piped = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    found = [line for line in piped.stdout.splitlines() if "spiegel" in line]
    assert len(found) == 1 and found[0].split("\t")[0] == long_address


def test_audit_show_into_a_pipe_does_not_cut_values(ws: Workspace) -> None:
    reason = "asked by phone on 20 November; " * 12  # about 370 characters
    assert run("-w", str(ws.root), "lists", "suppress", "someone@example.org", "--reason", reason).returncode == 0  # fmt: skip
    shown = run("audit", "show", "--workspace", str(ws.root))
    assert shown.returncode == 0, shown.stderr
    assert reason.strip() in shown.stdout
    line = next(x for x in shown.stdout.splitlines() if "lists.suppressed" in x)
    assert "…" not in line and len(line) > len(reason)


def test_tables_are_not_wrapped_into_a_pipe(ws: Workspace) -> None:
    title = "A very long press room title " * 8
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(
        text.replace('title = "Example Corp press room"', f'title = "{title.strip()}"'),
        encoding="utf-8",
    )
    long_path = "outbox/" + "deep-folder-name/" * 8
    ws.channels_file.write_text(
        ws.channels_file.read_text(encoding="utf-8").replace(
            'path = "outbox"', f'path = "{long_path}"'
        ),
        encoding="utf-8",
    )
    listed = run("-w", str(ws.root), "channels", "list")
    assert listed.returncode == 0, listed.stderr
    assert long_path.rstrip("/") in listed.stdout.replace("\n", "") and any(
        long_path.rstrip("/") in line for line in listed.stdout.splitlines()
    )


# -- global options and exit codes ------------------------------------------------------------


def test_global_options_are_accepted_after_the_subcommand(ws: Workspace, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    after = run("channels", "list", "--json", "--workspace", str(ws.root), cwd=elsewhere)
    assert after.returncode == 0, after.stderr
    assert [c["name"] for c in json.loads(after.stdout)] == ["press-room"]
    short = run("lists", "groups", "-w", str(ws.root), "--json", "--debug", cwd=elsewhere)
    assert short.returncode == 0 and json.loads(short.stdout) == []
    equals = run("render", "example", f"--workspace={ws.root}", "--json", cwd=elsewhere)
    assert equals.returncode == 0 and json.loads(equals.stdout)["channels"]
    # without it, the command names the missing workspace (exit 2), no traceback
    missing = run("channels", "list", cwd=elsewhere)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_send_without_terminal_or_yes_is_aborted_with_its_own_code(
    ws: Workspace, cli: Invoke
) -> None:
    sent = run("-w", str(ws.root), "send", "example")
    assert sent.returncode == 4, sent.stderr
    assert "--yes" in sent.stderr and "Aborted." not in sent.stderr + sent.stdout
    assert outbox_entries(ws) == [] and not ws.audit_path.exists()
    declined = cli("send", "example", input="n\n")
    assert declined.exit_code == 4 and outbox_entries(ws) == []
    unanswered = cli("send", "example", input="")  # end of input at the question
    assert unanswered.exit_code == 4 and "--yes" in unanswered.stderr
    assert run("-w", str(ws.root), "send", "example", "--yes").returncode == 0
    assert len(outbox_entries(ws)) == 1


def test_exit_codes_are_documented_in_help_and_readme() -> None:
    helped = run("--help").stdout
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for code, meaning in ((0, "ok"), (1, "deliver"), (2, "refused"), (3, "audit"), (4, "aborted")):
        assert f"{code} " in helped and meaning in helped.lower()
        assert f"| {code} |" in readme
    assert "--yes" in helped


def test_refusals_exit_2(ws: Workspace) -> None:
    embargoed(ws, datetime.now(UTC) + timedelta(days=3))
    held = run("-w", str(ws.root), "send", "example", "--yes")
    assert held.returncode == 2 and "under embargo" in held.stderr


# -- --json on every command that reports -----------------------------------------------------


def approver(cli: Invoke, name: str) -> None:
    made = cli("approver", "init", "--name", name)
    assert made.exit_code == 0, made.output
    assert cli("approver", "add", "--name", name, made.stdout.split()[-1]).exit_code == 0


def test_every_reporting_command_speaks_json(ws: Workspace, cli: Invoke) -> None:
    press_list(ws, [("Ana Short", "ana@example.org", "en")])
    approver(cli, "Jana Example")

    def data(*args: str) -> object:
        result = cli(*args, "--json")
        assert result.exit_code == 0, (args, result.output)
        return json.loads(result.stdout)

    approved = data("approve", "example", "--note", "legal ok")
    assert isinstance(approved, dict)
    assert approved["by"] == "Jana Example" and approved["registered"] is True
    assert set(approved["channels"]) == {"press-room"}
    status = data("approvals", "example")
    assert isinstance(status, dict) and status["approved_by"] == ["Jana Example"]
    checked = data("check", "example")
    assert isinstance(checked, dict) and checked["channels"][0]["channel"] == "press-room"
    rendered = data("render", "example")
    assert isinstance(rendered, dict) and rendered["channels"][0]["posts"][0]["length"] > 0
    dry = data("send", "example", "--dry-run")
    assert isinstance(dry, dict) and dry["dry_run"] is True and dry["held_until"] is None
    sent = data("send", "example", "--yes")
    assert isinstance(sent, dict) and sent["ok"] is True and sent["counts"] == {"delivered": 1}
    resumed = data("resume", sent["run"])
    assert isinstance(resumed, dict) and resumed["run"] == sent["run"] and resumed["ok"] is True
    (ws.root / "more.csv").write_text("name,email\nBen New,ben@example.org\n", encoding="utf-8")
    imported = data("lists", "import", str(ws.root / "more.csv"), "--group", "extra")
    assert isinstance(imported, dict) and imported["added"] == 1 and imported["rejected"] == 0
    verified = data("audit", "verify")
    assert isinstance(verified, dict) and verified["intact"] is True
    records = data("audit", "show")
    assert isinstance(records, list) and any(r["type"] == "release.approved" for r in records)
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds")
    item = data("schedule", "add", "example", "--at", due)
    assert isinstance(item, dict) and item["status"] == "pending"
    queue = data("schedule", "list")
    assert isinstance(queue, list) and [i["id"] for i in queue] == [item["id"]]
    fired = data("run-due")
    assert fired == []
    rehearsal = data("run-due", "--at", (datetime.now(UTC) + timedelta(days=3)).isoformat())
    assert isinstance(rehearsal, dict) and len(rehearsal["would_fire"]) == 1
    shown = data("lists", "show", "tech-press")
    assert isinstance(shown, dict) and shown["recipients"][0]["email"] == "ana@example.org"
    groups = data("lists", "groups")
    assert isinstance(groups, list)
    assert {"group": "tech-press", "description": "", "recipients": 1, "suppressed": 0} in groups
    channels = data("channels", "list")
    assert isinstance(channels, list) and channels[0]["secrets"] == []
    tested = data("channels", "test")
    assert isinstance(tested, list) and tested[0]["ok"] is True
    approvers = data("approver", "list")
    assert isinstance(approvers, list) and approvers[0]["name"] == "Jana Example"
    doctor = data("doctor", "--offline")
    assert isinstance(doctor, dict) and doctor["ok"] is True


# -- send --dry-run ----------------------------------------------------------------------------


def test_dry_run_under_embargo_says_until_when_and_sends_nothing(
    ws: Workspace, cli: Invoke
) -> None:
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    embargoed(ws, until)
    dry = run("-w", str(ws.root), "send", "example", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "a real send would hold it until" in dry.stdout and until.isoformat() in dry.stdout
    assert "Example Corp today opens a repair workshop" in dry.stdout
    assert "Dry run: nothing was sent." in dry.stdout
    as_json = json.loads(cli("send", "example", "--dry-run", "--json").stdout)
    assert as_json["held_until"] == until.isoformat()
    [room] = as_json["channels"]
    assert room["posts"][0]["length"] == len(room["posts"][0]["text"])
    assert outbox_entries(ws) == []
    records = AuditLog(ws.audit_path).records() if ws.audit_path.exists() else []
    assert not [r for r in records if r["type"] in ("embargo.broken", "delivery.attempted")]


def test_dry_run_shows_each_emails_headers_and_both_parts_and_writes_eml(
    ws: Workspace, cli: Invoke, tmp_path: Path
) -> None:
    people = [(f"Reporter {i}", f"r{i}@outlet.example", "en") for i in range(1, 31)]
    press_list(ws, people)
    mail_channel(ws)
    tiny_png(ws.releases_dir / "workshop.png")
    path = ws.releases_dir / "example.md"
    path.write_text(
        path.read_text(encoding="utf-8")
        .replace("# [[media]]", "[[media]]")
        .replace('# path = "workshop.jpg"', 'path = "workshop.png"')
        .replace("# alt = ", "alt = "),
        encoding="utf-8",
    )
    dry = cli("send", "example", "--dry-run", "--channel", "press-mail")
    assert dry.exit_code == 0, dry.output
    out = dry.stdout
    # the first message (per language) in full: headers, text part, HTML part
    assert out.count("--- email to ") == 1
    assert "From: Example Corp Press <press@example.org>" in out
    assert "Subject: Example Corp opens its new repair workshop in Leipzig" in out
    assert "--- text/plain ---" in out and "--- text/html ---" in out and "<html" in out.lower()
    assert "... and 29 more messages in language en" in out
    assert "attachment: workshop.png (image/png" in out
    assert "alt: Two technicians repairing a laptop at a workbench" in out
    folder = tmp_path / "eml"
    written = cli("send", "example", "--dry-run", "--channel", "press-mail", "--out", str(folder), "--json")  # fmt: skip
    assert written.exit_code == 0, written.output
    files = sorted((folder / "press-mail").glob("*.eml"))
    assert len(files) == 30 and len(json.loads(written.stdout)["written"]) == 30
    recipients = set()
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients.add(str(msg["To"]).rsplit("<", 1)[-1].rstrip(">"))
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    assert recipients == {address for _, address, _ in people}
    every = cli("send", "example", "--dry-run", "--channel", "press-mail", "--all")
    assert every.stdout.count("--- email to ") == 30
    assert not [r for r in (AuditLog(ws.audit_path).records() if ws.audit_path.exists() else [])
                if r["type"] == "delivery.attempted"]  # fmt: skip
    assert cli("send", "example", "--all").exit_code == 2  # --all only with --dry-run


# -- approvals --diff ------------------------------------------------------------------------------


def test_approvals_diff_shows_what_changed_since_the_approval(ws: Workspace, cli: Invoke) -> None:
    approver(cli, "Jana Example")
    assert cli("approve", "example").exit_code == 0
    path = ws.releases_dir / "example.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("forty new jobs", "forty-two new jobs"),
        encoding="utf-8",
    )
    shown = cli("approvals", "example", "--diff")
    assert shown.exit_code == 0, shown.output
    assert "outdated: press-room changed" in shown.stdout
    assert (
        "-Example Corp today opens a repair workshop in Leipzig with forty new jobs."
        in shown.stdout
    )
    assert (
        "+Example Corp today opens a repair workshop in Leipzig with forty-two new jobs."
        in shown.stdout
    )
    data = json.loads(cli("approvals", "example", "--diff", "--json").stdout)
    assert "+Example Corp today" in data["approvals"][0]["diff"]["press-room"]
    # an approval recorded without its text (before this version) says so
    log = AuditLog(ws.audit_path)
    [record] = [r for r in log.records() if r["type"] == "release.approved"]
    old = {
        k: v for k, v in record.items() if k not in ("seq", "ts", "type", "prev", "hash", "texts")
    }
    log.append("release.approved", **old)
    again = json.loads(cli("approvals", "example", "--diff", "--json").stdout)
    assert "text not kept for approvals made before" in again["approvals"][1]["diff"]["press-room"]


# -- schedule: past times and the workspace's time zone -----------------------------------------


def test_schedule_add_refuses_a_past_time_unless_asked(ws: Workspace, cli: Invoke) -> None:
    refused = cli("schedule", "add", "example", "--at", "2020-01-01 09:00 Europe/Berlin")
    assert refused.exit_code == 2
    assert "in the past: 2020-01-01 08:00 UTC" in refused.stderr and "(now " in refused.stderr
    assert json.loads(cli("schedule", "list", "--json").stdout) == []
    taken = cli(
        "schedule", "add", "example", "--at", "2020-01-01 09:00 Europe/Berlin", "--now-if-past"
    )
    assert taken.exit_code == 0, taken.output


def test_a_time_without_zone_is_in_the_workspace_timezone(ws: Workspace, cli: Invoke) -> None:
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text('timezone = "Europe/Berlin"\n' + text, encoding="utf-8")
    added = cli("schedule", "add", "example", "--at", "2099-12-01 09:30", "--json")
    assert added.exit_code == 0, added.output
    item = json.loads(added.stdout)
    assert item["due_utc"] == "2099-12-01T08:30:00+00:00" and item["zone"] == "Europe/Berlin"
    assert ws.timezone.key == "Europe/Berlin"
    ws.channels_file.write_text('timezone = "Europe/Berlim"\n' + text, encoding="utf-8")
    bad = cli("schedule", "add", "example", "--at", "2099-12-01 09:30")
    assert bad.exit_code == 2
    assert "channels.toml:1" in bad.stderr and '"Europe/Berlin"' in bad.stderr
