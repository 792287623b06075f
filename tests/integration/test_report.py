"""The report for the boss, from a real run: the outbox press room and press email to a
real SMTP server (aiosmtpd) that refuses some recipients."""

from __future__ import annotations

import csv
import getpass
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prcast.audit import AuditLog
from prcast.store import Store
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import FlakyMailbox, Mailbox, flaky_smtp_server, write_release
from tests.integration.test_email import mail_channel, press_list

#: three journalists whose mail server refuses them with the same SMTP reply
REFUSED = ("j3@outlet3.example", "j5@outlet5.example", "j8@outlet8.example")
SMTP_REPLY = "550 5.1.1 mailbox unavailable"


def mail_release(ws: Workspace, name: str = "launch", front: str = "") -> Path:
    return write_release(
        ws, mention="@ben@social.example", name=name,
        front='channels = ["press-room", "press-mail"]\naudience = ["tech-press", "business-press"]\n' + front,
    )  # fmt: skip


@pytest.fixture
def sent(ws: Workspace, cli: Invoke, mailbox: Mailbox) -> str:
    """A run that published on the press room and mailed 20 journalists, 3 of them refused;
    its run id."""
    press_list(ws, n=20)
    mail_channel(ws, mailbox)
    mail_release(ws)
    mailbox.refuse.update(REFUSED)
    result = cli("send", "launch", "--yes")
    assert result.exit_code == 1, result.output  # a delivery failed
    assert len(mailbox.messages) == 17
    return str(json.loads(cli("report", "--json").stdout)["run"]["id"])


def store_counts(ws: Workspace, run_id: str) -> dict[str, dict[str, int]]:
    """Per channel, the deliveries in each status, as the Store has them."""
    store = Store(ws.store_path)
    try:
        rows = store.deliveries(run_id)
    finally:
        store.close()
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r.channel, {}).setdefault(r.status, 0)
        out[r.channel][r.status] += 1
    return out


def test_report_figures_equal_the_stores_per_channel_and_group(
    ws: Workspace, cli: Invoke, sent: str
) -> None:
    data = json.loads(cli("report", "--json").stdout)
    stored = store_counts(ws, sent)
    channels = data["summary"]["channels"]
    assert set(channels) == set(stored) == {"press-room", "press-mail"}
    for name, counts in stored.items():
        figures = channels[name]
        assert figures["delivered"] == counts.get("delivered", 0)
        assert figures["failed"] == counts.get("failed", 0) + counts.get("skipped", 0)
        assert figures["in_doubt"] == counts.get("in-doubt", 0)
        assert figures["not_sent"] == counts.get("suppressed", 0) + counts.get("no-address", 0)
    assert channels["press-mail"] == {"planned": 20, "reached": 17, "delivered": 17, "failed": 3,
                                      "in_doubt": 0, "not_sent": 3, "pending": 0}  # fmt: skip
    assert channels["press-room"]["reached"] == 1 and channels["press-room"]["delivered"] >= 1
    total = data["summary"]["total"]
    assert total["delivered"] == sum(c.get("delivered", 0) for c in stored.values())
    assert total["failed"] == 3 and total["in_doubt"] == 0
    groups = data["summary"]["groups"]
    assert groups["tech-press"]["failed"] + groups["business-press"]["failed"] == 3
    assert groups["tech-press"]["delivered"] + groups["business-press"]["delivered"] == 17
    # the text and HTML say the same figures, summary first
    text = cli("report").stdout
    assert text.splitlines()[0] == "Repair workshop opens in Leipzig"
    summary = (
        f"Summary: {total['reached']} reached, {total['delivered']} delivered, 3 failed, 0 in doubt"
    )
    assert summary in text and text.index(summary) < text.index("Errors by cause")
    assert "press-mail: 17 reached, 17 delivered, 3 failed, 0 in doubt, 3 not sent" in text


