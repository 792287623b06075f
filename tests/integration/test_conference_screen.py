"""The moderator screen's behaviour between keys, on mastodon-mock: the highlight follows a
question's identity whatever other moderators do, a refused answer keeps its text, a long
answer keeps the cursor in sight, question text wraps at spaces, repeats are named."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from prcast import conference
from prcast.cli.live import DOWN, ENTER, Moderator
from prcast.delivery.claims import Lease
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import HOST, JOURNALISTS
from tests.integration.test_conference import ask, define

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def lines(mod: Moderator) -> list[str]:
    return ANSI.sub("", mod.screen(80, 24)).rstrip("\n").split("\n")


def picked(mod: Moderator) -> str:
    [row] = [line for line in lines(mod) if line.startswith(">")]
    return row[2:6].strip()


def opened(conf_ws: Workspace, cli: Invoke, base: str, name: str, texts: list[str]) -> Moderator:
    define(conf_ws, name, datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", name).exit_code == 0
    for n, text in enumerate(texts):
        ask(base, JOURNALISTS[n % 12], f"@{HOST} {text}")
    conf = conference.load(conf_ws, name)
    mod = Moderator(conf_ws, conf, stdout=io.StringIO())
    mod.refresh(poll=True)
    return mod


def test_the_highlight_stays_on_its_question_whatever_others_do(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    texts = [f"question number {n}?" for n in range(6)]
    mod = opened(conf_ws, cli, conference_server, "follow", texts)
    mod.handle(DOWN)
    mod.handle(DOWN)
    assert picked(mod) == "Q3"
    # another moderator skips a question above it, from the command line
    assert cli("conference", "skip", "Q1", "--reason", "off topic", "-c", "follow").exit_code == 0
    mod.refresh(poll=False)
    assert picked(mod) == "Q3" and mod.current and mod.current.qid == "Q3"
    # all/open back and forth
    mod.handle("a")
    assert picked(mod) == "Q3"
    mod.handle("a")
    assert picked(mod) == "Q3"
    # the picked question itself is skipped by the other moderator: it stays picked,
    # marked, and Enter does not open an answer to it
    assert cli("conference", "skip", "Q3", "--reason", "done", "-c", "follow").exit_code == 0
    mod.refresh(poll=False)
    assert picked(mod) == "Q3"
    assert any(line.startswith(">–Q3") for line in lines(mod))
    mod.handle(ENTER)
    assert mod.editor is None and "Q3 is skipped already by" in mod.message
    # moving away lets it go from the open list; the next one is picked
    mod.handle(DOWN)
    assert picked(mod) == "Q4" and "Q3" not in [q.qid for q in mod.questions]
    # a question another screen holds is marked with the moderator and refused
    with Lease(conf_ws.store_path, "conference live") as lease:
        mod.owner = "this screen"
        with conference.Book(conf_ws, mod.conf) as book:
            conference.take(book, "Q4", lease.id, "carol")
        mod.refresh(poll=False)
        assert any(line.startswith(">⧗Q4") and "[carol]" in line for line in lines(mod))
        mod.handle(ENTER)
        assert mod.editor is None and mod.message.startswith("Q4 is taken by carol")
        assert picked(mod) == "Q4"


def test_a_refused_answer_keeps_its_text_and_a_long_one_its_cursor(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    long_word_question = "will " + "supercalifragilistic " * 12 + "happen?"
    mod = opened(conf_ws, cli, conference_server, "edit", [long_word_question])
    screen = lines(mod)
    rule = max(i for i, line in enumerate(screen) if line.startswith("───"))
    detail = screen[rule + 1 : rule + 4]
    assert detail[0].startswith(" Q1 from @")
    # wrapped at spaces: no word is cut at the end of a line
    pieces = [w for line in detail for w in line.split() if "supercal" in w or "fragil" in w]
    assert len(pieces) >= 5 and all(w.rstrip("…") == "supercalifragilistic" for w in pieces)
    mod.handle(ENTER)
    typed = "It will, once Project Falcon ends"
    for ch in typed:
        mod.handle(ch)
    mod.handle(ENTER)  # the policy refuses it
    assert "blocked" in mod.message
    assert mod.editor is not None and mod.editor.text == typed
    for ch in " and then some more words" * 6:
        mod.handle(ch)
    screen = lines(mod)
    [edit_line] = [line for line in screen if line.startswith(" > ")]
    assert edit_line.endswith("█") and len(edit_line) <= 79
    assert edit_line.startswith(" > …")


def test_u_takes_back_a_skip_in_the_screen_and_says_when_there_is_none(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    mod = opened(conf_ws, cli, conference_server, "undo", ["first?", "second?"])
    footer = lines(mod)[-1]
    assert "u unskip" in footer and len(footer) <= 79
    mod.handle("u")
    assert mod.message == "Q1 is open, not skipped"
    mod.handle("s")
    for ch in "off topic":
        mod.handle(ch)
    mod.handle(ENTER)
    assert mod.message == "Q1 skipped"
    mod.handle("a")  # all: the skipped question is listed
    while mod.current and mod.current.qid != "Q1":
        mod.handle("k")
    assert any(line.startswith(">–Q1") for line in lines(mod))
    with (
        Lease(conf_ws.store_path, "conference live") as mine,
        Lease(conf_ws.store_path, "x") as other,
    ):
        mod.owner = mine.id  # as in `conference live`: this screen's lease
        with conference.Book(conf_ws, mod.conf) as book:
            conference.take(book, "Q1", other.id, "carol")
        mod.handle("u")  # another moderator holds it: refused, naming them
        assert mod.message.startswith("Q1 is taken by carol")
        with conference.Book(conf_ws, mod.conf) as book:
            assert book.question("Q1").status == conference.SKIPPED
            conference.let_go(book, "Q1", other.id)
        mod.handle("u")
        assert mod.message == "Q1 is open again"
        with conference.Book(conf_ws, mod.conf) as book:
            assert conference.taken(book) == {}  # the screen let go of it again
        mod.owner = None
    assert any(line.startswith("> Q1") for line in lines(mod))
    with conference.Book(conf_ws, mod.conf) as book:
        assert book.question("Q1").status == conference.OPEN
    # after the close: refused, nothing changes
    mod.handle("s")
    for ch in "asked before":
        mod.handle(ch)
    mod.handle(ENTER)
    assert cli("conference", "close", "-c", "undo").exit_code == 0
    mod.refresh(poll=False)
    mod.handle("u")
    assert "closed" in mod.message
    with conference.Book(conf_ws, mod.conf) as book:
        assert book.question("Q1").status == conference.SKIPPED
