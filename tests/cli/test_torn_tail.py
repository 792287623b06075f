"""A torn last line (a crash mid-append) is skipped and reported by every reader, and the
next append removes it, audited."""

from __future__ import annotations

import json

from prcast.audit import AuditLog
from prcast.workspace import Workspace
from tests.conftest import Invoke


def test_readers_skip_a_torn_last_line_and_the_next_append_repairs_it(
    ws: Workspace, cli: Invoke
) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    with open(ws.audit_path, "ab") as f:
        f.write(b'{"channel":"press-room","hash":"ab')  # the crash
    shown = cli("audit", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert [r["seq"] for r in json.loads(shown.stdout)] == [1, 2, 3, 4, 5]
    assert "torn last line (34 bytes" in shown.stderr
    assert cli("audit", "show").exit_code == 0
    report = cli("report", "--format", "json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["audit"]["verified"] is True
    assert "torn last line" in json.loads(report.stdout)["audit"]["message"]
    resumed = cli("resume")
    assert "internal error" not in resumed.output and resumed.exit_code in (0, 2), resumed.output
    verified = cli("audit", "verify")
    assert verified.exit_code == 0 and "torn last line (34 bytes" in verified.stderr

    example = ws.releases_dir / "example.md"
    (ws.releases_dir / "update.md").write_text(example.read_text() + "\nAn update.\n")
    assert cli("send", "update", "--yes").exit_code == 0  # the next append
    records = list(AuditLog(ws.audit_path).records())
    assert records[5]["type"] == "audit.torn_tail_removed" and records[5]["bytes"] == 34
    after = cli("audit", "verify")
    assert after.exit_code == 0 and "torn" not in after.stderr
