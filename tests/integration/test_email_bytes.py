"""The bytes of press emails, as a real SMTP server (aiosmtpd) receives them and Python's
`email` package (policy.default) reads them: non-ASCII names and subjects (RFC 2047),
internationalised domains (punycode), long subjects folded, SMTPUTF8 only where offered."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import add_channel, free_port


@dataclass
class Envelope:
    sender: str
    options: list[str]
    recipients: list[str]
    data: bytes


@dataclass
class Server:
    port: int
    received: list[Envelope] = field(default_factory=list)


def smtp(utf8: bool) -> Iterator[Server]:
    from aiosmtpd.controller import Controller

    server = Server(free_port())

    class Handler:
        async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:
            server.received.append(Envelope(envelope.mail_from, list(envelope.mail_options),
                                            list(envelope.rcpt_tos), bytes(envelope.content)))  # fmt: skip
            return "250 2.0.0 queued"

    controller = Controller(Handler(), hostname="127.0.0.1", port=server.port, enable_SMTPUTF8=utf8)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    """A server that offers SMTPUTF8 (as Postfix does by default)."""
    yield from smtp(utf8=True)


@pytest.fixture
def ascii_server() -> Iterator[Server]:
    """A server that does not offer SMTPUTF8."""
    yield from smtp(utf8=False)


def setup(ws: Workspace, port: int, from_address: str, people: list[tuple[str, str]]) -> None:
    with open(ws.lists_dir / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "beat"])
        for name, email in people:
            w.writerow([name, email, "presse"])
    (ws.lists_dir / "groups.toml").write_text(
        '[groups.presse]\nwhere = { beat = "presse" }\n', encoding="utf-8"
    )
    add_channel(ws, f"""
