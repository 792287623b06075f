"""Signed approvals: distinct registered keys over the exact text; names, the OS user, a
second signature by the same key and forged records count for nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prcast import approvals, policy
from prcast.audit import AuditLog, canonical, record_hash
from prcast.delivery import prepare
from prcast.errors import InputError
from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries


def release(ws: Workspace, body: str) -> None:
    (ws.releases_dir / "news.md").write_text(
        f'+++\ntitle = "Quarterly update"\n+++\n{body}\n', encoding="utf-8"
    )


def approver(cli: Invoke, name: str) -> str:
    """Create `name`'s key (in this account's config folder) and register it; its vkey."""
    made = cli("approver", "init", "--name", name)
    assert made.exit_code == 0, made.output
    vkey = made.stdout.split()[-1]
    added = cli("approver", "add", "--name", name, vkey)
    assert added.exit_code == 0, added.output
    return vkey


@pytest.fixture
def two_person_rule(ws: Workspace, cli: Invoke) -> None:
    (ws.root / "policy.toml").write_text("required_approvals = 2\n", encoding="utf-8")
    release(ws, "The new workshop opens on Monday.")
    approver(cli, "Jana Example")
    approver(cli, "Omar Example")


def test_approval_binds_the_exact_text(ws: Workspace, cli: Invoke, two_person_rule: None) -> None:
    refused = cli("send", "news", "--yes")
    assert refused.exit_code == 2 and "0 of 2 required approvals" in refused.stderr
    assert cli("approve", "news", "--as", "Jana Example", "--note", "legal ok").exit_code == 0
    assert cli("approve", "news", "--as", "Omar Example").exit_code == 0
    release(ws, "The new workshop opens on Tuesday.")  # one word edited after approval
    changed = cli("send", "news", "--yes")
    assert changed.exit_code == 2
    assert "the text for channel(s) press-room changed after it was approved" in changed.stderr
    assert outbox_entries(ws) == []
    status = json.loads(cli("approvals", "news", "--json").stdout)
    assert status["approved_by"] == [] and all(
        a["changed"] == ["press-room"] and a["signed"] for a in status["approvals"]
    )
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    assert cli("approve", "news", "--as", "Omar Example").exit_code == 0
    sent = cli("send", "news", "--yes")
    assert sent.exit_code == 0, sent.output
    assert len(outbox_entries(ws)) == 1
    approved = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "release.approved"]
    assert approved[0]["note"] == "legal ok" and len(approved[0]["channels"]["press-room"]) == 64
    assert all(approvals.signer_of(r) is not None for r in approved)
    shown = cli("approvals", "news")
    assert shown.exit_code == 0 and "2 of 2 required approvals" in shown.stdout
    assert cli("audit", "verify").exit_code == 0


def test_one_key_approving_twice_counts_once(
    ws: Workspace, cli: Invoke, two_person_rule: None
) -> None:
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    refused = cli("send", "news", "--yes")
    assert refused.exit_code == 2 and "1 of 2 required approvals" in refused.stderr
    assert outbox_entries(ws) == []


def test_a_typed_name_or_an_unregistered_key_counts_for_nothing(
    ws: Workspace, cli: Invoke, two_person_rule: None, tmp_path: Path
) -> None:
    # the old way: a free-text name is not accepted at all
    assert cli("approve", "news", "--by", "Bob").exit_code == 2
    # a key of this OS user that approvers.toml does not list
    made = cli("approver", "init", "--name", "Mallory")
    assert made.exit_code == 0
    result = cli("approve", "news", "--as", "Mallory")
    assert result.exit_code == 0 and "does not count" in result.stderr
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    refused = cli("send", "news", "--yes")
    assert refused.exit_code == 2
    assert "1 approval(s) by keys not in approvers.toml ignored" in refused.stderr
    assert "1 of 2 required approvals" in refused.stderr


def test_a_forged_approval_record_is_ignored_by_send_and_flagged_by_verify(
    ws: Workspace, cli: Invoke, two_person_rule: None
) -> None:
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    log = ws.audit_path
    lines = log.read_bytes().splitlines()
    genuine = json.loads(lines[-1])
    omar_vkey = next(
        a.key.vkey for a in approvals.load_approvers(ws.root) if a.name.startswith("Omar")
    )
    # an insider copies Jana's approval, puts Omar's key on it, and recomputes the hash
    forged = {**genuine, "seq": genuine["seq"] + 1, "prev": genuine["hash"], "by": "omar-example",
              "key": omar_vkey}  # fmt: skip
    forged.pop("hash")
    forged["hash"] = record_hash(forged)
    with open(log, "ab") as f:
        f.write((canonical(forged) + "\n").encode())
    assert AuditLog(log).verify().records == genuine["seq"] + 1  # the chain itself holds
    refused = cli("send", "news", "--yes")
    assert refused.exit_code == 2, refused.output
    assert "1 approval record(s) without a valid signature ignored" in refused.stderr
    assert "1 of 2 required approvals" in refused.stderr
    assert outbox_entries(ws) == []
    verified = cli("audit", "verify")
    assert verified.exit_code == 3
    assert (
        f'record {forged["seq"]}: approval by "omar-example" has an invalid signature'
        in " ".join(verified.stderr.split())
    )


def test_send_checks_the_chain_before_it_counts_approvals(
    ws: Workspace, cli: Invoke, two_person_rule: None
) -> None:
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    assert cli("approve", "news", "--as", "Omar Example").exit_code == 0
    lines = ws.audit_path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"name":"', b'"name":"X', 1)  # an earlier record altered
    ws.audit_path.write_bytes(b"".join(lines))
    refused = cli("send", "news", "--yes")
    assert refused.exit_code == 3, refused.output
    assert "record 1" in refused.stderr
    assert outbox_entries(ws) == []


def test_approvals_expire_after_the_approval_ttl(
    ws: Workspace, cli: Invoke, two_person_rule: None
) -> None:
    (ws.root / "policy.toml").write_text('required_approvals = 2\napproval_ttl = "48h"\n')
    assert cli("approve", "news", "--as", "Jana Example").exit_code == 0
    assert cli("approve", "news", "--as", "Omar Example").exit_code == 0
    rules = policy.load_policy(ws.root)
    plan = prepare(ws, "news")
    digests = policy.content_digests(plan.renderings)
    records = policy.approvals_of(AuditLog(ws.audit_path).verified_records(), "news")
    now = datetime.now(UTC)
    assert len(policy.check_approvals(rules, records, plan.release, digests, now)) == 2
    later = now + timedelta(hours=49)
    with pytest.raises(InputError, match="2 approval\\(s\\) expired"):
        policy.check_approvals(rules, records, plan.release, digests, later)
    # and one signed "in the future" (a clock set ahead to outlive the TTL) does not count
    early = now - timedelta(hours=1)
    with pytest.raises(InputError, match="0 of 2"):
        policy.check_approvals(rules, records, plan.release, digests, early)
    (ws.root / "policy.toml").write_text('required_approvals = 2\napproval_ttl = "soon"\n')
    with pytest.raises(InputError, match="approval_ttl must be a duration"):
        policy.load_policy(ws.root)
