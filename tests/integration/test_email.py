"""Press email to a 500-recipient group over a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import (
    Mailbox,
    add_channel,
    email_channel,
    smtp_server,
    write_release,
)

FROM = "Example Corp Press <press@example.org>"


def press_list(ws: Workspace, n: int = 500) -> None:
    """n reachable journalists (half tech, half business), one opted out, one on the
    suppression list, one without an email address."""
    with open(ws.lists_dir / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "mastodon", "outlet", "beat", "language", "tags", "opt_out"])
        for i in range(1, n + 1):
            w.writerow([f"Journalist {i}", f"j{i}@outlet{i % 25}.example", "", f"Outlet {i % 25}",
                        "tech" if i % 2 else "business", "en", "", ""])  # fmt: skip
        w.writerow(["Opted Out", "opted@outlet1.example", "", "Outlet 1", "tech", "en", "", "yes"])
        w.writerow(
            ["Phone Optout", "phoned@outlet2.example", "", "Outlet 2", "business", "en", "", ""]
        )
        w.writerow(["Handle Only", "", "@handle@social.example", "Blog", "tech", "en", "", ""])
    (ws.lists_dir / "groups.toml").write_text(
        '[groups.tech-press]\nwhere = { beat = "tech" }\n\n[groups.business-press]\nwhere = { beat = "business" }\n',
        encoding="utf-8",
    )
    (ws.lists_dir / "suppressed.txt").write_text("phoned@outlet2.example\n", encoding="utf-8")


def mail_channel(ws: Workspace, box: Mailbox, **settings: object) -> None:
    add_channel(
        ws,
        email_channel(
            box.port,
            from_address=FROM,
            unsubscribe_url="https://press.example.org/unsubscribe?email={email}",
            connections=4,
            **settings,
        ),
    )


def release(ws: Workspace) -> Path:
    return write_release(ws, mention="@ben@social.example",
                         front='channels = ["press-mail"]\naudience = ["tech-press", "business-press"]\n')  # fmt: skip


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def words(text: str) -> list[str]:
    """The words of a text, without Markdown's markers (# headings, - lists, **bold**)."""
    return [w for w in re.findall(r"[\w@./:?=-]+", text) if re.search(r"\w", w)]


