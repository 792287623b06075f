"""What a conference records, on mastodon-mock: an answer given again is audited once, an
early opening is shown as such, a post found by two routes keeps both, and nothing changes
after the closing post except through an audited `reopen`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from prcast import conference
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
