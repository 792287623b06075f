"""The publication ledger: a release is published once per channel and target whatever the
selection, an edit after publication is refused (or published as a new edition on
purpose), the policy reads what is sent, and a state.db of the previous schema is upgraded."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from prcast.audit import AuditLog
from prcast.store import Store
from prcast.store.migrations import LATEST
from prcast.workspace import Workspace, init_workspace
from tests.conftest import REPO, Invoke, outbox_entries

ARCHIVE = """
[channels.archive]
type = "outbox"
path = "archive"
title = "Archive"
author = "Press office"
base_url = "https://archive.example.org/"
"""


def archive_entries(ws: Workspace) -> list[Path]:
    return sorted((ws.root / "archive" / "posts").glob("*.json"))


def test_wider_then_narrower_selection_publishes_once_per_channel(
    ws: Workspace, cli: Invoke
) -> None:
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(ARCHIVE)
    first = cli("send", "example", "-c", "press-room", "--yes")
    assert first.exit_code == 0, first.output
    assert len(outbox_entries(ws)) == 1 and archive_entries(ws) == []
    wider = cli("send", "example", "--yes", "--json")
    assert wider.exit_code == 0, wider.output
    assert json.loads(wider.stdout)["counts"] == {"delivered": 2}
    assert len(outbox_entries(ws)) == 1, "press-room got the release a second time"
    assert len(archive_entries(ws)) == 1
    narrower = cli("send", "example", "-c", "archive", "--yes")
    assert narrower.exit_code == 0, narrower.output
    assert len(outbox_entries(ws)) == 1 and len(archive_entries(ws)) == 1
    attempted = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "delivery.attempted"]
    assert sorted(r["channel"] for r in attempted) == ["archive", "press-room"]


def test_an_edit_after_publication_is_refused_and_a_new_edition_is_deliberate(
    ws: Workspace, cli: Invoke
) -> None:
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(ARCHIVE)
    assert cli("send", "example", "-c", "press-room", "--yes").exit_code == 0
    path = ws.releases_dir / "example.md"
    path.write_text(path.read_text().replace("forty new jobs", "forty-two new jobs"))
    edited = cli("send", "example", "--yes")
    assert edited.exit_code == 2, edited.output
    assert "changed after it was published" in edited.output
    assert "press-room: 1 post with the earlier text (published 20" in edited.output
    assert "archive" not in edited.output.split("hint")[0].split("second copy on")[1]
    assert "--new-edition" in edited.output
    assert len(outbox_entries(ws)) == 1 and archive_entries(ws) == []
    # when it was published, in the workspace's time zone
    toml = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(f'timezone = "Europe/Berlin"\n{toml}', encoding="utf-8")
    zoned = cli("send", "example", "--yes")
    assert zoned.exit_code == 2, zoned.output
    assert re.search(r"\(published 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d CES?T, run", zoned.output)
    # the same refusal for a dry run, and nothing recorded
    assert cli("send", "example", "--dry-run").exit_code == 2
    needs_reason = cli("send", "example", "--yes", "--new-edition")
    assert needs_reason.exit_code == 2 and "--reason" in needs_reason.output
    again = cli("send", "example", "--yes", "--new-edition", "--reason", "figures corrected")
    assert again.exit_code == 0, again.output
    assert len(outbox_entries(ws)) == 2 and len(archive_entries(ws)) == 1
    [edition] = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "release.new_edition"]
    assert edition["reason"] == "figures corrected" and edition["edition"] == 2
    assert edition["by"] and edition["host"]
    # the new edition is itself published once
    assert cli("send", "example", "--yes").exit_code == 0
    assert len(outbox_entries(ws)) == 2


def test_an_explicit_id_keeps_the_identity_across_a_rename(ws: Workspace, cli: Invoke) -> None:
    path = ws.releases_dir / "example.md"
    path.write_text(path.read_text().replace("+++\n", '+++\nid = "2026/workshop"\n', 1))
    assert cli("send", "example", "--yes").exit_code == 0
    path.rename(ws.releases_dir / "renamed.md")
    result = cli("send", "renamed", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert len(outbox_entries(ws)) == 1
    bad = ws.releases_dir / "bad.md"
    bad.write_text(
        path.parent.joinpath("renamed.md").read_text().replace("2026/workshop", "../x y")
    )
    refused = cli("check", "bad")
    assert refused.exit_code == 2 and "bad.md:2" in refused.output and '"id"' in refused.output


def _press_list(ws: Workspace) -> None:
    (ws.lists_dir / "contacts.csv").write_text(
        "name,email,mastodon,outlet,beat,language,tags,opt_out\n"
        "Ada Reporter,ada@paper.example,,Paper,tech,en,,\n",
        encoding="utf-8",
    )
    (ws.lists_dir / "groups.toml").write_text(
        '[groups.tech-press]\nwhere = { beat = "tech" }\n', encoding="utf-8"
    )


def test_the_policy_reads_every_rendered_byte(ws: Workspace, cli: Invoke) -> None:
    (ws.root / "policy.toml").write_text('blocked_terms = ["Project Nightjar"]\n', encoding="utf-8")
    assert cli("check", "example").exit_code == 0  # the release itself is clean
    # 1. a workspace template adds the code name to the press-room entry
    shipped = (REPO / "templates" / "outbox.md.j2").read_text(encoding="utf-8")
    (ws.templates_dir / "outbox.md.j2").write_text(shipped + "\nInternal: Project Nightjar\n")
    blocked = cli("send", "example", "--yes")
    assert blocked.exit_code == 2, blocked.output
    assert "press-room part 1/1, text line" in blocked.output
    assert '"Project Nightjar"' in blocked.output and "template" in blocked.output
    assert outbox_entries(ws) == []
    (ws.templates_dir / "outbox.md.j2").unlink()
    # 2. an email subject template
    _press_list(ws)
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write(
            '\n[channels.press-mail]\ntype = "email"\nhost = "127.0.0.1"\nport = 9\n'
            'tls = "none"\nfrom_address = "Press <press@example.org>"\n'
        )
    (ws.templates_dir / "email_subject.txt.j2").write_text("{{ title }} (Project Nightjar)")
    mail = cli("send", "example", "--to", "tech-press", "--yes")
    assert mail.exit_code == 2, mail.output
    assert "press-mail part 1/1 to ada@paper.example, subject" in mail.output
    assert '"Project Nightjar"' in mail.output
    (ws.templates_dir / "email_subject.txt.j2").unlink()
    # 3. an image's alt text
    (ws.releases_dir / "workshop.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    path = ws.releases_dir / "example.md"
    path.write_text(
        path.read_text().replace(
            '# [[media]]\n# path = "workshop.jpg"\n# alt = "Two technicians repairing a laptop at a workbench"',
            '[[media]]\npath = "workshop.png"\nalt = "The Project Nightjar prototype"',
        )
    )
    alt = cli("send", "example", "-c", "press-room", "--yes")
    assert alt.exit_code == 2, alt.output
    assert "press-room part 1/1, alt text of image 1" in alt.output
    assert outbox_entries(ws) == []
    blocked_records = [
        r for r in AuditLog(ws.audit_path).records() if r["type"] == "policy.blocked"
    ]
    assert {f.get("field") for r in blocked_records for f in r.get("findings", [])} >= {
        "text",
        "subject",
        "alt text of image 1",
    }


def test_a_state_db_of_the_previous_schema_is_upgraded(tmp_path: Path) -> None:
    """tests/data/v1-workspace was written by prcast 0.1 (schema version 1): one send of
    the example to the press room, one scheduled item, then copied here (so its stored
    paths point elsewhere, as after moving a workspace)."""
    root = tmp_path / "moved"
    shutil.copytree(REPO / "tests" / "data" / "v1-workspace", root)
    old = sqlite3.connect(root / ".prcast" / "state.db")
    assert {r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {
        "runs",
        "deliveries",
        "schedules",
    }
    [(old_key, old_run)] = old.execute("SELECT key, run_id FROM deliveries").fetchall()
    old.close()
    prcast = [sys.executable, "-m", "prcast", "--workspace", str(root)]
    resent = subprocess.run([*prcast, "send", "example", "--yes", "--json"], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert resent.returncode == 0, resent.stderr
    new_run = json.loads(resent.stdout)["run"]
    assert len(list((root / "outbox" / "posts").glob("*.json"))) == 1, "published again"
    store = Store(root / ".prcast" / "state.db")
    try:
        assert store.version() == LATEST
        [row] = store.deliveries(old_run)
        assert row.key == old_key and row.status == "delivered" and row.published_at
        [shared] = store.deliveries(new_run)  # the new run found the old publication
        assert shared.key == old_key and shared.attempts == row.attempts
        [item] = store.schedules()
        assert item["due_at"].startswith("2027-01-01T09:00") and item["status"] == "pending"
    finally:
        store.close()
    report = subprocess.run([*prcast, "report", old_run, "--format", "json"], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["counts"] == {"delivered": 1}
    verify = subprocess.run([*prcast, "audit", "verify"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # opening it again changes nothing
    again = Store(root / ".prcast" / "state.db")
    assert again.version() == LATEST and len(again.runs()) == 2
    again.close()


def test_a_fresh_store_is_at_the_latest_version(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "w")
    store = Store(ws.store_path)
    try:
        assert store.version() == LATEST
    finally:
        store.close()