def test_500_recipients_get_one_personal_message_each(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    press_list(ws)
    mail_channel(ws, mailbox)
    release(ws)
    result = cli("send", "launch", "--yes")
    assert result.exit_code == 0, result.output
    received = mailbox.by_recipient()
    assert len(received) == 500
    assert all(len(msgs) == 1 for msgs in received.values())
    assert not {"opted@outlet1.example", "phoned@outlet2.example"} & set(received)

    report = json.loads(cli("report", "--format", "json").stdout)
    assert report["groups"] == {
        "tech-press": {"delivered": 250, "suppressed": 1, "no-address": 1},
        "business-press": {"delivered": 250, "suppressed": 1},
    }
    ids = {r["target"]: r["remote_id"] for r in report["deliveries"] if r["status"] == "delivered"}
    image = (ws.releases_dir / "workshop.png").read_bytes()
    for i in (1, 2, 250, 499):
        address = f"j{i}@outlet{i % 25}.example"
        msg = parse(received[address][0])
        assert msg["To"] == f"Journalist {i} <{address}>"
        assert msg["From"] == FROM
        assert msg["Subject"] == "Repair workshop opens in Leipzig"
        assert msg["Message-ID"] == ids[address]
        assert re.fullmatch(r"<[0-9a-f]{32}\.prcast@example\.org>", msg["Message-ID"])
        assert msg["List-Unsubscribe"].strip() == (
            f"<https://press.example.org/unsubscribe?email={address.replace('@', '%40')}>, "
            "<mailto:press@example.org?subject=unsubscribe>"
        )
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text_part = msg.get_body(("plain",))
        html_part = msg.get_body(("html",))
        assert text_part is not None and html_part is not None
        text = text_part.get_content()
        assert text.startswith(f"Dear Journalist {i},")
        assert "https://press.example.org/launch-2026" in text
        body = re.search(r"<body[^>]*>(.*)</body>", html_part.get_content(), re.S)
        assert body is not None
        shown = html.unescape(re.sub(r"<[^>]+>", " ", body.group(1)))
        assert words(shown) == words(text)  # the HTML says what the text says
        [attachment] = list(msg.iter_attachments())
        assert attachment.get_filename() == "workshop.png"
        assert attachment.get_content() == image
        assert (
            attachment["Content-Description"] == "Two technicians repairing a laptop at a workbench"
        )
    assert len(set(ids.values())) == 500


def test_sending_again_sends_nobody_a_second_message(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    press_list(ws, n=20)
    mail_channel(ws, mailbox)
    release(ws)
    assert cli("send", "launch", "--yes").exit_code == 0
    assert cli("send", "launch", "--yes").exit_code == 0
    assert len(mailbox.messages) == 20


def test_a_refused_recipient_is_reported_with_the_servers_reply(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    press_list(ws, n=10)
    mailbox.refuse.add("j3@outlet3.example")
    mail_channel(ws, mailbox)
    release(ws)
    result = cli("send", "launch", "--yes")
    assert result.exit_code == 1
    report = cli("report")
    assert "failed: press-mail -> j3@outlet3.example" in report.stdout
    assert "550 5.1.1 mailbox unavailable" in report.stdout
    data = json.loads(cli("report", "--format", "json").stdout)
    assert data["groups"]["tech-press"]["failed"] == 1
    assert len(mailbox.messages) == 9


def test_killed_mid_send_then_resumed_sends_the_rest_and_nothing_twice(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    press_list(ws)
    mail_channel(ws, mailbox)
    release(ws)
    mailbox.delay = 0.01
    proc = subprocess.Popen(
        [sys.executable, "-m", "prcast", "--workspace", str(ws.root), "send", "launch", "--yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(mailbox.messages) < 150 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    at_kill = len(mailbox.messages)
    assert 150 <= at_kill < 500, "the send was not interrupted mid-way"
    mailbox.delay = 0
    resumed = cli("resume")
    report = json.loads(cli("report", "--format", "json").stdout)
    in_doubt = {r["target"] for r in report["deliveries"] if r["status"] == "in-doubt"}
    received = mailbox.by_recipient()
    assert all(len(msgs) == 1 for msgs in received.values()), "somebody got a message twice"
    assert len(in_doubt) <= 4  # at most one per connection was in flight at the kill
    everyone = {f"j{i}@outlet{i % 25}.example" for i in range(1, 501)}
    assert set(received) | in_doubt == everyone
    assert resumed.exit_code == (1 if in_doubt else 0)
    assert cli("audit", "verify").exit_code == 0


@pytest.fixture
def tls_mailbox(tmp_path: Path) -> Iterator[tuple[Mailbox, Path]]:
    import trustme

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    for box in smtp_server(tls=server, users={"press": "smtp-s3cret-pass"}):
        yield box, ca_file


def test_starttls_and_login(
    ws: Workspace, cli: Invoke, tls_mailbox: tuple[Mailbox, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, ca_file = tls_mailbox
    press_list(ws, n=3)
    mail_channel(
        ws,
        box,
        tls="starttls",
        username="press",
        password="env:PRCAST_SMTP_PASSWORD",
        ca_file=str(ca_file),
    )
    release(ws)
    monkeypatch.setenv("PRCAST_SMTP_PASSWORD", "wrong-password-777")
    check = cli("channels", "test", "press-mail")
    assert check.exit_code == 1
    assert "FAIL press-mail (email): " in check.stdout and "SMTP login refused: 535" in check.stdout
    assert "wrong-password-777" not in check.output
    monkeypatch.setenv("PRCAST_SMTP_PASSWORD", "smtp-s3cret-pass")
    assert cli("channels", "test", "press-mail").exit_code == 0
    result = cli("send", "launch", "--yes")
    assert result.exit_code == 0, result.output
    assert len(box.messages) == 3
