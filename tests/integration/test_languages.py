"""German and French releases end to end: `prcast send` to a real SMTP server (aiosmtpd),
each message parsed with the email package; prcast's own wording in the reader's language,
in both parts, and no internal group name anywhere."""

from __future__ import annotations

import csv
import html
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import Mailbox, add_channel, email_channel

#: a group name that is internal (a desk's shorthand): it must never reach a journalist
GROUP = "tech-presse-intern"
FROM_ADDRESS = "presse@gruenwerk.example"


def workspace(ws: Workspace, box: Mailbox, people: list[tuple[str, str, str]]) -> None:
    """An email channel sending under embargo with notice, and one group of `people`
    (name, email, language)."""
    add_channel(
        ws,
        email_channel(
            box.port,
            from_address=f"Grünwerk Presse <{FROM_ADDRESS}>",
            unsubscribe_url="https://presse.gruenwerk.example/abmelden?email={email}",
            embargo_notice=True,
        ),
    )
    with open(ws.lists_dir / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "beat", "language"])
        w.writerows([name, email, "tech", language] for name, email, language in people)
    (ws.lists_dir / "groups.toml").write_text(
        f'[groups.{GROUP}]\ndescription = "Technik-Presse"\nwhere = {{ beat = "tech" }}\n',
        encoding="utf-8",
    )


def write_release(ws: Workspace, language: str, title: str, body: str) -> Path:
    path = ws.releases_dir / f"{language}.md"
    path.write_text(
        "+++\n"
        f'title = "{title}"\n'
        f'language = "{language}"\n'
        "embargo = 2030-12-01T09:30:00+01:00\n"
        'channels = ["press-mail"]\n'
        f'audience = ["{GROUP}"]\n'
        'links = [{ url = "https://presse.gruenwerk.example/werkstatt", title = "Fotos" }]\n'
        'contact = { name = "Jana Beispiel", email = "presse@gruenwerk.example", phone = "+49 341 000000" }\n'
        f"+++\n{body}\n",
        encoding="utf-8",
    )
    return path


