"""A press conference over Mastodon, end to end, against mastodon-mock seeded with a press
office and twelve journalists (tests/integration/conftest.py: conference_server).

The journalists ask through every route the intake reads: mentions, direct messages,
replies to the conference's posts and the hashtag; some before the opening, some twice.
Everything the report says is compared with what the server holds."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from prcast import conference
from prcast.channels.mastodon import plain_text
from prcast.conference.book import Question
from prcast.conference.definition import Conference
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import HOST, JOURNALISTS, add_channel

HASHTAG = "AskRepair"


def call(base: str, user: str, method: str, path: str, **kwargs: Any) -> Any:
    r = httpx.request(
        method, base + path, headers={"Authorization": f"Bearer {user}_token"}, **kwargs
    )
    r.raise_for_status()
    return r.json()


def ask(base: str, user: str, text: str, **fields: Any) -> str:
    """A journalist posts; returns the status id."""
    return str(call(base, user, "POST", "/api/v1/statuses", json={"status": text, **fields})["id"])


def statuses_of(base: str, user: str, since_id: str = "0") -> list[dict[str, Any]]:
    """Every status of `user` newer than `since_id` (as the press office sees them)."""
    me = call(base, user, "GET", "/api/v1/accounts/verify_credentials")
    found: list[dict[str, Any]] = []
    cursor = since_id
    while True:
        page = call(base, HOST, "GET", f"/api/v1/accounts/{me['id']}/statuses",
                    params={"min_id": cursor, "limit": 40})  # fmt: skip
        if not page:
            return found
        found += page
        cursor = max((s["id"] for s in page), key=int)


def newest_id(base: str) -> str:
    """A cursor below every status posted from now on."""
    return str(ask(base, HOST, "(test marker, not part of the conference)", visibility="private"))


def define(ws: Workspace, name: str, start: datetime, channel: str = "masto") -> None:
    path = ws.root / "conferences" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    local = start.astimezone(ZoneInfo("Europe/Berlin"))
    path.write_text(
        f'title = "The repair workshop answers"\n'
        f'channels = ["{channel}"]\n'
        f'hashtag = "{HASHTAG}"\n'
        f'start = "{local:%Y-%m-%d %H:%M}"\n'
        f'end = "{local + timedelta(hours=1):%Y-%m-%d %H:%M}"\n'
        'timezone = "Europe/Berlin"\n'
        'host = "Jana Example, head of the workshop"\n'
        'moderators = ["Tom Press"]\n',
        encoding="utf-8",
    )


def open_and_ask(
    ws: Workspace, cli: Invoke, server: str, name: str, questions: Sequence[str]
) -> tuple[Conference, list[Question]]:
    """Conference `name` (started a minute ago), open, with `questions` asked on the
    Mastodon server by the journalists in turn; returns it and the questions one poll took
    in (all of them)."""
    define(ws, name, datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", name).exit_code == 0
    for n, text in enumerate(questions):
        ask(server, JOURNALISTS[n % 12], text)
    conf = conference.load(ws, name)
    new = conference.poll(ws, conf).new
    assert len(new) == len(questions)
    return conf, new


def question_text(n: int) -> str:
    return f"Question {n}: how many devices will the workshop repair in week {n}?"


def test_scripted_conference_transcript_matches_the_server(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    base = conference_server
    define(conf_ws, "launch", datetime.now(UTC) + timedelta(hours=1))
    marker = newest_id(base)

    result = cli("conference", "announce", "--json")
    assert result.exit_code == 0, result.output
    announcement = json.loads(result.stdout)["posts"][0]["remote_id"]

    # before the opening: 16 questions by 8 journalists through every route, and 2 repeats
    expected: dict[str, dict[str, Any]] = {}  # status id -> what the report must say
    routes = ["mention", "hashtag", "direct", "reply"]

    def post_question(n: int, user: str, route: str, reply_to: str) -> None:
        text = question_text(n)
        fields: dict[str, Any] = {}
        if route == "mention":
            status = f"@{HOST} {text}"
        elif route == "hashtag":
            status = f"{text} #{HASHTAG}"
        elif route == "direct":
            status, fields = f"@{HOST} {text}", {"visibility": "direct"}
        else:
            status, fields = f"@{HOST} {text}", {"in_reply_to_id": reply_to}
        sid = ask(base, user, status, **fields)
        expected[sid] = {"user": user, "route": route, "private": route == "direct"}

    n = 0
    for i in range(16):
        n += 1
        post_question(n, JOURNALISTS[i % 8], routes[i % 4], announcement)
    repeats = [
        ask(base, JOURNALISTS[0], f"@{HOST} {question_text(1)}"),
        ask(base, JOURNALISTS[1], f"{question_text(2)} #{HASHTAG}"),
    ]
    result = cli("conference", "questions", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 16

    # the start is an hour away: opening is refused, and nothing is posted
    refused = cli("conference", "open")
    assert refused.exit_code == 2 and "starts at" in refused.output
    result = cli("conference", "open", "--early", "--reason", "all panellists are here", "--json")
    assert result.exit_code == 0, result.output
    opening = json.loads(result.stdout)["posts"][0]["remote_id"]

    # live: 56 more questions by all twelve, taken in by one poll (more than a page of 40)
    ws = conf_ws
    conf = conference.load(ws, "launch")
    for _round in range(4):
        for i in range(14):
            n += 1
            post_question(n, JOURNALISTS[(i + _round) % 12], routes[(i + _round) % 4], opening)
    assert len(conference.poll(ws, conf).new) == 56

    # a blocked term in an answer: refused, nothing posted
    with conference.Book(ws, conf) as book:
        first_open = book.questions(conference.OPEN)[0].qid
    blocked = cli("conference", "answer", first_open, "Project Falcon comes next year.")
    assert blocked.exit_code == 2 and "confidentiality policy" in blocked.output

    with conference.Book(ws, conf) as book:
        queue = book.questions(conference.OPEN)
    assert len(queue) == 72
    skipped, left_open = queue[5:7], queue[7:9]
    for q in skipped:
        result = cli("conference", "skip", q.qid, "--reason", "asked and answered in Q1")
        assert result.exit_code == 0, result.output
    for k, q in enumerate(q for q in queue if q not in skipped and q not in left_open):
        long = k % 9 == 0  # some answers need a thread of their own
        text = f"Answer {q.qid}: about {k * 10} devices. " + (
            "Every school can book. " * 40 if long else ""
        )
        if k < 3:
            result = cli("conference", "answer", q.qid, text)
            assert result.exit_code == 0, result.output
        else:
            assert conference.answer(ws, conf, q.qid, text).ok
    # the same answer again is the same post, never a second one
    again = cli(
        "conference",
        "answer",
        queue[0].qid,
        f"Answer {queue[0].qid}: about 0 devices. " + "Every school can book. " * 40,
    )
    assert again.exit_code == 0 and "Nothing new was posted" in again.output
    other = cli("conference", "answer", queue[0].qid, "A different answer")
    assert other.exit_code == 2 and "has an answer already" in other.output

    result = cli("conference", "close")
    assert result.exit_code == 0, result.output
    late = ask(base, JOURNALISTS[3], f"@{HOST} {question_text(99)}")  # after the closing
    assert conference.poll(ws, conf).new == []

    report = json.loads(cli("report", "--conference", "launch", "--format", "json").stdout)
    entries = {e["question_id"]: e for e in report["entries"]}

    # every question on the server is in the report once; repeats are set aside; nothing else
    assert set(entries) == set(expected) | set(repeats)
    assert late not in entries
    assert {e["question_id"] for e in report["entries"] if e["status"] == "duplicate"} == set(
        repeats
    )
    qids = [e["qid"] for e in report["entries"]]
    assert len(qids) == len(set(qids)) == 74
    for sid, want in expected.items():
        e = entries[sid]
        assert e["author"] == want["user"] and e["private"] == want["private"]
        assert (
            e["via"]
            == {"mention": "mention", "hashtag": "hashtag", "direct": "direct", "reply": "reply"}[
                want["route"]
            ]
        )

    # every answer on the server, under the right question, as the report says
    host_posts = statuses_of(base, HOST, marker)
    by_id = {str(s["id"]): s for s in host_posts}
    replies = [s for s in host_posts if s["in_reply_to_id"]]
    answered = [e for e in report["entries"] if e["status"] == "answered"]
    assert len(answered) == 72 - 4 == report["stats"]["answered"]
    assert sum(len(e["answer_ids"]) for e in answered) == len(replies)
    assert any(len(e["answer_ids"]) > 1 for e in answered)
    for e in answered:
        first, *rest = (by_id[i] for i in e["answer_ids"])
        assert str(first["in_reply_to_id"]) == e["question_id"]
        for parent, child in zip([first, *rest], rest, strict=False):
            assert str(child["in_reply_to_id"]) == str(parent["id"])
        assert first["visibility"] == ("direct" if e["private"] else "public")
        assert plain_text(first["content"]).split()[0] == f"@{e['author']}"
        assert [u for u in e["answer_urls"]] == [by_id[i]["url"] for i in e["answer_ids"]]
        assert e["latency_seconds"] is not None and e["latency_seconds"] >= 0
    # the announcement, the opening and the closing, once each
    own = [s for s in host_posts if not s["in_reply_to_id"] and "test marker" not in s["content"]]
    assert len(own) == 3

    stats = report["stats"]
    assert stats["questions"] == 72 and stats["duplicates"] == 2
    assert stats["skipped"] == 2 and stats["unanswered"] == 2
    assert set(report["unanswered"]) == {q.qid for q in skipped + left_open}
    assert stats["participants"] == len(JOURNALISTS)
    assert stats["before_opening"] == 16
    assert stats["private"] == sum(1 for w in expected.values() if w["private"])
    latencies = sorted(e["latency_seconds"] for e in answered)
    assert stats["median_response_seconds"] == pytest.approx(
        (latencies[33] + latencies[34]) / 2, abs=0.11
    )
    assert (
        report["audit_ok"] and "74 of 74 questions and 68 of 68 answers" in report["audit_message"]
    )

    # the audit log holds each question with its remote id, author and time
    records = [json.loads(line) for line in ws.audit_path.read_text().splitlines()]
    asked = {r["remote_id"]: r for r in records if r["type"] == "conference.question"}
    assert set(asked) == set(entries)
    assert all(asked[sid]["author"] == entries[sid]["author"] for sid in asked)
    assert any(r["type"] == "conference.opened_early" and r["reason"] == "all panellists are here"
               for r in records)  # fmt: skip

    # the other formats carry the same transcript
    text = cli("report", "--conference", "launch").stdout
    md = cli("report", "--conference", "launch", "--format", "md", "--include-private").stdout
    for e in answered:
        assert f"{e['qid']} " in text and f"| {e['qid']} |" in md
    html = cli("report", "--conference", "launch", "--format", "html", "--include-private").stdout
    assert html.count('class="question ') == 74 and html.count('class="answer"') == 68
    # md and html are meant for publication: by default without the direct messages
    public = cli("report", "--conference", "launch", "--format", "html").stdout
    dms = [e for e in report["entries"] if e["private"]]
    assert dms and html.count('class="question ') - public.count('class="question ') == len(dms)
    public_md = cli("report", "--conference", "launch", "--format", "md").stdout
    assert all(f"| {e['qid']} |" not in public_md for e in dms)


def test_restarted_intake_neither_loses_nor_repeats_a_question(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    """`conference questions --follow` is killed (SIGKILL) again and again while questions
    arrive; after each restart the queue holds every question on the server exactly once."""
    base = conference_server
    define(conf_ws, "restart", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "restart").exit_code == 0
    env = {**os.environ, "PRCAST_WORKSPACE": str(conf_ws.root)}
    prcast = [sys.executable, "-m", "prcast", "conference", "questions", "-c", "restart"]
    asked: list[str] = []
    n = 0
    for kill in range(6):
        follower = subprocess.Popen(
            [*prcast, "--follow", "--every", "1"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        for _ in range(4):
            n += 1
            asked.append(ask(base, JOURNALISTS[n % 12], f"@{HOST} restart question {n} #{HASHTAG}"))
            time.sleep(0.15 * (kill % 3))
        time.sleep(0.3 + 0.4 * (kill % 2))
        follower.send_signal(signal.SIGKILL)
        follower.wait(10)
    final = subprocess.run([*prcast, "--json"], env=env, capture_output=True, text=True, check=True)
    queue = json.loads(final.stdout)
    assert Counter(q["remote_id"] for q in queue) == Counter(asked)
    numbers = sorted(int(q["qid"][1:]) for q in queue)
    assert numbers == list(range(1, len(asked) + 1))  # no question numbered twice or skipped
    records = [json.loads(line) for line in conf_ws.audit_path.read_text().splitlines()]
    in_log = {r["remote_id"] for r in records if r["type"] == "conference.question"}
    assert in_log == set(asked)


def test_bad_conference_file_names_file_and_line(conf_ws: Workspace, cli: Invoke) -> None:
    define(conf_ws, "bad", datetime.now(UTC))
    path = conf_ws.root / "conferences" / "bad.toml"
    text = path.read_text().replace('channels = ["masto"]', 'channels = ["mastodn"]')
    path.write_text(text)
    result = cli("conference", "announce", "-c", "bad")
    assert result.exit_code == 2
    assert re.search(
        r"bad\.toml:2: unknown channel \"mastodn\" \(did you mean \"masto\"\?\)", result.output
    )
    path.write_text(text.replace('"mastodn"', '"masto"').replace("end =", "ende ="))
    result = cli("conference", "announce", "-c", "bad")
    assert (
        result.exit_code == 2
        and 'bad.toml:5: unknown field "ende" (did you mean "end"?)' in result.output
    )
    records = conf_ws.audit_path.read_text() if conf_ws.audit_path.exists() else ""
    assert "delivery.attempted" not in records


def test_answer_killed_mid_thread_is_finished_by_answering_again(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    """SIGKILL while a long answer goes out part by part; the same answer again finishes the
    thread: every part exactly once, in one chain under the question."""
    base = conference_server
    # paced at 4 posts a second, so the kill lands mid-thread
    add_channel(conf_ws, f'[channels.paced]\ntype = "mastodon"\ninstance = "{base}"\n'
                         'token = "env:PRCAST_MASTODON_TOKEN"\nmax_per_minute = 240')  # fmt: skip
    define(conf_ws, "crash", datetime.now(UTC) - timedelta(minutes=1), channel="paced")
    assert cli("conference", "open", "-c", "crash").exit_code == 0
    question = ask(
        base, JOURNALISTS[4], f"@{HOST} what happens to the parts that cannot be reused?"
    )
    conf = conference.load(conf_ws, "crash")
    [q] = conference.poll(conf_ws, conf).new
    marker = newest_id(base)
    answer = " ".join(
        f"Sentence {i} of a long and careful answer about recycling." for i in range(250)
    )
    env = {**os.environ, "PRCAST_WORKSPACE": str(conf_ws.root)}
    command = [sys.executable, "-m", "prcast", "conference", "answer", q.qid, answer, "-c", "crash"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(statuses_of(base, HOST, marker)) < 6:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    posted_before = len(statuses_of(base, HOST, marker))
    assert posted_before >= 6

    result = cli("conference", "answer", q.qid, answer, "-c", "crash")
    assert result.exit_code == 0, result.output
    replies = statuses_of(base, HOST, marker)
    parts = int(re.search(r"\((\d+)/(\d+)\)", plain_text(replies[0]["content"])).group(2))  # type: ignore[union-attr]
    assert posted_before < parts == len(replies)  # the kill came mid-thread; nothing doubled
    by_parent = Counter(str(s["in_reply_to_id"]) for s in replies)
    assert by_parent[question] == 1 and max(by_parent.values()) == 1
    entry = json.loads(cli("report", "--conference", "crash", "-f", "json").stdout)["entries"][0]
    assert entry["status"] == "answered" and len(entry["answer_ids"]) == parts


def test_report_says_when_the_audit_log_was_tampered_with(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    define(conf_ws, "tamper", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "tamper").exit_code == 0
    ask(conference_server, JOURNALISTS[5], f"@{HOST} is the workshop open on Saturdays?")
    conf = conference.load(conf_ws, "tamper")
    [q] = conference.poll(conf_ws, conf).new
    assert conference.answer(conf_ws, conf, q.qid, "Yes, from 10 to 14.").ok
    good = cli("report", "--conference", "tamper")
    assert good.exit_code == 0 and "audit chain verified" in good.stdout
    log = conf_ws.audit_path.read_text(encoding="utf-8")
    conf_ws.audit_path.write_text(log.replace("Saturdays", "Sundays"), encoding="utf-8")
    bad = cli("report", "--conference", "tamper")
    assert bad.exit_code == 3
    assert "AUDIT CHAIN BROKEN" in bad.stdout and "record" in bad.stdout
