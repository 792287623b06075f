"""The HTML report in a real browser (Playwright + Debian's chromium): a German release's
report, headed by its title, laid out without horizontal overflow on a phone and a laptop."""

from __future__ import annotations

import csv
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import Mailbox
from tests.integration.test_email import mail_channel, press_list
from tests.integration.test_report import REFUSED

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TITLE = "Reparaturwerkstatt in Leipzig eröffnet"
#: an address far wider than a phone's screen, refused by the server (a long error, too)
LONG = ("redaktion-wirtschaft-und-technik-ressort-digitales-leben@"
        "newsroom.verlagsgruppe-regionale-wirtschaftsnachrichten.mitteldeutschland-digital.example")  # fmt: skip


def german_release(ws: Workspace, embargo: datetime) -> None:
    from tests.integration.conftest import tiny_png

    tiny_png(ws.releases_dir / "werkstatt.png")
    (ws.releases_dir / "werkstatt.md").write_text(
        "+++\n"
        f'title = "{TITLE}"\n'
        'language = "de"\n'
        'channels = ["press-room", "press-mail"]\n'
        'audience = ["tech-press", "business-press"]\n'
        f"embargo = {embargo.isoformat()}\n"
        "[[media]]\n"
        'path = "werkstatt.png"\n'
        'alt = "Zwei Techniker reparieren einen Laptop"\n'
        "+++\n"
        "Die neue Reparaturwerkstatt in Leipzig öffnet am Montag. Wir reparieren Laptops, "
        "Telefone und Fahrräder.\n",
        encoding="utf-8",
    )


def sent_german_run(ws: Workspace, cli: Invoke, mailbox: Mailbox) -> None:
    """A German release mailed to 20 journalists (4 refused, one with a very long address)
    and published in the press room, 30 seconds before its embargo, on purpose."""
    press_list(ws, n=20)
    with open(ws.lists_dir / "contacts.csv", "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(["Lange Adresse", LONG, "", "Verlag", "tech", "de", "", ""])
    mail_channel(ws, mailbox)
    german_release(ws, (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0))
    mailbox.refuse.update({*REFUSED, LONG})
    result = cli("send", "werkstatt", "--yes", "--break-embargo", "--reason", "Pressekonferenz vorgezogen")  # fmt: skip
    assert result.exit_code == 1, result.output


def open_browser(p: object) -> object:
    return p.chromium.launch(  # type: ignore[attr-defined]
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run"],
    )  # fmt: skip


def test_html_report_renders_in_chromium_without_overflow(
    ws: Workspace, cli: Invoke, mailbox: Mailbox, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    sent_german_run(ws, cli, mailbox)
    page_file = tmp_path / "report.html"
    assert cli("report", "--format", "html", "-o", str(page_file)).exit_code == 0
    shots = {}
    with sync_playwright() as p:
        browser = open_browser(p)
        try:
            for width in (1280, 375):
                page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
                page.goto(page_file.as_uri())
                assert page.locator("html").get_attribute("lang") == "de"
                [heading] = page.locator("h1").all()
                assert heading.inner_text() == TITLE
                assert page.locator("h2").first.inner_text() == "Überblick"
                # the summary figures come first, in German
                figures = page.locator("ul.figures li").all_inner_texts()
                assert [f.split()[-1] for f in figures] == ["erreicht", "zugestellt",
                                                           "fehlgeschlagen", "ungewiss"]  # fmt: skip
                assert [int(f.split()[0]) for f in figures][2] == 4
                overflow = page.evaluate(
                    "() => [document.documentElement.scrollWidth, window.innerWidth]"
                )
                assert overflow[0] <= overflow[1], (width, overflow)
                # every element lies inside the page's width (long errors wrap)
                wider = page.evaluate(
                    "() => [...document.querySelectorAll('body *')].filter(e => "
                    "e.getBoundingClientRect().right > window.innerWidth + 1).length"
                )
                assert wider == 0, width
                timeline = page.locator("svg#timeline")
                assert timeline.is_visible()
                box = timeline.bounding_box()
                assert box is not None and box["width"] >= width * 0.8
                assert (
                    page.locator("svg#timeline circle").count() == 21 + 1
                )  # every attempt: 21 emails, 1 press room post
                assert page.locator("svg#timeline circle.failed").count() == 4  # 4 refused, and
                assert page.locator("svg#timeline line.embargo").count() == 1  # the embargo
                assert page.locator("svg#timeline line.start").count() == 1
                # drawn where they happened: every attempt within the run, the embargo after it
                xs = page.evaluate(
                    "() => Object.fromEntries(['start', 'end', 'embargo'].map(k => "
                    "[k, +document.querySelector('svg#timeline line.' + k).getAttribute('x1')]))"
                )
                dots = page.evaluate(
                    "() => [...document.querySelectorAll('svg#timeline circle')].map(c => +c.getAttribute('cx'))"
                )
                assert all(xs["start"] - 1 <= x <= xs["end"] + 1 for x in dots)
                assert xs["embargo"] > xs["end"] + 100
                # one line for the refused recipients, their addresses folded away
                errors = page.locator("ul.errors > li")
                assert errors.count() == 1 and errors.first.inner_text().startswith("×4")
                assert not page.locator("ul.errors details li").first.is_visible()
                shot = tmp_path / f"report-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                shots[width] = shot
                page.close()
        finally:
            browser.close()  # type: ignore[attr-defined]
    for width, shot in shots.items():
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(data[16:20], "big") == width
        assert int.from_bytes(data[20:24], "big") > 900  # the full page, not the viewport
    if os.environ.get("PRCAST_DOCS_SCREENSHOT"):  # refresh README's picture: docs/report.png
        shutil.copy(shots[1280], os.environ["PRCAST_DOCS_SCREENSHOT"])
