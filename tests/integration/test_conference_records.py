"""What a conference records, on mastodon-mock: an answer given again is audited once, an
early opening is shown as such, a post found by two routes keeps both, and nothing changes
after the closing post except through an audited `reopen`."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prcast import conference
from prcast.cli.live import Moderator
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import HOST, JOURNALISTS
from tests.integration.test_conference import HASHTAG, ask, define, newest_id, statuses_of


def audit(ws: Workspace, kind: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in ws.audit_path.read_text().splitlines()]
    return [r for r in records if r["type"] == kind]


def test_same_answer_again_posts_nothing_and_is_audited_once(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    define(conf_ws, "again", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "again").exit_code == 0
    ask(conference_server, JOURNALISTS[0], f"@{HOST} do you repair bicycles?")
    conf = conference.load(conf_ws, "again")
    [q] = conference.poll(conf_ws, conf).new
    marker = newest_id(conference_server)
    for _ in range(3):
        result = cli("conference", "answer", q.qid, "Yes, every Tuesday.", "-c", "again")
        assert result.exit_code == 0, result.output
    assert len(statuses_of(conference_server, HOST, marker)) == 1
    answered = [r for r in audit(conf_ws, "conference.answered") if r["conference"] == "again"]
    assert [r["qid"] for r in answered] == [q.qid]
    # the report settles answers too: it adds no record either
    assert cli("report", "--conference", "again").exit_code == 0
    assert (
        len([r for r in audit(conf_ws, "conference.answered") if r["conference"] == "again"]) == 1
    )


def test_after_an_early_opening_the_screens_count_down_to_the_end(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    define(conf_ws, "early", datetime.now(UTC) + timedelta(minutes=30))
    conf = conference.load(conf_ws, "early")
    with conference.Book(conf_ws, conf) as book:
        assert conference.time_left(conf, book.state()).startswith("starts in 29 min")
    result = cli("conference", "open", "-c", "early", "--early", "--reason", "all are here")
    assert result.exit_code == 0, result.output
    with conference.Book(conf_ws, conf) as book:
        shown = conference.time_left(conf, book.state())
    assert shown.startswith("opened early, 1 h 29 min") and "starts" not in shown
    table = cli("conference", "questions", "-c", "early", "--no-poll")
    assert "opened early" in table.stdout and "starts in" not in table.stdout
    screen = Moderator(conf_ws, conf, stdout=io.StringIO())
    screen.refresh(poll=False)
    header = screen.screen(80, 24).split("\n")[0]
    assert "live · opened early, 1 h 29 min" in header and "starts" not in header


def test_a_post_with_mention_and_hashtag_is_one_question_with_both_routes(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    base = conference_server
    define(conf_ws, "routes", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "routes").exit_code == 0
    both = ask(base, JOURNALISTS[1], f"@{HOST} can I bring two lamps? #{HASHTAG}")
    only_tag = ask(base, JOURNALISTS[2], f"is there parking? #{HASHTAG}")
    only_mention = ask(base, JOURNALISTS[3], f"@{HOST} is it free?")
    result = cli("conference", "questions", "-c", "routes", "--json")
    assert result.exit_code == 0, result.output
    via = {q["remote_id"]: q["via"] for q in json.loads(result.stdout)}
    assert via == {both: "mention+hashtag", only_tag: "hashtag", only_mention: "mention"}
    # a later poll finds nothing new and changes no route
    again = json.loads(cli("conference", "questions", "-c", "routes", "--json").stdout)
    assert {q["remote_id"]: q["via"] for q in again} == via


def test_a_route_seen_by_a_later_poll_is_added_to_the_question(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    """The mention is read first (the tag timeline's cursor is already past it); when the
    hashtag route reports the same post later, the question keeps both routes."""
    define(conf_ws, "later", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "later").exit_code == 0
    sid = ask(conference_server, JOURNALISTS[4], f"@{HOST} when does it end? #{HASHTAG}")
    conf = conference.load(conf_ws, "later")
    with conference.Book(conf_ws, conf) as book:
        [q] = conference.poll(conf_ws, conf).new
        book.store.conference_set_via(conf.name, q.qid, "mention")
        book.store.conference_set_cursor(conf.name, "masto", "tag", "0")
    conference.poll(conf_ws, conf)
    with conference.Book(conf_ws, conf) as book:
        [q] = book.questions()
    assert q.remote_id == sid and q.via == "mention+hashtag"


def test_nothing_changes_after_close_except_through_an_audited_reopen(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    define(conf_ws, "shut", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "shut").exit_code == 0
    ask(conference_server, JOURNALISTS[5], f"@{HOST} will there be coffee?")
    ask(conference_server, JOURNALISTS[6], f"@{HOST} may I film?")
    conf = conference.load(conf_ws, "shut")
    q1, q2 = conference.poll(conf_ws, conf).new
    assert cli("conference", "close", "-c", "shut").exit_code == 0

    for args in (
        ("skip", q1.qid, "--reason", "off topic"),
        ("answer", q2.qid, "Yes."),
        ("open",),
        ("announce",),
    ):
        refused = cli("conference", *args, "-c", "shut")
        assert refused.exit_code == 2 and "closed" in refused.output, (args, refused.output)
    with conference.Book(conf_ws, conf) as book:
        assert {q.status for q in book.questions()} == {conference.OPEN}
    assert not audit(conf_ws, "conference.skipped")

    assert cli("conference", "reopen", "-c", "shut", "--reason", "").exit_code == 2
    result = cli("conference", "reopen", "-c", "shut", "--reason", "Q1 deserves an answer")
    assert result.exit_code == 0, result.output
    [record] = [r for r in audit(conf_ws, "conference.reopened") if r["conference"] == "shut"]
    assert record["reason"] == "Q1 deserves an answer" and record["by"] and record["closed_at"]
    assert cli("conference", "skip", q1.qid, "--reason", "off topic", "-c", "shut").exit_code == 0
    assert cli("conference", "reopen", "-c", "shut", "--reason", "x").exit_code == 2  # not closed
    with conference.Book(conf_ws, conf) as book:
        assert book.state().status == conference.LIVE and book.state().closed_at is None
        assert book.question(q1.qid).status == conference.SKIPPED


def test_report_keeps_direct_messages_out_of_the_public_edition(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    """On the server: a hostile public question, a question by direct message (answered
    privately) and a repeat; md and html leave the DM out by default, --include-private
    marks it; every format escapes the hostile text; the early opening is explained."""
    base = conference_server
    define(conf_ws, "private", datetime.now(UTC) + timedelta(minutes=20))
    opened = cli("conference", "open", "-c", "private", "--early", "--reason", "panel is ready")
    assert opened.exit_code == 0, opened.output
    hostile = "<script>alert(1)</script> read [this](https://evil.example/x) first?"
    ask(base, JOURNALISTS[7], f"@{HOST} {hostile}")
    ask(base, JOURNALISTS[8], f"@{HOST} what do the repairers earn?", visibility="direct")
    ask(base, JOURNALISTS[7], f"@{HOST} {hostile}")  # the same again: a repeat
    conf = conference.load(conf_ws, "private")
    public_q, dm_q = conference.poll(conf_ws, conf).new
    assert dm_q.private and not public_q.private
    assert (
        cli("conference", "answer", dm_q.qid, "Collective wages.", "-c", "private").exit_code == 0
    )

    def report(*args: str) -> str:
        result = cli("report", "--conference", "private", *args)
        assert result.exit_code == 0, result.output
        return result.stdout

    for fmt in ("md", "html"):
        public = report("--format", fmt)
        assert "earn" not in public and "Collective wages" not in public
        assert "<script>" not in public and "&lt;script&gt;" in public
        link = "](https://evil.example" if fmt == "md" else 'href="https://evil.example'
        assert link not in public  # the Markdown link is text, not a link
        assert "panel is ready" in public and "Opened early" in public
        assert ("repeats Q1" if fmt == "md" else 'repeats <a href="#Q1">Q1</a>') in public
        internal = report("--format", fmt, "--include-private")
        assert "earn" in internal and "Collective wages" in internal
        assert "(private: DM)" in internal
    text = report()  # the terminal's report is internal by default, the DM marked
    assert f"{dm_q.qid} " in text and "(private: direct message)" in text
    assert "earn" not in report("--public")
    data = json.loads(report("--format", "json", "--public"))
    assert {e["qid"] for e in data["entries"]} == {"Q1", "Q3"} and data["withheld"] == 1


def test_a_reply_without_mention_under_the_opening_is_taken_in_once(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    """No mention, no hashtag: nothing notifies the press account. The reply under the
    opening, a reply to that reply, and a reply under an answer are questions all the same,
    each once however often the intake runs."""
    base = conference_server
    define(conf_ws, "replies", datetime.now(UTC) - timedelta(minutes=1))
    result = cli("conference", "open", "-c", "replies", "--json")
    assert result.exit_code == 0, result.output
    opening = json.loads(result.stdout)["posts"][0]["remote_id"]
    under = ask(base, JOURNALISTS[9], "Will you publish the list of tools?", in_reply_to_id=opening)
    deeper = ask(base, JOURNALISTS[10], "And the prices?", in_reply_to_id=under)
    conf = conference.load(conf_ws, "replies")
    for _ in range(3):
        conference.poll(conf_ws, conf)
    with conference.Book(conf_ws, conf) as book:
        questions = book.questions()
    assert sorted(q.remote_id for q in questions) == sorted([under, deeper])
    assert {q.via for q in questions} == {"reply"}
    first = next(q for q in questions if q.remote_id == under)
    answered = cli("conference", "answer", first.qid, "Yes, on Monday.", "-c", "replies", "--json")
    assert answered.exit_code == 0, answered.output
    answer_id = json.loads(answered.stdout)["posts"][0]["remote_id"]
    follow_up = ask(base, JOURNALISTS[9], "Which Monday?", in_reply_to_id=answer_id)
    conference.poll(conf_ws, conf)
    conference.poll(conf_ws, conf)
    with conference.Book(conf_ws, conf) as book:
        ids = [q.remote_id for q in book.questions()]
    assert sorted(ids) == sorted([under, deeper, follow_up])


def test_close_again_after_reopen_posts_a_second_closing(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    define(conf_ws, "twice", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "twice").exit_code == 0
    ask(conference_server, JOURNALISTS[11], f"@{HOST} one more question?")
    conf = conference.load(conf_ws, "twice")
    [q] = conference.poll(conf_ws, conf).new
    marker = newest_id(conference_server)
    assert cli("conference", "close", "-c", "twice").exit_code == 0
    assert cli("conference", "reopen", "-c", "twice", "--reason", "one left").exit_code == 0
    assert cli("conference", "answer", q.qid, "Here it is.", "-c", "twice").exit_code == 0
    result = cli("conference", "close", "-c", "twice")
    assert result.exit_code == 0, result.output
    assert cli("conference", "close", "-c", "twice").exit_code == 0  # closing again: nothing new
    posted = statuses_of(conference_server, HOST, marker)
    assert len(posted) == 3  # the first closing, the answer, the second closing
    with conference.Book(conf_ws, conf) as book:
        assert book.state().status == conference.CLOSED and book.state().closed_at


def test_unskip_opens_a_skip_again_audited_refused_when_held_not_skipped_or_closed(
    conf_ws: Workspace, cli: Invoke, conference_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prcast.delivery.claims import Lease

    name = "unskip"
    define(conf_ws, name, datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", name).exit_code == 0
    ask(conference_server, JOURNALISTS[0], f"@{HOST} is the workshop open on Sundays?")
    ask(conference_server, JOURNALISTS[1], f"@{HOST} do you fix phones?")
    conf = conference.load(conf_ws, name)
    q1, q2 = conference.poll(conf_ws, conf).new
    monkeypatch.setenv("PRCAST_MODERATOR", "dave")
    assert cli("conference", "skip", q1.qid, "--reason", "off topic", "-c", name).exit_code == 0
    monkeypatch.setenv("PRCAST_MODERATOR", "carol")
    refused = cli("conference", "answer", q1.qid, "Yes, from 10.", "-c", name)
    assert refused.exit_code == 2 and "skipped by dave" in refused.output

    result = cli("conference", "unskip", q1.qid, "-c", name)
    assert result.exit_code == 0 and f"{q1.qid} is open again" in result.output, result.output
    [record] = [r for r in audit(conf_ws, "conference.unskipped") if r["conference"] == name]
    assert (record["qid"], record["by"], record["skipped_by"], record["skip_reason"]) == (
        q1.qid, "carol", "dave", "off topic",
    )  # fmt: skip
    with conference.Book(conf_ws, conf) as book:
        again = book.question(q1.qid)
    assert (again.status, again.done_by, again.reason) == (conference.OPEN, None, None)
    table = cli("conference", "questions", "-c", name, "--no-poll").stdout
    assert q1.qid in table and "dave" not in table  # open, and no longer "skipped by dave"
    answered = cli("conference", "answer", q1.qid, "Yes, from 10.", "-c", name)
    assert answered.exit_code == 0, answered.output

    for qid, state in ((q1.qid, "answered by carol"), (q2.qid, "open")):
        refused = cli("conference", "unskip", qid, "-c", name)
        assert refused.exit_code == 2 and f"{qid} is {state}, not skipped" in refused.output

    assert cli("conference", "skip", q2.qid, "--reason", "asked before", "-c", name).exit_code == 0
    with Lease(conf_ws.store_path, "conference live") as lease:
        with conference.Book(conf_ws, conf) as book:
            conference.take(book, q2.qid, lease.id, "erin")
        refused = cli("conference", "unskip", q2.qid, "-c", name)
        assert refused.exit_code == 2 and f"{q2.qid} is taken by erin" in refused.output
        with conference.Book(conf_ws, conf) as book:
            conference.let_go(book, q2.qid, lease.id)

    assert cli("conference", "close", "-c", name).exit_code == 0
    refused = cli("conference", "unskip", q2.qid, "-c", name)
    assert refused.exit_code == 2 and "closed" in refused.output and "reopen" in refused.output
    with conference.Book(conf_ws, conf) as book:
        assert book.question(q2.qid).status == conference.SKIPPED
    assert len([r for r in audit(conf_ws, "conference.unskipped") if r["conference"] == name]) == 1
    assert cli("conference", "reopen", "-c", name, "--reason", "Q2 was new").exit_code == 0
    assert cli("conference", "unskip", q2.qid, "-c", name).exit_code == 0


HOSTILE = (
    "<script>alert(1)</script> read [this](https://evil.example/x) **now**\n"
    "# not a heading \x1b[2J [bold]loud[/bold]?"
)


def test_a_hostile_question_is_escaped_in_text_md_and_html(
    conf_ws: Workspace, cli: Invoke, conference_server: str
) -> None:
    """HTML, a Markdown link, emphasis, a line break that would start a heading, a
    terminal escape and rich markup, asked on the server: each report format shows it as
    text, for itself."""
    define(conf_ws, "hostile", datetime.now(UTC) - timedelta(minutes=1))
    assert cli("conference", "open", "-c", "hostile").exit_code == 0
    ask(conference_server, JOURNALISTS[3], f"@{HOST} {HOSTILE}")
    conf = conference.load(conf_ws, "hostile")
    [q] = conference.poll(conf_ws, conf).new
    assert "\x1b[2J" in q.text and "<script>" in q.text  # the text as asked, kept as such

    def report(fmt: str) -> str:
        result = cli("report", "--conference", "hostile", "--format", fmt)
        assert result.exit_code == 0, result.output
        return result.stdout

    text = report("text")
    assert "\x1b" not in text and "\\x1b[2J" in text  # the escape is shown, not obeyed
    assert "[bold]loud[/bold]" in text and "[this](https://evil.example/x)" in text
    assert "\n    # not a heading" in text  # the second line stays under its entry
    md = report("md")
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "](https://evil.example" not in md and "**now**" not in md
    assert "\n# not a heading" not in md and "\x1b" not in md
    html = report("html")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://evil.example' not in html and "\x1b" not in html
