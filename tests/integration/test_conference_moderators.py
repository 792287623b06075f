"""Two moderators at once: two `prcast conference live` screens (two processes, each in a
pseudo-terminal of 80x24) answer and skip the same 30 questions as fast as they can, on
mastodon-mock. Each question is answered at most once, never by the moderator who was
refused it, and both screens end up showing the same counts."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pexpect
import pytest

from prcast import conference
from prcast.channels.mastodon import plain_text
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import HOST, JOURNALISTS, PersonalDataServer, unique
from tests.integration.test_conference import ask, define, newest_id, open_and_ask, statuses_of
from tests.integration.test_conference_bluesky import login, open_sky_conference, poll_until, post

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
QUESTIONS = int(os.environ.get("PRCAST_TEST_QUESTIONS", "30"))


class Screen:
    """One moderator's screen in a pty: keys in, the last whole frame out."""

    def __init__(self, ws: Workspace, name: str, moderator: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        env.update({"PRCAST_WORKSPACE": str(ws.root), "TERM": "xterm", "EDITOR": "false",
                    "PRCAST_MODERATOR": moderator})  # fmt: skip
        self.moderator = moderator
        self.child = pexpect.spawn(
            sys.executable, ["-m", "prcast", "conference", "live", "-c", name, "--every", "600"],
            env=env, dimensions=(24, 80), encoding="utf-8", timeout=180,
        )  # fmt: skip
        self.buffer = ""
        self.widest = 0

    def frame(self, quiet: float = 0.25) -> str:
        """The last frame drawn once the screen has been quiet for `quiet` seconds."""
        while True:
            try:
                self.buffer += self.child.read_nonblocking(65536, timeout=quiet)
            except pexpect.TIMEOUT:
                break
        last = self.buffer.rsplit("\x1b[H\x1b[2J", 1)[-1]
        self.buffer = "\x1b[H\x1b[2J" + last
        text = ANSI.sub("", last).replace("\r", "")
        self.widest = max([self.widest, *(len(line) for line in text.split("\n"))])
        return text

    def settled(self, deadline: float) -> str:
        """A frame that is not waiting for a post to go out."""
        while True:
            f = self.frame()
            if "posting the answer" not in f or time.monotonic() > deadline:
                return f


def counts(frame: str) -> str:
    found = re.search(r"open \d+\s+answered \d+\s+skipped \d+", frame)
    return found.group(0) if found else ""


EDITOR = re.compile(r"^ (Answer to|Skip) (Q\d+)", re.M)


def until(screen: Screen, done: Callable[[str], object], seconds: float) -> str:
    """Frames until one satisfies `done` (a key is handled a moment after it is sent, later
    when the machine is busy), or the last one after `seconds`."""
    end = time.monotonic() + seconds
    while True:
        f = screen.settled(end)
        if done(f) or time.monotonic() > end:
            return f


def moderate(screen: Screen, log: list[tuple[str, str, str]], errors: list[str]) -> None:
    """Answer (alice) or answer and skip (bob: every third question) whatever is picked;
    on a question another moderator has, move on."""
    who = screen.moderator
    deadline = time.monotonic() + float(os.environ.get("PRCAST_TEST_PATIENCE", "300"))
    f = ""
    last_move = "j"

    def finish(f: str) -> None:
        """The editor is open on a question: type this moderator's text, wait for the outcome."""
        found = EDITOR.search(f)
        assert found
        skip, qid = found.group(1) == "Skip", found.group(2)
        screen.child.send(f"{who} {'skips' if skip else 'answers'} {qid}\r")
        outcome = re.compile(rf"^ ({qid} (answered|skipped|is .*|was .*|has .*))$", re.M)
        f = until(screen, outcome.search, 180)
        message = outcome.search(f)
        log.append((who, qid, message.group(1) if message else f"no outcome:\n{f}"))
        if message and message.group(2) not in ("answered", "skipped"):
            screen.child.send("\x1b")  # refused: the text stays in the editor; leave it

    try:
        while time.monotonic() < deadline:
            f = screen.settled(deadline)
            if EDITOR.search(f):  # a key handled late opened it
                finish(f)
                continue
            if counts(f).startswith("open 0 "):
                return
            picked = re.search(r"^>(.)(Q\d+) ", f, re.M)
            if not picked:
                screen.child.send("j")
                continue
            mark, qid = picked.groups()
            if mark != " ":  # answered, skipped or taken: move on
                last_move = "k" if last_move == "j" else "j"
                screen.child.send(last_move)
                continue
            skip = who == "bob" and int(qid[1:]) % 3 == 0
            screen.child.send("s" if skip else "\r")
            refused = re.compile(rf"^ {qid} (is|was|has) (.*)$", re.M)
            f = until(screen, lambda f, r=refused: EDITOR.search(f) or r.search(f), 10)
            editor = EDITOR.search(f)
            if editor:
                if editor.group(2) != qid:
                    errors.append(f"{who}: the editor opened on {editor.group(2)}, not {qid}:\n{f}")
                    return
                finish(f)
            elif (holder := re.search(rf"^ {qid} is taken by (\w+)", f, re.M)) is not None:
                log.append((who, qid, f"taken by {holder.group(1)}"))
        errors.append(f"{who}: not done in time; the screen shows:\n{f}\nlog: {log}")
    except Exception as exc:
        errors.append(f"{who}: {exc!r}")


def race_two_screens(
    ws: Workspace, name: str
) -> tuple[list[Screen], list[tuple[str, str, str]], list[str]]:
    """alice and bob moderate the same conference at once, each in a screen of their own,
    until the queue is empty; then both quit. (screens, what each did, each screen's counts)."""
    screens = [Screen(ws, name, "alice"), Screen(ws, name, "bob")]
    log: list[tuple[str, str, str]] = []
    errors: list[str] = []
    try:
        for s in screens:
            s.child.expect(f"open {QUESTIONS}")
        threads = [threading.Thread(target=moderate, args=(s, log, errors)) for s in screens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(360)
        if errors:
            pytest.fail("\n".join(errors))
        finals = [counts(s.settled(time.monotonic() + 120)) for s in screens]
        for s in screens:
            s.child.send("q")
            s.child.expect(pexpect.EOF)
    finally:
        for s in screens:
            s.child.close(force=True)
    return screens, log, finals


def test_two_moderators_in_two_screens_answer_each_question_at_most_once(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    base = conference_server
    name = "twomods"
    define(conf_ws, name, datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", name).exit_code == 0
    for n in range(QUESTIONS):
        ask(base, JOURNALISTS[n % 12], f"@{HOST} two moderators, question {n}: what about {n}?")
    conf = conference.load(conf_ws, name)
    assert len(conference.poll(conf_ws, conf).new) == QUESTIONS
    marker = newest_id(base)

    screens, log, finals = race_two_screens(conf_ws, name)
    assert all(s.child.exitstatus == 0 for s in screens)
    assert not [entry for entry in log if entry[2].startswith("no outcome")], log
    assert all(s.widest <= 80 for s in screens), [s.widest for s in screens]

    with conference.Book(conf_ws, conf) as book:
        questions = book.questions()
        assert conference.taken(book) == {}  # every claim went back
    status = Counter(q.status for q in questions)
    assert status[conference.OPEN] == 0
    assert status[conference.ANSWERED] + status[conference.SKIPPED] == QUESTIONS
    # both screens show the same, and what the store holds
    assert (
        finals[0]
        == finals[1]
        == (f"open 0  answered {status[conference.ANSWERED]}  skipped {status[conference.SKIPPED]}")
    )

    # on the server: at most one answer per question, by the moderator the store names
    replies = [s for s in statuses_of(base, HOST, marker) if s["in_reply_to_id"]]
    per_question = Counter(str(s["in_reply_to_id"]) for s in replies)
    assert max(per_question.values()) == 1
    by_remote = {q.remote_id: q for q in questions}
    answered_by = {}
    for reply in replies:
        q = by_remote[str(reply["in_reply_to_id"])]
        text = plain_text(reply["content"])
        who = text.split()[1]
        assert text == f"@{q.author} {who} answers {q.qid}"
        assert q.status == conference.ANSWERED and q.done_by == who
        answered_by[q.qid] = who
    assert len(answered_by) == status[conference.ANSWERED]
    for q in questions:
        if q.status == conference.SKIPPED:
            assert q.done_by == "bob" and q.reason == f"bob skips {q.qid}"
    # a moderator refused a question (taken by the other) never answered or skipped it
    for who, qid, what in log:
        if what.startswith("taken by"):
            assert what == f"taken by {'bob' if who == 'alice' else 'alice'}"
            done = answered_by.get(qid) or next(q.done_by for q in questions if q.qid == qid)
            assert done != who, (who, qid, log)
    done_log = Counter((qid, what.split()[1]) for _, qid, what in log if " " in what)
    assert all(n == 1 for (qid, w), n in done_log.items() if w in ("answered", "skipped"))
    # the audit log: one record per answer and per skip
    records = [json.loads(line) for line in conf_ws.audit_path.read_text().splitlines()]
    mine = [r for r in records if r.get("conference") == name]
    answered_records = [(r["qid"], r["by"]) for r in mine if r["type"] == "conference.answered"]
    assert sorted(answered_records) == sorted(answered_by.items())
    assert sum(r["type"] == "conference.skipped" for r in mine) == status[conference.SKIPPED]
    print(f"moderators: {Counter(answered_by.values())}, skipped {status[conference.SKIPPED]}, "
          f"refused as taken {sum(w.startswith('taken') for _, _, w in log)}")  # fmt: skip


def test_a_command_is_refused_a_question_a_screen_holds_naming_the_moderator(
    conf_ws: Workspace, cli: Invoke, conference_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A screen (here: this process, with a lease of its own) holds Q1; `answer` and `skip`
    from the command line are refused, naming it; once it lets go, the command works, and
    a skip by another moderator is then named when the first one tries to answer."""
    from prcast.delivery.claims import Lease

    name = "held"
    conf, [q] = open_and_ask(conf_ws, cli, conference_server, name, [f"@{HOST} held question?"])
    with Lease(conf_ws.store_path, "conference live") as lease:
        with conference.Book(conf_ws, conf) as book:
            conference.take(book, q.qid, lease.id, "carol")
        for args in (("answer", q.qid, "Yes."), ("skip", q.qid, "--reason", "no")):
            refused = cli("conference", *args, "-c", name)
            assert refused.exit_code == 2, refused.output
            assert f"{q.qid} is taken by carol (pid {os.getpid()}" in refused.output
        queue = json.loads(cli("conference", "questions", "-c", name, "--no-poll", "--json").stdout)
        assert [(x["qid"], x["taken_by"]) for x in queue] == [(q.qid, "carol")]
        with conference.Book(conf_ws, conf) as book:
            assert book.question(q.qid).status == conference.OPEN
            conference.let_go(book, q.qid, lease.id)
    monkeypatch.setenv("PRCAST_MODERATOR", "dave")
    assert cli("conference", "skip", q.qid, "--reason", "off topic", "-c", name).exit_code == 0
    monkeypatch.setenv("PRCAST_MODERATOR", "carol")
    refused = cli("conference", "answer", q.qid, "Yes.", "-c", name)
    assert refused.exit_code == 2 and "was skipped by dave: off topic" in refused.output
    table = cli("conference", "questions", "-c", name, "--no-poll", "--all").stdout
    assert "skipped by dave" in table


def test_two_moderators_on_bluesky_answer_each_question_at_most_once(
    ws: Workspace, cli: Invoke, bsky_network: PersonalDataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race on the local Bluesky network: two screens, 30 questions."""
    pds = bsky_network
    host, host_did, _ = open_sky_conference(ws, cli, pds, monkeypatch, "skyrace", "Race")
    handle, _, password = pds.create_account(unique("reporter"))
    session = login(pds, handle, password)
    asked = {
        post(pds, session, f"@{host} race question {n}?", mention=(host, host_did))["uri"]
        for n in range(QUESTIONS)
    }
    conf = conference.load(ws, "skyrace")
    poll_until(ws, conf, QUESTIONS, 60)

    screens, log, finals = race_two_screens(ws, "skyrace")
    assert all(s.widest <= 80 for s in screens)
    with conference.Book(ws, conf) as book:
        questions = book.questions()
    assert {q.remote_id for q in questions} == asked
    status = Counter(q.status for q in questions)
    assert status[conference.ANSWERED] + status[conference.SKIPPED] == QUESTIONS
    assert (
        finals[0]
        == finals[1]
        == (f"open 0  answered {status[conference.ANSWERED]}  skipped {status[conference.SKIPPED]}")
    )
    # the press account's repository: at most one answer under each question, by the
    # moderator the store names
    records = pds.get("com.atproto.repo.listRecords", repo=host_did,
                      collection="app.bsky.feed.post", limit="100")["records"]  # fmt: skip
    answers = [r["value"] for r in records if r["value"].get("reply")]
    per_question = Counter(a["reply"]["parent"]["uri"] for a in answers)
    assert max(per_question.values()) == 1 and len(answers) == status[conference.ANSWERED]
    by_uri = {q.remote_id: q for q in questions}
    for a in answers:
        q = by_uri[a["reply"]["parent"]["uri"]]
        who = a["text"].split()[1]
        assert a["text"] == f"@{q.author} {who} answers {q.qid}" and q.done_by == who
    for who, qid, what in log:
        if what.startswith("taken by"):
            assert next(q.done_by for q in questions if q.qid == qid) != who