[channels.mail]
type = "email"
host = "127.0.0.1"
port = {port}
tls = "none"
from_address = "{from_address}"
""")  # fmt: skip


def release(ws: Workspace, name: str, title: str, language: str, body: str) -> None:
    (ws.releases_dir / f"{name}.md").write_text(
        f'+++\ntitle = "{title}"\nlanguage = "{language}"\nchannels = ["mail"]\n'
        f'audience = ["presse"]\n+++\n{body}\n',
        encoding="utf-8",
    )


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


GERMAN_TITLE = "Grünwerk eröffnet Reparaturwerkstatt in Löbau – Straße der Einheit 5 🎉"
GERMAN_BODY = "Ab Montag repariert das Team Fahrräder, Föhne und Kühlschränke. Größe: 300 m²."
FRENCH_TITLE = "Le Grünwerk ouvre un atelier de réparation à Paris : « Réparer plutôt que jeter »"
FRENCH_BODY = "L’atelier accueille le public dès lundi, près de la Gare de l’Est. Entrée libre."


def test_a_german_message_reads_back_with_its_names_subject_and_text(
    ws: Workspace, cli: Invoke, server: Server
) -> None:
    setup(ws, server.port, "Grünwerk Presse <presse@grünwerk.example>",
          [("Jürgen Müller", "j.mueller@zeitung.example"), ("Anna Weiß", "weiss@müller-verlag.example")])  # fmt: skip
    release(ws, "werkstatt", GERMAN_TITLE, "de", GERMAN_BODY)
    result = cli("send", "werkstatt", "--yes")
    assert result.exit_code == 0, result.output
    by_rcpt = {e.recipients[0]: e for e in server.received}
    # the internationalised domain as punycode, in the envelope and the headers
    assert set(by_rcpt) == {"j.mueller@zeitung.example", "weiss@xn--mller-verlag-dlb.example"}
    assert all(e.sender == "presse@xn--grnwerk-o2a.example" for e in server.received)
    assert all("SMTPUTF8" not in e.options for e in server.received)  # not needed: all ASCII
    for address, name in [("j.mueller@zeitung.example", "Jürgen Müller"),
                          ("weiss@xn--mller-verlag-dlb.example", "Anna Weiß")]:  # fmt: skip
        data = by_rcpt[address].data
        assert data.isascii()  # RFC 2047 and base64: nothing needs 8BITMIME or SMTPUTF8
        msg = parse(data)
        [sender] = msg["From"].addresses
        assert (sender.display_name, sender.addr_spec) == (
            "Grünwerk Presse",
            "presse@xn--grnwerk-o2a.example",
        )
        assert getaddresses([str(msg["From"])]) == [
            ("Grünwerk Presse", "presse@xn--grnwerk-o2a.example")
        ]
        [to] = msg["To"].addresses
        assert (to.display_name, to.addr_spec) == (name, address)
        assert msg["Subject"] == GERMAN_TITLE
        assert msg["Content-Language"] == "de"
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert text is not None and html is not None
        assert GERMAN_BODY in text.get_content()
        assert f"Guten Tag {name}," in text.get_content()
        assert "Größe: 300 m²" in html.get_content()
        assert all(len(line) <= 78 for line in header_lines(data))


def test_a_french_message_reads_back_with_its_accents(
    ws: Workspace, cli: Invoke, server: Server
) -> None:
    setup(ws, server.port, "Service de presse Grünwerk <presse@gruenwerk.example>",
          [("Élodie Lefèvre-Château", "elodie@journal.example")])  # fmt: skip
    release(ws, "atelier", FRENCH_TITLE, "fr", FRENCH_BODY)
    assert cli("send", "atelier", "--yes").exit_code == 0
    [envelope] = server.received
    msg = parse(envelope.data)
    assert msg["Subject"] == FRENCH_TITLE
    assert msg["From"].addresses[0].display_name == "Service de presse Grünwerk"
    assert msg["To"].addresses[0].display_name == "Élodie Lefèvre-Château"
    text = msg.get_body(("plain",))
    assert text is not None and FRENCH_BODY in text.get_content()
    assert "Bonjour Élodie Lefèvre-Château," in text.get_content()


def test_a_long_subject_is_folded_and_unfolds_to_the_title(
    ws: Workspace, cli: Invoke, server: Server
) -> None:
    title = "Jahresbilanz: " + " ".join(["Überschuss", "wächst", "🎉"] * 12)
    setup(ws, server.port, "Presse <presse@example.org>", [("Zoë Ångström", "zoe@example.net")])
    release(ws, "bilanz", title, "de", "Text.")
    assert cli("send", "bilanz", "--yes").exit_code == 0
    [envelope] = server.received
    lines = header_lines(envelope.data)
    subject = next(i for i, line in enumerate(lines) if line.startswith(b"Subject:"))
    assert lines[subject + 1].startswith(b" ")  # folded onto continuation lines
    assert all(len(line) <= 78 for line in lines)
    assert parse(envelope.data)["Subject"] == title
    ascii_title = "Quarterly results: " + "revenue grew in every region again " * 4
    release(ws, "ascii", ascii_title.strip(), "en", "Text.")
    assert cli("send", "ascii", "--yes").exit_code == 0
    data = server.received[-1].data
    assert all(len(line) <= 78 for line in header_lines(data))
    assert parse(data)["Subject"] == ascii_title.strip()


def test_a_non_ascii_sender_address_goes_out_with_smtputf8_where_offered(
    ws: Workspace, cli: Invoke, server: Server
) -> None:
    setup(ws, server.port, "Grünwerk <büro@grünwerk.example>", [("Jo", "jo@example.net")])
    release(ws, "utf8", "Neuigkeiten", "de", "Text.")
    result = cli("send", "utf8", "--yes")
    assert result.exit_code == 0, result.output
    [envelope] = server.received
    assert envelope.sender == "büro@xn--grnwerk-o2a.example"
    assert "SMTPUTF8" in envelope.options
    # RFC 6532: the header holds the address in UTF-8 (the email package reads it as text)
    msg = message_from_string(envelope.data.decode("utf-8"), policy=policy.default)
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Grünwerk", "büro@xn--grnwerk-o2a.example")


def test_a_non_ascii_sender_address_without_smtputf8_is_refused_before_anything_is_sent(
    ws: Workspace, cli: Invoke, ascii_server: Server
) -> None:
    setup(ws, ascii_server.port, "Grünwerk <büro@grünwerk.example>",
          [("Jo", "jo@example.net"), ("Al", "al@example.net")])  # fmt: skip
    release(ws, "utf8", "Neuigkeiten", "de", "Text.")
    result = cli("send", "utf8", "--yes")
    assert result.exit_code == 2, result.output
    assert "SMTPUTF8" in result.output and "büro@grünwerk.example" in result.output
    assert "Traceback" not in result.output
    assert ascii_server.received == []


@pytest.mark.parametrize(
    ("from_address", "reply_to", "from_name", "reply_name"),
    [
        ("presse@grünwerk.example", "Grünwerk Antwort <antwort@grünwerk.example>", "", "Grünwerk Antwort"),
        ("Grünwerk Presse <presse@grünwerk.example>", "antwort@grünwerk.example", "Grünwerk Presse", ""),
        ('\\"Presse, Grünwerk\\" <presse@grünwerk.example>', "antwort@grünwerk.example", "Presse, Grünwerk", ""),
    ],
)  # fmt: skip
def test_a_sender_with_an_internationalised_domain_is_an_address_with_or_without_a_name(
    ws: Workspace,
    cli: Invoke,
    server: Server,
    from_address: str,
    reply_to: str,
    from_name: str,
    reply_name: str,
) -> None:
    setup(ws, server.port, from_address, [("Jo", "jo@example.net")])
    channels = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(channels.rstrip() + f'\nreply_to = "{reply_to}"\n', "utf-8")
    release(ws, "idn", "Neuigkeiten", "de", "Text.")
    result = cli("send", "idn", "--yes")
    assert result.exit_code == 0, result.output
    [envelope] = server.received
    assert envelope.sender == "presse@xn--grnwerk-o2a.example"
    assert envelope.data.isascii() and "SMTPUTF8" not in envelope.options
    msg = parse(envelope.data)
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (from_name, "presse@xn--grnwerk-o2a.example")
    [answer] = msg["Reply-To"].addresses
    assert (answer.display_name, answer.addr_spec) == (
        reply_name,
        "antwort@xn--grnwerk-o2a.example",
    )
    if not from_name:  # a bare address is written bare, never as an encoded name
        assert b"\r\nFrom: presse@xn--grnwerk-o2a.example\r\n" in envelope.data
    assert getaddresses([str(msg["Reply-To"])]) == [(reply_name, "antwort@xn--grnwerk-o2a.example")]


LONG_URL = "https://gruenwerk.example/presse/2026/reparaturwerkstatt-loebau-" + "x" * 120


def test_the_text_part_reads_as_text_and_the_html_part_wraps_on_a_phone(
    ws: Workspace, cli: Invoke, server: Server
) -> None:
    setup(ws, server.port, "Presse <presse@gruenwerk.example>", [("Jo", "jo@example.net")])
    body = (
        "Ab **Montag** repariert das _Team_ Räder. Mehr auf [unserer Seite](https://gruenwerk.example/p).\n\n"
        "## Fakten\n\n- 300 m²\n- `Eintritt frei`\n\n"
        f"![Zwei Techniker](https://gruenwerk.example/team.jpg)\n\n{LONG_URL}"
    )  # fmt: skip
    (ws.releases_dir / "md.md").write_text(
        '+++\ntitle = "Werkstatt"\nsummary = "Reparieren statt wegwerfen"\nlanguage = "de"\n'
        f'channels = ["mail"]\naudience = ["presse"]\n+++\n{body}\n',
        encoding="utf-8",
    )
    result = cli("send", "md", "--yes")
    assert result.exit_code == 0, result.output
    [envelope] = server.received
    msg = parse(envelope.data)
    text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text_part is not None and html_part is not None
    lines = text_part.get_content().splitlines()
    assert lines[0] == "Guten Tag Jo,"
    assert lines[lines.index("Werkstatt") + 1] == "========="  # the title, underlined
    assert "Reparieren statt wegwerfen" in lines  # the summary, without its **
    assert "Ab Montag repariert das Team Räder. Mehr auf unserer Seite (https://gruenwerk.example/p)." in lines  # fmt: skip
    assert lines[lines.index("Fakten") + 1] == "------"
    assert "- 300 m²" in lines and "- Eintritt frei" in lines
    assert "Zwei Techniker (https://gruenwerk.example/team.jpg)" in lines
    assert LONG_URL in lines
    for mark in ("**", "# ", "](", "`", "_Team_", "!["):
        assert mark not in text_part.get_content()
    page = html_part.get_content()
    assert page.startswith("<!doctype html>") and '<html lang="de">' in page
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    body_tag = re.search(r"<body[^>]*>", page)
    assert body_tag is not None
    assert "overflow-wrap: anywhere" in body_tag.group(0)
    assert "word-break: break-word" in body_tag.group(0)
