"""Confidentiality policy, approvals bound to the exact content, and the embargo."""

import json
from datetime import UTC, datetime, timedelta

from prcast.audit import AuditLog
from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries

POLICY = """\
blocked_terms = ["Project Falcon"]
customers = ["Acme Bank", "Globex"]
customers_allowed = ["Globex"]
allow = ["Falcon Heavy"]

[[patterns]]
name = "revenue figure before the results"
regex = '(?i)\\b(revenue|turnover|sales)\\b[^.]{0,40}?[€$£]\\s?\\d[\\d.,]*\\s*(million|billion|bn|m)?'
until = 2099-01-01T00:00:00Z
"""


def release(ws: Workspace, body: str, front: str = "") -> None:
    (ws.releases_dir / "news.md").write_text(
        f'+++\ntitle = "Quarterly update"\n{front}+++\n{body}\n', encoding="utf-8"
    )


def test_blocked_code_name_revenue_figure_and_customer_are_three_findings(
    ws: Workspace, cli: Invoke
) -> None:
    (ws.root / "policy.toml").write_text(POLICY, encoding="utf-8")
    release(
        ws,
        "We launch Project Falcon next week.\n\n"
        "Revenue grew to €12.5 million in the quarter.\n\n"
        "Our partner Acme Bank is the first customer; Globex and the Falcon Heavy team agree.",
    )
    result = cli("send", "news", "--yes")
    assert result.exit_code == 2
    assert (
        "blocked by the confidentiality policy (3 findings in the release, 3 in what would be sent)"
        in result.stderr
    )
    assert 'press-room part 1/1, text line 3: blocked term: "Project Falcon"' in result.stderr
    assert "news.md:4: block: blocked term:" in result.stderr
    assert "news.md:6: block: revenue figure before the results:" in result.stderr
    assert "news.md:8: block: customer:" in result.stderr
    assert "Globex" not in result.stderr.split("customer:")[1].split("\n")[0]
    assert outbox_entries(ws) == []
    [blocked] = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "policy.blocked"]
    assert [f["line"] for f in blocked["findings"] if "file" in f] == [4, 6, 8]
    assert {f["channel"] for f in blocked["findings"] if "file" not in f} == {"press-room"}

    checked = cli("check", "news", "--json")
    assert checked.exit_code == 2
    data = json.loads(checked.stdout)
    assert sorted((f["rule"], f["line"]) for f in data["findings"]) == [
        ("blocked term", 4), ("customer", 8), ("revenue figure before the results", 6)]  # fmt: skip


def test_a_pattern_expires_at_its_date(ws: Workspace, cli: Invoke) -> None:
    (ws.root / "policy.toml").write_text(
        POLICY.replace("2099-01-01T00:00:00Z", "2020-01-01T00:00:00Z")
    )
    release(ws, "Revenue grew to €12.5 million in the quarter.")
    assert cli("check", "news").exit_code == 0
    assert cli("send", "news", "--yes").exit_code == 0


def test_embargo_can_only_be_broken_with_a_reason_and_that_is_audited(
    ws: Workspace, cli: Invoke
) -> None:
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds")
    release(ws, "Results are in.", front=f"embargo = {later}\n")
    assert cli("send", "news", "--yes").exit_code == 2
    no_reason = cli("send", "news", "--yes", "--break-embargo")
    assert no_reason.exit_code == 2 and "needs --reason" in no_reason.stderr
    assert outbox_entries(ws) == []
    broken = cli("send", "news", "--yes", "--break-embargo", "--reason", "leaked by a competitor")
    assert broken.exit_code == 0, broken.output
    [record] = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "embargo.broken"]
    assert record["reason"] == "leaked by a competitor" and record["embargo"].startswith(later[:16])
    assert len(outbox_entries(ws)) == 1
