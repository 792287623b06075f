"""The press room (the outbox channel's static site): pages with permalinks, Markdown rendered
safely, language versions, corrections, the Atom feed, and its wording in German and French."""

from __future__ import annotations

import asyncio
import json
import re
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from prcast.channels.base import Post
from prcast.channels.outbox import OutboxChannel
from prcast.config import OutboxConfig
from prcast.errors import InputError
from prcast.release import Media
from prcast.render import shipped_templates_dir
from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries

LOCALE = Path(__file__).resolve().parents[2] / "prcast" / "locale"


def png(width: int, height: int) -> bytes:
    """A real PNG image (a sky over a workbench), which a browser shows."""
    rows = []
    for y in range(height):
        if y < height * 2 // 3:  # sky: light to deeper blue
            t = y / (height * 2 // 3)
            rgb = (int(170 - 90 * t), int(205 - 70 * t), int(235 - 40 * t))
        else:  # the bench
            rgb = (120, 80, 45) if y % 12 else (90, 60, 35)
        rows.append(b"\x00" + bytes(rgb) * width)
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))  # fmt: skip


GERMAN = """+++
title = "Grünwerk eröffnet Reparaturwerkstatt in Leipzig"
summary = "Vierzig neue Stellen und kostenlose Reparaturen für Schul-Laptops."
language = "de"
hashtags = ["Reparatur", "Leipzig"]
contact = { name = "Claudia Weiß", email = "presse@gruenwerk.example", phone = "+49 341 000000" }
[[media]]
path = "werkstatt.png"
alt = "Zwei Techniker reparieren einen Laptop an einer Werkbank"
+++
# Grünwerk eröffnet Reparaturwerkstatt in Leipzig

Grünwerk eröffnet heute eine **Reparaturwerkstatt** in Leipzig.

## Was sich ändert

Ab dem 1. Dezember reparieren wir Laptops von Schulen *kostenlos*. Mehr unter
https://gruenwerk.example/werkstatt und im [Faktenblatt](https://gruenwerk.example/fakten).
"""
#: what a release may hold that must reach the page as text, never as HTML
UNSAFE = """
<script>alert("x")</script> <b>kein HTML</b> [klick](javascript:alert(1))
"""

FRENCH = """+++
title = "Grünwerk ouvre un atelier de réparation à Leipzig"
summary = "Quarante emplois et des réparations gratuites pour les ordinateurs des écoles."
language = "fr"
translation_of = "grunwerk"
contact = { name = "Claudia Weiß", email = "presse@gruenwerk.example" }
[[media]]
path = "werkstatt.png"
alt = "Deux techniciens réparent un ordinateur portable sur un établi"
+++
Grünwerk ouvre aujourd'hui un **atelier de réparation** à Leipzig.

À partir du 1er décembre, les écoles de la région font réparer leurs ordinateurs
portables *gratuitement*.
"""


def write_releases(ws: Workspace, extra: str = "") -> None:
    (ws.releases_dir / "werkstatt.png").write_bytes(png(320, 200))
    (ws.releases_dir / "grunwerk.md").write_text(GERMAN + extra, encoding="utf-8")
    (ws.releases_dir / "grunwerk-fr.md").write_text(FRENCH, encoding="utf-8")


def entry_of(ws: Workspace, release: str) -> dict[str, object]:
    for path in outbox_entries(ws):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["release"] == release:
            return dict(data)
    raise AssertionError(f"no entry for {release}")


def page_of(ws: Workspace, release: str) -> str:
    return (ws.root / "outbox" / str(entry_of(ws, release)["path"])).read_text(encoding="utf-8")


