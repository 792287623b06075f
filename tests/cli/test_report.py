"""The report's language (the release's, or --language), its catalogs, its time zone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from prcast import i18n
from prcast.render import shipped_templates_dir
from prcast.workspace import Workspace
from tests.conftest import Invoke

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def report_messages() -> set[str | tuple[str, str]]:
    """Every msgid the report's templates use (as Babel's extractor finds them)."""
    found: set[str | tuple[str, str]] = set()
    for path in sorted((shipped_templates_dir() / "report").glob("*.j2")):
        with open(path, "rb") as f:
            for _line, message, _comments, _context in extract(
                babel_extract, f, keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
                options={"trim_blocks": "true", "lstrip_blocks": "true"},
            ):  # fmt: skip
                found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_report_message_has_a_translation(language: str) -> None:
    messages = report_messages()
    assert len(messages) > 50  # the extractor sees the templates' wording
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / "report.po"
    with open(path, "rb") as f:
        catalog = read_po(f, locale=language, domain="report")
    for message in messages:
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(msgid)
        assert entry is not None and entry.string, f"{language}: no translation of {msgid!r}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for text in strings:
            assert (text and text != msgid) or msgid in ("Status", "embargo"), (language, msgid)
            # the same placeholders, so formatting never fails in another language
            assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(msgid)) | {"num"}
            assert set(PLACEHOLDER.findall(msgid)) - {"num"} <= set(PLACEHOLDER.findall(text))


def german_release(ws: Workspace) -> None:
    (ws.releases_dir / "werkstatt.md").write_text(
        '+++\ntitle = "Reparaturwerkstatt eröffnet"\nlanguage = "de"\n+++\n'
        "Die Werkstatt öffnet am Montag.\n",
        encoding="utf-8",
    )


def test_report_speaks_the_release_language_unless_told_otherwise(
    ws: Workspace, cli: Invoke, tmp_path: Path
) -> None:
    german_release(ws)
    assert cli("send", "werkstatt", "--yes").exit_code == 0
    text = cli("report").stdout
    assert text.startswith("Reparaturwerkstatt eröffnet\nVersandbericht: run-")
    assert "Überblick: 1 erreicht, 1 zugestellt, 0 fehlgeschlagen, 0 ungewiss" in text
    page = tmp_path / "r.html"
    assert cli("report", "-f", "html", "-o", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert '<html lang="de">' in html and "<h1>Reparaturwerkstatt eröffnet</h1>" in html
    assert '<h2 id="summary">Überblick</h2>' in html
    french = cli("report", "-f", "html", "--language", "fr").stdout
    assert '<html lang="fr">' in french and '<h2 id="summary">Synthèse</h2>' in french
    english = cli("report", "-f", "md", "--language", "en").stdout
    assert english.startswith("# Reparaturwerkstatt eröffnet\n") and "## Summary" in english
    assert json.loads(cli("report", "--json").stdout)["language"] == "de"


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's local time zone set to Europe/Berlin."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_human_and_in_the_local_zone(ws: Workspace, cli: Invoke, berlin: None) -> None:
    german_release(ws)
    assert cli("send", "werkstatt", "--yes").exit_code == 0
    data = json.loads(cli("report", "--json").stdout)
    [row] = data["deliveries"]
    sent = datetime.fromisoformat(row["finished_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert sent.utcoffset() is not None and sent.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    text = cli("report").stdout
    assert "Zeiten in CET" in text
    # "23.11.2026, 23:39:31": Babel's German medium format, in Berlin's time, no raw ISO
    assert f"{sent:%d.%m.%Y, %H:%M:%S}" in text
    assert "T" + row["finished_at"][11:19] not in text
    rows = cli("report", "-f", "csv").stdout.splitlines()
    assert rows[1].split(",")[6] == sent.isoformat(timespec="seconds")


def test_a_run_id_and_a_release_together_are_refused(ws: Workspace, cli: Invoke) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    both = cli("report", "run-000000000000", "--release", "example")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert cli("report", "--release", "example", "-f", "csv").exit_code == 0


def test_an_unknown_language_is_refused_with_a_clear_message(ws: Workspace, cli: Invoke) -> None:
    assert cli("send", "example", "--yes").exit_code == 0
    bad = cli("report", "--language", "klingon")
    assert bad.exit_code == 2 and '--language "klingon" is not a language' in bad.stderr
    assert "Traceback" not in bad.output
    assert cli("report", "--language", "de-AT").exit_code == 0