def received(box: Mailbox) -> dict[str, tuple[EmailMessage, str, str]]:
    """Each recipient's message with its plain text and the visible text of its HTML part."""
    out = {}
    for address, [data] in box.by_recipient().items():
        msg = message_from_bytes(data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
        assert text_part is not None and html_part is not None
        page = html_part.get_content()
        body = re.search(r"<body[^>]*>(.*)</body>", page, re.S)
        assert body is not None
        # ASCII white space only: French wording keeps its no-break spaces
        shown = re.sub(r"[ \t\r\n]+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body.group(1))))
        out[address] = (msg, text_part.get_content(), shown)
        assert f'<html lang="{msg["Content-Language"]}">' in page
    return out


GERMAN_BODY = "Grünwerk eröffnet in Leipzig eine Werkstatt mit vierzig neuen Stellen."
FRENCH_BODY = "Grünwerk ouvre à Leipzig un atelier avec quarante nouveaux emplois."


def test_a_german_release_reaches_journalists_worded_in_german(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    workspace(ws, mailbox, [("Claudia Weiß", "weiss@zeitung.example", ""),
                            ("Jörg Müller", "mueller@radio.example", "de-AT")])  # fmt: skip
    write_release(ws, "de", "Grünwerk eröffnet Reparaturwerkstatt", GERMAN_BODY)
    result = cli("send", "de", "--yes")
    assert result.exit_code == 0, result.output
    mails = received(mailbox)
    assert set(mails) == {"weiss@zeitung.example", "mueller@radio.example"}
    msg, text, shown = mails["weiss@zeitung.example"]
    assert msg["Subject"] == (
        "SPERRFRIST: 1. Dezember 2030, 09:30 Uhr MEZ – Grünwerk eröffnet Reparaturwerkstatt"
    )
    assert msg["Content-Language"] == "de"
    wording = [
        "SPERRFRIST: 1. Dezember 2030, 09:30 Uhr MEZ",
        "Guten Tag Claudia Weiß,",
        GERMAN_BODY,
        "Fotos: https://presse.gruenwerk.example/werkstatt",
        "Pressekontakt: Jana Beispiel, presse@gruenwerk.example, +49 341 000000",
        "Sie erhalten diese Nachricht, weil Sie in unserem Presseverteiler stehen.",
        "Abmelden: https://presse.gruenwerk.example/abmelden?email=weiss%40zeitung.example",
    ]
    for part in (text, shown):
        assert [w for w in wording if w not in part] == []
        for english in (
            "Dear",
            "Hello",
            "EMBARGOED",
            "Press contact",
            "You receive",
            "unsubscribe",
        ):
            assert english not in part
    assert text.startswith("SPERRFRIST: 1. Dezember 2030, 09:30 Uhr MEZ\n\nGuten Tag Claudia Weiß,")
    assert "Guten Tag Jörg Müller," in mails["mueller@radio.example"][1]
    for address, data in mailbox.messages:
        raw = message_from_bytes(data, policy=policy.default)
        decoded = " ".join(
            [str(v) for _, v in raw.items()]
            + [p.get_content() for p in raw.walk() if p.get_content_maintype() == "text"]
        )
        assert GROUP not in decoded and "Technik-Presse" not in decoded, address


def test_a_french_release_reaches_journalists_worded_in_french(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    workspace(ws, mailbox, [("Léa Martin", "lea@journal.example", "")])
    write_release(ws, "fr", "Grünwerk ouvre un atelier de réparation", FRENCH_BODY)
    result = cli("send", "fr", "--yes")
    assert result.exit_code == 0, result.output
    msg, text, shown = received(mailbox)["lea@journal.example"]
    assert msg["Subject"] == (
        "SOUS EMBARGO JUSQU’AU 1 décembre 2030 à 09:30 UTC+1 – Grünwerk ouvre un atelier de réparation"
    )
    assert msg["Content-Language"] == "fr"
    wording = [
        "SOUS EMBARGO JUSQU’AU 1 décembre 2030 à 09:30 UTC+1",
        "Bonjour Léa Martin,",
        FRENCH_BODY,
        "Fotos\u00a0: https://presse.gruenwerk.example/werkstatt",
        "Contact presse\u00a0: Jana Beispiel, presse@gruenwerk.example, +49 341 000000",
        "Vous recevez ce message parce que vous figurez sur notre liste presse.",
        "Pour vous désinscrire\u00a0: https://presse.gruenwerk.example/abmelden?email=lea%40journal.example",
    ]
    for part in (text, shown):
        assert [w for w in wording if w not in part] == []
        assert GROUP not in part
        for english in ("Dear", "Hello", "EMBARGOED", "Press contact", "You receive"):
            assert english not in part


def test_a_french_reader_of_a_german_release_gets_french_wording_and_the_german_text(
    ws: Workspace, cli: Invoke, mailbox: Mailbox
) -> None:
    workspace(ws, mailbox, [("Claudia Weiß", "weiss@zeitung.example", ""),
                            ("Léa Martin", "lea@journal.example", "fr")])  # fmt: skip
    write_release(ws, "de", "Grünwerk eröffnet Reparaturwerkstatt", GERMAN_BODY)
    assert cli("send", "de", "--yes").exit_code == 0
    mails = received(mailbox)
    msg, text, shown = mails["lea@journal.example"]
    assert msg["Subject"] == (
        "SOUS EMBARGO JUSQU’AU 1 décembre 2030 à 09:30 UTC+1 – Grünwerk eröffnet Reparaturwerkstatt"
    )
    for part in (text, shown):
        assert "Bonjour Léa Martin," in part
        assert GERMAN_BODY in part  # the release as written, not translated
        assert "Contact presse\u00a0: Jana Beispiel" in part
        assert "Pressekontakt" not in part and "Guten Tag" not in part
    assert "Guten Tag Claudia Weiß," in mails["weiss@zeitung.example"][1]