def test_one_smtp_error_is_one_line_with_its_count_and_the_recipients(
    ws: Workspace, cli: Invoke, sent: str, tmp_path: Path
) -> None:
    [group] = json.loads(cli("report", "--json").stdout)["errors"]
    assert group["count"] == 3 and group["channel"] == "press-mail"
    assert group["message"] == f"the server refused …: {SMTP_REPLY}"
    assert sorted(group["targets"]) == sorted(REFUSED)
    page = tmp_path / "report.html"
    assert cli("report", "-f", "html", "-o", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert html.count(SMTP_REPLY) == 1 + 3  # the grouped line, and each delivery's row
    [item] = re.findall(
        r'<li class="failed"><span class="count">×3</span>.*?</details></li>', html, re.S
    )
    assert SMTP_REPLY in item and "3 deliveries affected" in item
    assert all(f"<li>{a}</li>" in item for a in REFUSED)
    md = cli("report", "-f", "md").stdout
    assert md.count(f"**×3** press-mail, failed: `the server refused …: {SMTP_REPLY}`") == 1


def test_csv_has_one_row_per_delivery_and_json_the_same_totals(
    ws: Workspace, cli: Invoke, sent: str
) -> None:
    out = cli("report", "--format", "csv")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["run", "edition", "channel", "target", "part", "status", "time",
                             "error", "url"]  # fmt: skip
    stored = store_counts(ws, sent)
    assert len(rows) == sum(sum(c.values()) for c in stored.values())
    from_csv: dict[str, dict[str, int]] = {}
    for row in rows:
        from_csv.setdefault(row["channel"], {}).setdefault(row["status"], 0)
        from_csv[row["channel"]][row["status"]] += 1
    assert from_csv == stored
    assert {r["run"] for r in rows} == {sent} and {r["edition"] for r in rows} == {"1"}
    failed = [r for r in rows if r["status"] == "failed"]
    assert sorted(r["target"] for r in failed) == sorted(REFUSED)
    assert all(SMTP_REPLY in r["error"] for r in failed)
    room = [r for r in rows if r["channel"] == "press-room"]
    assert room and all(r["url"].startswith("https://press.example.org/") for r in room)
    assert all(datetime.fromisoformat(r["time"]).tzinfo for r in rows if r["status"] == "delivered")
    data = json.loads(cli("report", "--json").stdout)
    assert len(data["deliveries"]) == len(rows)
    assert data["counts"] == {
        s: sum(1 for r in rows if r["status"] == s) for s in {r["status"] for r in rows}
    }
    assert [p["url"] for p in data["published"]] == [r["url"] for r in rows if r["url"]]


def test_release_view_sums_its_runs(ws: Workspace, cli: Invoke, mailbox: Mailbox) -> None:
    press_list(ws, n=6)
    mail_channel(ws, mailbox)
    path = mail_release(ws)
    first = cli("send", "launch", "--yes", "--channel", "press-room")
    assert first.exit_code == 0, first.output
    second = cli("send", "launch", "--yes", "--channel", "press-mail")
    assert second.exit_code == 0, second.output
    runs = json.loads(cli("report", "--list", "--format", "json").stdout)
    assert len(runs) == 2
    per_run = [json.loads(cli("report", r["id"], "--json").stdout) for r in runs]
    for name in ("launch", str(path), "releases/launch.md"):
        view = json.loads(cli("report", "--release", name, "--json").stdout)
        assert sorted(r["id"] for r in view["runs"]) == sorted(r["id"] for r in runs)
        for key in ("planned", "reached", "delivered", "failed", "not_sent"):
            assert view["summary"]["total"][key] == sum(p["summary"]["total"][key] for p in per_run)
        assert len(view["deliveries"]) == sum(len(p["deliveries"]) for p in per_run)
        assert {d["run"] for d in view["deliveries"]} == {r["id"] for r in runs}
    text = cli("report", "--release", "launch").stdout
    assert "Delivery report across 2 runs" in text
    missing = cli("report", "--release", "no-such-release")
    assert missing.exit_code == 2 and "no run of release" in missing.stderr


def test_approvals_the_embargo_override_and_a_new_edition_are_shown(
    ws: Workspace, cli: Invoke, mailbox: Mailbox, tmp_path: Path
) -> None:
    from tests.cli.test_approvals import approver

    press_list(ws, n=4)
    mail_channel(ws, mailbox)
    embargo = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    mail_release(ws, front=f"embargo = {embargo.isoformat()}\n")
    approver(cli, "Jana Example")
    assert cli("approve", "launch", "--as", "Jana Example", "--note", "legal ok").exit_code == 0
    sent = cli("send", "launch", "--yes", "--break-embargo", "--reason", "the minister spoke early")
    assert sent.exit_code == 0, sent.output
    data = json.loads(cli("report", "--json").stdout)
    [approval] = data["approvals"]
    assert approval["registered"] == "Jana Example" and approval["signed"] and approval["covers"]
    assert approval["note"] == "legal ok" and len(approval["release_sha256"]) == 64
    assert set(approval["channels"]) == {"press-room", "press-mail"}
    [override] = data["overrides"]
    assert override["kind"] == "embargo" and override["reason"] == "the minister spoke early"
    assert override["by"] == getpass.getuser()
    assert datetime.fromisoformat(data["embargo"]) == embargo
    page = tmp_path / "r.html"
    assert cli("report", "-f", "html", "-o", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "Jana Example <em>(legal ok)</em>" in html
    assert approval["release_sha256"][:16] in html and "covers the text that was sent" in html
    assert (f"Embargo broken on purpose by {getpass.getuser()}" in html
            and "Reason: the minister spoke early" in html)  # fmt: skip
    # an edit after publication, published again on purpose: the release view shows why
    text = (ws.releases_dir / "launch.md").read_text(encoding="utf-8")
    (ws.releases_dir / "launch.md").write_text(text.replace("Leipzig", "Leipzig-Plagwitz", 1))
    again = cli("send", "launch", "--yes", "--break-embargo", "--new-edition",
                "--reason", "figures corrected")  # fmt: skip
    assert again.exit_code == 0, again.output
    view = json.loads(cli("report", "--release", "launch", "--json").stdout)
    assert sorted(r["edition"] for r in view["runs"]) == [1, 2]
    editions = [o for o in view["overrides"] if o["kind"] == "new-edition"]
    assert [(o["edition"], o["reason"], o["by"]) for o in editions] == [
        (2, "figures corrected", getpass.getuser())
    ]
    md = cli("report", "--release", "launch", "-f", "md").stdout
    assert "Edition 2 published on purpose by" in md and "Reason: figures corrected" in md
    assert "covers the text that was sent" in md  # the approval was over the first edition


@pytest.fixture
def flaky_mailbox() -> Iterator[FlakyMailbox]:
    """aiosmtpd answering "451 try again later" to half the recipients' RCPTs (seeded)."""
    yield from flaky_smtp_server(rate=0.5, seed=5)


def test_retries_and_temporary_failures_are_counted_once_per_cause(
    ws: Workspace, cli: Invoke, flaky_mailbox: FlakyMailbox
) -> None:
    press_list(ws, n=16)
    mail_channel(ws, flaky_mailbox, tls="none", max_attempts=2, retry_base=0.01)
    mail_release(ws)
    sent = cli("send", "launch", "--yes")
    data = json.loads(cli("report", "--json").stdout)
    stored = store_counts(ws, data["run"]["id"])["press-mail"]
    failed = stored.get("failed", 0)
    assert failed and stored.get("delivered", 0) == len(flaky_mailbox.messages) > 0
    assert sent.exit_code == 1
    mail = data["summary"]["channels"]["press-mail"]
    assert (mail["delivered"], mail["failed"]) == (stored["delivered"], failed)
    # a refusal after two attempts is one cause, however each delivery got there
    [group] = data["errors"]
    assert group["count"] == failed
    assert group["message"] == "the server refused …: 451 4.3.0 please try again later"
    # every request that left is on the timeline: each retry, each final answer
    retries = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "delivery.retry"]
    tries = [a for a in data["attempts"] if a["channel"] == "press-mail"]
    assert sum(1 for a in tries if a["outcome"] == "retry") == len(retries) >= failed
    assert sum(1 for a in tries if a["outcome"] == "failed") == failed
    assert len(tries) == flaky_mailbox.temp_failed + len(flaky_mailbox.messages)