def main_of(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


@pytest.fixture
def room(ws: Workspace, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A press room with a German release and its French translation, both sent."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    write_releases(ws, UNSAFE)
    for name in ("grunwerk", "grunwerk-fr"):
        result = cli("send", name, "--yes")
        assert result.exit_code == 0, result.output
    return ws


def test_each_release_gets_a_page_whose_permalink_stays_across_rebuilds_and_sends(
    room: Workspace, cli: Invoke
) -> None:
    ws = room
    entry = entry_of(ws, "grunwerk")
    path = str(entry["path"])
    assert re.fullmatch(
        r"releases/\d{4}-\d\d-\d\d-gruenwerk-eroeffnet-reparaturwerkstatt-in-leipzig\.html", path
    )
    assert entry["url"] == f"https://press.example.org/{path}"
    first = main_of((ws.root / "outbox" / path).read_text(encoding="utf-8"))
    # another release and a rebuild leave the page where it was, and the index links it
    assert cli("send", "example", "--yes").exit_code == 0
    OutboxChannel(ws.config.channels["press-room"], ws.root, ws.templates_dir).rebuild()  # type: ignore[arg-type]
    assert entry_of(ws, "grunwerk")["path"] == path
    # the same page (the footer's audit checkpoint moves on with each run)
    assert main_of((ws.root / "outbox" / path).read_text(encoding="utf-8")) == first
    index = (ws.root / "outbox" / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<h2><a href="([^"]+)"', index)
    assert len(links) == 3 and links[-1] == path  # newest first: the German release was first
    assert f'id="{entry["id"]}"' in index  # a link to index.html#KEY (older receipts) still lands


def test_markdown_is_rendered_with_the_title_once_and_user_html_escaped(room: Workspace) -> None:
    html = page_of(room, "grunwerk")
    main = main_of(html)
    assert main.count("<h1>") == 1
    assert "<h1>Grünwerk eröffnet Reparaturwerkstatt in Leipzig</h1>" in main
    assert "<h2>Was sich ändert</h2>" in main  # the body's headings sit below the title
    assert "<strong>Reparaturwerkstatt</strong>" in main and "<em>kostenlos</em>" in main
    assert '<a href="https://gruenwerk.example/werkstatt" rel="noopener">' in main
    assert '<a href="https://gruenwerk.example/fakten" rel="noopener">Faktenblatt</a>' in main
    assert "<script>" not in html and "<b>kein" not in main
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in main
    assert "javascript:" not in main.replace("[klick](javascript:alert(1))", "")
    text = re.sub(r"<[^>]+>", "", main)
    assert "**" not in text and not re.search(r"(^|\n)\s*#", text)
    assert '<p class="summary"><strong>Vierzig neue Stellen' in main


def test_the_page_speaks_the_release_language_with_dates_contact_and_images(
    room: Workspace,
) -> None:
    html = page_of(room, "grunwerk")
    assert html.startswith('<!doctype html>\n<html lang="de">')
    assert "Veröffentlicht am" in html and "Pressekontakt" in html and "Herunterladen" in html
    published = datetime.fromisoformat(
        str(entry_of(room, "grunwerk")["published"]).replace("Z", "+00:00")
    )
    assert published.tzinfo is not None
    month = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember"][published.month - 1]  # fmt: skip
    assert re.search(rf"\d{{1,2}}\. {month} \d{{4}}, \d\d:\d\d Uhr (MEZ|MESZ)</time>", html)
    assert 'href="mailto:presse@gruenwerk.example"' in html and 'href="tel:+49341000000"' in html
    [img] = re.findall(r"<img [^>]+>", html)
    assert 'alt="Zwei Techniker reparieren einen Laptop an einer Werkbank"' in img
    src = re.search(r'src="\.\./(media/[^"]+\.png)"', img)
    assert src and (room.root / "outbox" / src.group(1)).read_bytes() == png(320, 200)
    assert re.search(
        rf'<a class="download" href="\.\./{src.group(1)}" download="werkstatt.png">', html
    )
    french = page_of(room, "grunwerk-fr")
    assert french.startswith('<!doctype html>\n<html lang="fr">')
    assert "Publié le" in french and "Contact presse" in french


def test_language_versions_link_each_other_with_hreflang(room: Workspace) -> None:
    de, fr = entry_of(room, "grunwerk"), entry_of(room, "grunwerk-fr")
    german, french = page_of(room, "grunwerk"), page_of(room, "grunwerk-fr")
    assert f'<link rel="alternate" hreflang="fr" href="{fr["url"]}">' in german
    assert f'<link rel="alternate" hreflang="de" href="{de["url"]}">' in german
    assert f'<link rel="alternate" hreflang="de" href="{de["url"]}">' in french
    assert f'href="../{fr["path"]}" hreflang="fr" lang="fr">Français</a>' in german
    assert f'href="../{de["path"]}" hreflang="de" lang="de">Deutsch</a>' in french


def test_feed_carries_html_content_and_image_enclosures(room: Workspace) -> None:
    feed = feedparser.parse((room.root / "outbox" / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    by_title = {e.title: e for e in feed.entries}
    entry = by_title["Grünwerk eröffnet Reparaturwerkstatt in Leipzig"]
    content = entry.content[0]
    assert content.type == "text/html"
    assert "<strong>Reparaturwerkstatt</strong>" in content.value
    assert "**" not in content.value and "&lt;script&gt;" in content.value
    assert "Pressekontakt" in content.value
    [enclosure] = [link for link in entry.links if link.rel == "enclosure"]
    assert enclosure.type == "image/png"
    assert int(enclosure.length) == len(png(320, 200))
    assert enclosure.href.startswith("https://press.example.org/media/")
    assert entry.link == entry_of(room, "grunwerk")["url"]


def test_a_new_edition_is_shown_as_a_correction_on_the_same_page(
    room: Workspace, cli: Invoke
) -> None:
    before = entry_of(room, "grunwerk")
    release = room.releases_dir / "grunwerk.md"
    release.write_text(GERMAN.replace("1. Dezember", "2. Dezember") + UNSAFE, encoding="utf-8")
    result = cli("send", "grunwerk", "--yes", "--new-edition", "--reason", "Falsches Datum")
    assert result.exit_code == 0, result.output
    pages = sorted((room.root / "outbox" / "releases").glob("*.html"))
    assert len(pages) == 2  # the German page and the French one: no second German page
    html = (room.root / "outbox" / str(before["path"])).read_text(encoding="utf-8")
    assert re.search(r"Korrektur:</strong> Korrigiert am [^<]+: Falsches Datum</p>", html)
    # the page says the corrected text; the earlier one stays readable, folded away
    body = html[html.index('<div class="body">') :]
    assert "Ab dem 2. Dezember" in body and "Ab dem 1. Dezember" not in body
    folded = html[html.index("<details>") : html.index("</details>")]
    assert "Der Text vor dieser Korrektur" in folded and "Ab dem 1. Dezember" in folded
    feed = feedparser.parse((room.root / "outbox" / "feed.xml").read_bytes())
    assert len(feed.entries) == 2
    [entry] = [e for e in feed.entries if e.title.startswith("Grünwerk eröffnet")]
    assert "Falsches Datum" in entry.content[0].value and "2. Dezember" in entry.content[0].value


def test_embargo_date_is_written_for_the_reader_in_the_workspace_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    image = tmp_path / "pic.png"
    image.write_bytes(png(4, 4))
    room = OutboxChannel(OutboxConfig(name="room"), tmp_path)
    post = Post(channel="room", release_id="r", title="Titel", text="# Titel\n\nText.",
                language="de", media=(Media(image, "Ein Bild"),),
                embargo=datetime(2099, 12, 1, 8, 30, tzinfo=UTC))  # fmt: skip
    receipt = asyncio.run(room.publish(post, "d" * 32))
    asyncio.run(room.close())
    html = (
        tmp_path / "outbox" / receipt.url.removeprefix("https://press.example.org/")
    ).read_text()  # type: ignore[union-attr]
    assert "Sperrfrist bis" in html and "1. Dezember 2099, 09:30 Uhr MEZ</time>" in html
    shown = re.sub(r"<[^>]+>", "", html)
    assert "08:30" not in shown and "2099-12-01" not in shown


def _template_messages() -> set[str]:
    found = set()
    for template in (shipped_templates_dir() / "pressroom").glob("*.j2"):
        with template.open("rb") as fh:
            for _line, _func, message, _comments in babel_extract(
                fh, ("_", "gettext", "ngettext"), [], {}
            ):
                found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_press_room_message_has_a_translation(language: str) -> None:
    messages = _template_messages()
    assert {"Press contact", "Download", "Published", "Embargoed until", "Correction"} <= messages
    with (LOCALE / language / "LC_MESSAGES" / "pressroom.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    missing = []
    for msgid in sorted(messages):
        message = catalog.get(msgid)
        strings = message.string if message else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(msgid)
    assert missing == []


def test_a_workspace_template_overrides_the_press_room_and_a_broken_one_names_its_line(
    ws: Workspace, cli: Invoke
) -> None:
    override = ws.templates_dir / "pressroom" / "index.html.j2"
    override.parent.mkdir(parents=True)
    override.write_text(
        '{% extends "pressroom/base.html.j2" %}{% block main %}<h1>Unser Pressebereich</h1>'
        "{% for p in pages %}<a href='{{ p.href }}'>{{ p.title }}</a>{% endfor %}{% endblock %}",
        encoding="utf-8",
    )
    assert cli("send", "example", "--yes").exit_code == 0
    index = (ws.root / "outbox" / "index.html").read_text(encoding="utf-8")
    assert "<h1>Unser Pressebereich</h1>" in index and "repair workshop in Leipzig</a>" in index
    override.write_text("line one\n{% for p in pages %}\nno end\n", encoding="utf-8")
    with pytest.raises(InputError) as info:  # when the channel opens, before any publishing
        room = OutboxChannel(ws.config.channels["press-room"], ws.root, ws.templates_dir)  # type: ignore[arg-type]
        room.rebuild()
    assert info.value.path == override and info.value.line == 3


def test_translation_of_must_name_a_release(ws: Workspace, cli: Invoke) -> None:
    bad = ws.releases_dir / "bad.md"
    bad.write_text('+++\ntitle = "T"\ntranslation_of = 42\n+++\nText.\n', encoding="utf-8")
    result = cli("send", "bad", "--yes")
    assert result.exit_code == 2
    assert 'bad.md:3: field "translation_of" must name the release this one translates' in (
        result.output
    )
    assert "Traceback" not in result.output and outbox_entries(ws) == []
