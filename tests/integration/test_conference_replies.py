"""Replies anywhere under a conference's posts, however many answers there are: every poll
reads the threads of the announcement, opening and closing and of the newest answers, and a
window over the older answers that moves on each poll, so each answer's thread is read within
`polls_to_cover(answers)` polls and no poll reads more than a fixed number of threads.

On mastodon-mock (GET /api/v1/statuses/:id/context) and the local Bluesky network
(app.bsky.feed.getPostThread): a reply without a mention under an old answer, and a reply
deep in a chain under the third part of a threaded answer, are each taken in exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from prcast import conference
from prcast.conference.intake import OLDER_THREADS, RECENT_THREADS, Threads, polls_to_cover
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import HOST, JOURNALISTS, PersonalDataServer, unique
from tests.integration.test_conference import ask, open_and_ask
from tests.integration.test_conference_bluesky import (
    login,
    open_sky_conference,
    poll_until,
    post,
    record_cid,
)

ANSWERS = 30
#: the answers a reply without a mention goes under: the 25th-newest of 30, long out of the
#: newest answers, and the 25th-oldest
OLD, OLD_25 = ANSWERS - 25, 24
#: a threaded answer (three parts or more) whose third part gets a chain of replies
THREADED = 2
DEPTH = 6


def test_every_answer_thread_is_read_within_the_bound_and_no_poll_reads_more() -> None:
    roots = ("announcement", "opening")
    for count in (0, 5, RECENT_THREADS, RECENT_THREADS + 1, 30, 137):
        answers = tuple(f"a{n}" for n in range(count))
        threads = Threads(roots, answers)
        bound = polls_to_cover(count)
        for start in range(max(1, count - RECENT_THREADS)):  # wherever the window stands
            cursor = str(start)
            read: set[str] = set()
            for _ in range(bound):
                posts, cursor = threads.for_poll(cursor)
                assert len(posts) <= len(roots) + RECENT_THREADS + OLDER_THREADS
                assert len(posts) == len(set(posts))
                assert set(roots) <= set(posts)
                assert set(answers[-RECENT_THREADS:]) <= set(posts)
                read.update(posts)
            assert read == set(roots) | set(answers), (count, start)
    assert polls_to_cover(137) == -(-(137 - RECENT_THREADS) // OLDER_THREADS)


def _answered(ws: Workspace, cli: Invoke, name: str, count: int = ANSWERS) -> list[str]:
    """Answer every open question of `name`, oldest first, THREADED one in several parts;
    returns the remote ids of the answers' posts, in order, per answer joined by spaces."""
    conf = conference.load(ws, name)
    with conference.Book(ws, conf) as book:
        queue = book.questions(conference.OPEN)
    assert len(queue) == count
    for k, q in enumerate(queue):
        text = f"Answer {q.qid}: about {k * 10} devices."
        if k == THREADED:
            text += " Every school can book a collection date online, any weekday." * 20
        assert conference.answer(ws, conf, q.qid, text).ok
    result = cli("report", "--conference", name, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    ids = {e["qid"]: e["answer_ids"] for e in report["entries"] if e["status"] == "answered"}
    return [" ".join(ids[q.qid]) for q in queue]


def test_a_reply_under_an_old_answer_or_deep_in_a_thread_is_taken_in_once_on_mastodon(
    conf_ws: Workspace, cli: Invoke, conference_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = conference_server
    questions = [f"@{HOST} question {n}: how many devices in week {n}?" for n in range(ANSWERS)]
    conf, _ = open_and_ask(conf_ws, cli, base, "many", questions)
    answers = _answered(conf_ws, cli, "many")
    old = answers[OLD].split()[0]
    parts = answers[THREADED].split()
    assert len(parts) >= 3

    def window() -> str | None:
        with conference.Book(conf_ws, conf) as book:
            return book.cursors("masto").get("threads")

    # a poll that cannot read the service leaves the window where it was, for the next
    before = window()
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", "revoked")
    assert "masto" in conference.poll(conf_ws, conf).problems
    assert window() == before
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", f"{HOST}_token")
    # no mention: nothing notifies the press account of these
    under_old = ask(base, JOURNALISTS[0], "Which week was that again?", in_reply_to_id=old)
    old_25 = answers[OLD_25].split()[0]
    under_25 = ask(base, JOURNALISTS[6], "And the week after?", in_reply_to_id=old_25)
    chain = [ask(base, JOURNALISTS[1], "Does that include laptops?", in_reply_to_id=parts[2])]
    for depth in range(1, DEPTH):
        chain.append(
            ask(base, JOURNALISTS[2 + depth % 3], f"Follow-up {depth}?", in_reply_to_id=chain[-1])
        )
    expected = [under_old, under_25, *chain]
    bound = polls_to_cover(ANSWERS)
    for _ in range(bound):
        conference.poll(conf_ws, conf)
    with conference.Book(conf_ws, conf) as book:
        taken = [q.remote_id for q in book.questions() if q.remote_id in expected]
    assert sorted(taken) == sorted(expected)  # within the bound, each once
    for _ in range(3):  # the window goes round again: nothing twice
        assert conference.poll(conf_ws, conf).new == []
    with conference.Book(conf_ws, conf) as book:
        questions = book.questions()
    assert len(questions) == ANSWERS + len(expected)
    assert {q.via for q in questions if q.remote_id in expected} == {"reply"}


def test_a_reply_under_an_old_answer_or_deep_in_a_thread_is_taken_in_once_on_bluesky(
    ws: Workspace, cli: Invoke, bsky_network: PersonalDataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pds = bsky_network
    host, host_did, _ = open_sky_conference(ws, cli, pds, monkeypatch, "skymany", "Many")
    reporters = []
    for _ in range(3):
        handle, _, password = pds.create_account(unique("reporter"))
        reporters.append(login(pds, handle, password))
    for n in range(ANSWERS):
        post(pds, reporters[n % 3], f"@{host} question {n}: how many devices in week {n}?",
             mention=(host, host_did))  # fmt: skip
    conf = conference.load(ws, "skymany")
    poll_until(ws, conf, ANSWERS, 60)
    answers = _answered(ws, cli, "skymany")
    old_uri = answers[OLD].split()[0]
    parts = answers[THREADED].split()
    assert len(parts) >= 3

    def ref(uri: str) -> dict[str, str]:
        return {"uri": uri, "cid": record_cid(pds, uri)}

    with conference.Book(ws, conf) as book:
        questions = book.questions()
    root_of_old = ref(questions[OLD].remote_id)  # the question is its thread's root
    under_old = post(pds, reporters[0], "Which week was that again?",
                     reply={"root": root_of_old, "parent": ref(old_uri)})  # fmt: skip
    under_25 = post(pds, reporters[2], "And the week after?",
                    reply={"root": ref(questions[OLD_25].remote_id),
                           "parent": ref(answers[OLD_25].split()[0])})  # fmt: skip
    root = ref(questions[THREADED].remote_id)
    parent = ref(parts[2])
    chain = []
    for depth in range(DEPTH):
        parent = post(pds, reporters[1 + depth % 2], f"Follow-up {depth}: laptops too?",
                      reply={"root": root, "parent": parent})  # fmt: skip
        chain.append(parent["uri"])
    expected = [under_old["uri"], under_25["uri"], *chain]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for _ in range(polls_to_cover(ANSWERS)):
            conference.poll(ws, conf)
        with conference.Book(ws, conf) as book:
            if len([q for q in book.questions() if q.remote_id in expected]) >= len(expected):
                break
        time.sleep(0.5)
    for _ in range(3):
        assert conference.poll(ws, conf).new == []
    with conference.Book(ws, conf) as book:
        questions = book.questions()
    assert sorted(q.remote_id for q in questions if q.remote_id in expected) == sorted(expected)
    assert len(questions) == ANSWERS + len(expected)
    deepest = next(q for q in questions if q.remote_id == chain[-1])
    assert deepest.via == "reply" and deepest.extra["root_uri"] == root["uri"]


def test_two_processes_polling_at_once_read_different_windows(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    """Two moderators' intakes poll at the same moment: each takes a window of its own
    (claimed in a transaction), so together they move the window on twice, never read the
    same older answers both."""
    count = RECENT_THREADS + OLDER_THREADS + 5  # 15 older answers: windows 0-9, 10-14+0-4
    questions = [f"@{HOST} together {n}: and week {n}?" for n in range(count)]
    conf, _ = open_and_ask(conf_ws, cli, conference_server, "together", questions)
    _answered(conf_ws, cli, "together", count)
    with conference.Book(conf_ws, conf) as book:
        assert book.cursors("masto").get("threads") == "0"
    env = {**os.environ, "PRCAST_WORKSPACE": str(conf_ws.root)}
    command = [sys.executable, "-m", "prcast", "conference", "questions", "-c", "together"]
    polls = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(2)]  # fmt: skip
    for proc in polls:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    with conference.Book(conf_ws, conf) as book:
        # one read older answers 0-9 (the window moved to 10), the other 10-14 and 0-4 (to 5);
        # reading the same window both would have left it at 10
        assert book.cursors("masto").get("threads") == "5"
