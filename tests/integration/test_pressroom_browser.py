"""The press room as journalists see it: Debian's chromium (through Playwright) opens the index
and the release pages at a phone's width and a laptop's, with full-page screenshots.

PRCAST_SCREENSHOTS=docs writes the screenshots the README shows (docs/pressroom-*.png)."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.unit.test_pressroom import entry_of, write_releases

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = (375, 1280)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def room(ws: Workspace, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The example release, a German release and its French translation, all sent."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    write_releases(ws)
    for name in ("example", "grunwerk", "grunwerk-fr"):
        result = cli("send", name, "--yes")
        assert result.exit_code == 0, result.output
    return ws


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            yield chromium
        finally:
            chromium.close()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _shot_dir(tmp_path: Path) -> Path:
    wanted = os.environ.get("PRCAST_SCREENSHOTS")
    return (REPO / wanted) if wanted else tmp_path


def _no_overflow(page: Any) -> None:
    scroll, inner = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )  # fmt: skip
    assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"


def _no_markdown_left(page: Any) -> None:
    text = page.locator("main").inner_text()
    assert "**" not in text
    assert not any(line.lstrip().startswith("#") for line in text.splitlines()), text


def test_release_pages_render_in_chromium_in_their_language_at_phone_and_laptop_width(
    room: Workspace, browser: Any, tmp_path: Path
) -> None:
    shots = _shot_dir(tmp_path)
    outbox = room.root / "outbox"
    cases = {
        "grunwerk": ("de", "Grünwerk eröffnet Reparaturwerkstatt in Leipzig",
                     "Zwei Techniker reparieren einen Laptop an einer Werkbank", "Pressekontakt"),
        "grunwerk-fr": ("fr", "Grünwerk ouvre un atelier de réparation à Leipzig",
                        "Deux techniciens réparent un ordinateur portable sur un établi",
                        "Contact presse"),
    }  # fmt: skip
    for release, (lang, title, alt, contact) in cases.items():
        url = (outbox / str(entry_of(room, release)["path"])).as_uri()
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 800})
            try:
                page.goto(url)
                assert page.evaluate("document.documentElement.lang") == lang
                assert page.locator("h1").count() == 1
                assert page.locator("h1").inner_text() == title
                image = page.get_by_alt_text(alt)
                assert image.count() == 1 and image.is_visible()
                # the file is there and the browser decoded it
                assert image.evaluate("img => img.complete && img.naturalWidth") == 320
                box = image.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
                assert page.get_by_role("heading", name=contact).is_visible()
                assert page.locator("a.download").get_attribute("download") == "werkstatt.png"
                other = "fr" if lang == "de" else "de"
                assert page.locator(f'link[rel="alternate"][hreflang="{other}"]').count() == 1
                assert page.locator(f'nav.translations a[hreflang="{other}"]').is_visible()
                _no_markdown_left(page)
                _no_overflow(page)
                if release == "grunwerk":
                    strong = page.locator("main strong", has_text="Reparaturwerkstatt")
                    assert strong.count() == 1
                    link = page.get_by_role("link", name="Faktenblatt")
                    assert link.get_attribute("rel") == "noopener"
                    shot = shots / f"pressroom-release{'' if width == 1280 else '-phone'}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    shot_width, shot_height = _png_size(shot.read_bytes())
                    assert shot_width == width and shot_height >= 800
            finally:
                page.close()


def test_index_lists_every_release_newest_first_without_overflow(
    room: Workspace, browser: Any, tmp_path: Path
) -> None:
    shots = _shot_dir(tmp_path)
    index = room.root / "outbox" / "index.html"
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 800})
        try:
            page.goto(index.as_uri())
            assert page.locator("h1").inner_text() == "Example Corp press room"
            titles = page.locator("ol.releases h2").all_inner_texts()
            assert titles == [
                "Grünwerk ouvre un atelier de réparation à Leipzig",
                "Grünwerk eröffnet Reparaturwerkstatt in Leipzig",
                "Example Corp opens its new repair workshop in Leipzig",
            ]
            langs = page.locator("ol.releases article").evaluate_all(
                "items => items.map(a => a.lang)"
            )
            assert langs == ["fr", "de", "en"]
            thumb = page.get_by_alt_text("Zwei Techniker reparieren einen Laptop an einer Werkbank")
            assert thumb.evaluate("img => img.complete && img.naturalWidth") == 320
            _no_markdown_left(page)
            _no_overflow(page)
            # each title leads to its release page
            page.get_by_role("link", name="Grünwerk eröffnet Reparaturwerkstatt in Leipzig").click()
            assert page.evaluate("document.documentElement.lang") == "de"
            page.go_back()
            if width == 1280:
                shot = shots / "pressroom-index.png"
                page.screenshot(path=str(shot), full_page=True)
                assert _png_size(shot.read_bytes())[0] == width
        finally:
            page.close()
