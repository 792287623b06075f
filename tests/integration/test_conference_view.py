"""What people look at: the moderator's screen (`prcast conference live`) driven through a
pseudo-terminal, and the HTML report rendered in headless Chromium (Debian's package)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pexpect
import pytest

from prcast import conference
from prcast.channels.mastodon import plain_text
from prcast.cli.live import Moderator
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import HOST, JOURNALISTS
from tests.integration.test_conference import HASHTAG, ask, define, statuses_of

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def small_conference(conf_ws: Workspace, cli: Invoke, conference_server: str) -> Workspace:
    """A conference opened a minute ago with five questions waiting."""
    name = f"view{os.getpid()}{datetime.now(UTC):%H%M%S%f}"
    define(conf_ws, name, datetime.now(UTC) - timedelta(minutes=1))
    result = cli("conference", "open", "-c", name)
    assert result.exit_code == 0, result.output
    for n in range(5):
        ask(
            conference_server,
            JOURNALISTS[n],
            f"@{HOST} view question {n}: when does it open? #{HASHTAG}",
        )
    return conf_ws


def test_moderator_picks_answers_and_skips_in_a_terminal(
    small_conference: Workspace, conference_server: str
) -> None:
    ws = small_conference
    [name] = conference.names(ws)
    env = {**os.environ, "PRCAST_WORKSPACE": str(ws.root), "TERM": "xterm", "EDITOR": "false"}
    child = pexpect.spawn(
        sys.executable, ["-m", "prcast", "conference", "live", "-c", name, "--every", "2"],
        env=env, dimensions=(24, 80), encoding="utf-8", timeout=180,
    )  # fmt: skip
    try:
        child.expect("open 5")
        child.expect("quit")
        child.send("j")  # pick the second question
        child.expect(r">\s+Q2 ")
        child.send("\r")
        child.expect(r"Answer to Q2 \(@reporter2\) \[\d+/500\]")
        child.send("It opens on 1 December")
        # the count follows the typing: "@reporter2 " plus the text
        child.expect(re.escape(f"[{len('@reporter2 It opens on 1 December')}/500]"))
        child.send(", at nine.\r")
        child.expect("Q2 answered")
        child.expect("open 4")
        child.send("s")
        child.expect("why")
        child.send("asked in Q2 already\r")
        child.expect("skipped")
        child.expect("open 3")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0

    with conference.Book(ws, conference.load(ws, name)) as book:
        q2 = book.question("Q2")
        statuses = {q.qid: q.status for q in book.questions()}
    assert statuses["Q2"] == "answered"
    assert list(statuses.values()).count("skipped") == 1
    replies = [
        s for s in statuses_of(conference_server, HOST) if str(s["in_reply_to_id"]) == q2.remote_id
    ]
    assert [plain_text(r["content"]) for r in replies] == [
        "@reporter2 It opens on 1 December, at nine."
    ]


def test_moderator_screen_fits_80_by_24(
    small_conference: Workspace, conference_server: str
) -> None:
    ws = small_conference
    [name] = conference.names(ws)
    conf = conference.load(ws, name)
    for n in range(25):  # a long queue of long questions
        ask(conference_server, JOURNALISTS[n % 12], f"@{HOST} long question {n}: " + "why? " * 80)
    mod = Moderator(ws, conf)
    mod.refresh(poll=True)
    mod.editor = None
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", mod.screen(80, 24))
    lines = screen.rstrip("\n").split("\n")
    assert len(lines) <= 24
    assert all(len(line) <= 80 for line in lines)
    assert any("Q1" in line for line in lines) and "quit" in lines[-1]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_html_report_renders_in_chromium_with_the_timeline(
    small_conference: Workspace, cli: Invoke, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    ws = small_conference
    [name] = conference.names(ws)
    conf = conference.load(ws, name)
    conference.poll(ws, conf)
    for qid in ("Q1", "Q3", "Q4"):
        assert conference.answer(ws, conf, qid, f"The answer to {qid}.").ok
    assert cli("conference", "close", "-c", name).exit_code == 0
    report_file = tmp_path / "conference.html"
    assert cli("report", "--conference", name, "-f", "html", "-o", str(report_file)).exit_code == 0

    shot = tmp_path / "conference.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(report_file.as_uri())
            timeline = page.locator("svg#timeline")
            assert timeline.is_visible()
            box = timeline.bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 100
            assert page.locator("svg#timeline circle.question").count() == 5
            assert page.locator("svg#timeline rect.answer").count() == 3
            # each marker is drawn where it is, on top: the browser finds it at its own centre
            for marker in page.locator("svg#timeline rect.answer").all():
                b = marker.bounding_box()
                assert b is not None
                found = page.evaluate(
                    "([x, y]) => document.elementFromPoint(x, y).getAttribute('class')",
                    [b["x"] + b["width"] / 2, b["y"] + b["height"] / 2],
                )
                assert found == "answer"
            rows = page.locator("table tbody tr")
            assert rows.count() == 3
            assert "The answer to Q3." in rows.nth(1).inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    width, height = _png_size(shot.read_bytes())
    assert width == 1100 and height >= 900
    assert json.loads(cli("report", "--conference", name, "-f", "json").stdout)["audit_ok"]
