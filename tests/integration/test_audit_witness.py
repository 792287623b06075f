"""The latest checkpoint sent to a witness outside the workspace: an email address over a
real SMTP server (aiosmtpd)."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy

from prcast.audit import AuditLog
from prcast.checkpoint import open_note
from prcast.keys import parse_vkey
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import Mailbox, add_channel, email_channel


def test_the_checkpoint_reaches_a_witness_by_email(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    box = mailbox
    assert cli("send", "example", "--yes").exit_code == 0
    add_channel(ws, email_channel(box.port))
    sent = cli("audit", "witness", "press-mail", "--to", "audit@example.org")
    assert sent.exit_code == 0, sent.output
    [(rcpts, data)] = box.messages
    assert rcpts == ["audit@example.org"]
    body = message_from_bytes(data, policy=email_policy.default).get_body(("plain",))
    assert body is not None
    text = body.get_content()
    note, vkey = text.split("\nverifier key: ")
    signed = open_note(note.replace("\r\n", "\n"), [parse_vkey(vkey.strip())])
    assert signed.checkpoint.size == 5
    [witnessed] = [r for r in AuditLog(ws.audit_path).records() if r["type"] == "audit.witnessed"]
    assert witnessed["size"] == 5 and witnessed["to"] == "audit@example.org"
    assert cli("audit", "verify").exit_code == 0
    assert cli("audit", "witness", "press-mail").exit_code == 2  # email needs --to
