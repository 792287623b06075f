"""The conference report's renderers with hostile user text: every format escapes it for
itself, line breaks cannot forge an entry, thread parts stay apart, private questions are
marked, repeats name the question they repeat, an early opening says why."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from prcast.conference.report import ConferenceReport, Entry, to_html, to_markdown, to_text

HOSTILE = (
    'Is it safe? <script>alert("x")</script> see [the offer](https://evil.example/win) '
    "*now*\nQ99 09:00 @forged: a second line | with a pipe \x1b[31mred\x1b[0m"
)


def entry(qid: str, status: str, **fields: object) -> Entry:
    base: dict[str, object] = {
        "qid": qid, "channel": "masto", "author": "reporter1", "author_name": "R 1",
        "via": "mention", "private": False, "question": HOSTILE,
        "asked_at": "2026-12-01T14:01:00+00:00", "question_url": "https://m.example/@r/1",
        "question_id": qid[1:], "status": status,
    }  # fmt: skip
    base.update(fields)
    return Entry(**base)  # type: ignore[arg-type]


def report(public: bool = False) -> ConferenceReport:
    entries = [
        entry("Q1", "answered", answer_parts=["First part (1/2)", "Second part (2/2)"],
              answer="First part (1/2)\n\nSecond part (2/2)",
              answered_at="2026-12-01T14:03:00+00:00", latency_seconds=120.0,
              answer_urls=["https://m.example/@press/2", "javascript:alert(1)"]),
        entry("Q2", "answered", private=True, via="direct", question="my salary question",
              answer_parts=["private answer"], answer="private answer",
              answered_at="2026-12-01T14:04:00+00:00", latency_seconds=60.0),
        entry("Q3", "open", private=True, via="direct", question="another private one"),
        entry("Q4", "duplicate", duplicate_of="Q1", question="Is it safe, again?"),
    ]  # fmt: skip
    if public:
        entries = [e for e in entries if not e.private]
    return ConferenceReport(
        name="launch", title="The <b>repair</b> workshop", zone="Europe/Berlin",
        start="2026-12-01T14:00:00+00:00", end="2026-12-01T15:00:00+00:00",
        announced_at=None, opened_at="2026-12-01T13:50:00+00:00",
        closed_at="2026-12-01T14:59:30+00:00", status="closed", entries=entries,
        stats={"questions": 3, "answered": 2, "skipped": 0, "unanswered": 1, "duplicates": 1,
               "before_opening": 0, "private": 0 if public else 2, "participants": 1,
               "questions_per_minute": 0.1, "median_response_seconds": 90.0,
               "p90_response_seconds": 120.0, "minutes": 69.5},
        audit_ok=True, audit_message="audit chain verified", posts=[], public=public,
        withheld=2 if public else 0,
        opened_early={"reason": "all <panellists> are here", "by": "tom", "minutes_before": 10.0},
    )  # fmt: skip


def test_text_report_neutralises_terminal_escapes_and_line_breaks() -> None:
    text = to_text(report())
    assert "\x1b" not in text and "\\x1b[31mred" in text
    # the second line of the question is indented under its entry, never an entry of its own
    assert not re.search(r"^Q99", text, re.M) and re.search(r"^    Q99 09:00 @forged", text, re.M)
    lines = text.splitlines()
    assert any(line.startswith("Q1 ") for line in lines)
    # thread parts on lines of their own, numbered
    assert "     [1/2] First part (1/2)" in lines and "     [2/2] Second part (2/2)" in lines
    assert "Q2 15:01:00 @reporter1 (private: direct message): my salary question" in text
    assert "Opened early, 10 min 00 s before the start, by tom: all <panellists> are here" in text
    assert "Q4 15:01:00 @reporter1 repeats Q1: Is it safe, again?" in text


def test_markdown_report_escapes_html_links_and_emphasis() -> None:
    md = to_markdown(report())
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "[the offer](" not in md and r"\[the offer\]\(https://evil.example/win\)" in md
    assert r"\*now\*" in md and "<b>repair</b>" not in md
    assert "javascript:" not in md  # only web addresses become links
    # a question's line break and pipe stay inside its table row
    row = next(line for line in md.splitlines() if line.startswith("| Q1 |"))
    assert "<br>Q99" in row and r"\| with a pipe" in row and row.count(" | ") == 6
    assert "**1/2** First part" in row and "<br><br>**2/2** Second part" in row
    assert "| Q2 |" in md and "(private: DM)" in md  # internal edition: marked
    assert "- Q3 " in md and md.count("(private: DM)") == 2
    assert "## Repeated questions" in md and "repeats Q1: Is it safe, again?" in md
    assert r"all &lt;panellists&gt; are here" in md


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]


def test_html_report_escapes_and_marks_private_questions_everywhere() -> None:
    page = to_html(report())
    parsed = _Collect()
    parsed.feed(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags
    assert "&lt;script&gt;" in page
    assert not any(h.startswith("javascript:") for h in parsed.hrefs)
    assert "https://evil.example/win" not in parsed.hrefs  # text, not a link
    assert '<ol class="thread"><li>First part (1/2)</li><li>Second part (2/2)</li></ol>' in page
    not_answered = page.split("<h2>Not answered</h2>")[1].split("<h2>")[0]
    assert 'id="Q3"' in not_answered and "(private: DM)" in not_answered
    repeats = page.split("<h2>Repeated questions</h2>")[1]
    assert "Q4" in repeats and 'repeats <a href="#Q1">Q1</a>' in repeats
    assert "Opened early" in page and "all &lt;panellists&gt; are here" in page


def test_public_edition_leaves_private_questions_out_of_every_format() -> None:
    rep = report(public=True)
    for rendered in (to_text(rep), to_markdown(rep), to_html(rep)):
        assert "salary" not in rendered and "another private one" not in rendered
        assert "Q2" not in rendered and "Q3" not in rendered
        assert "private: D" not in rendered
        assert "2 sent by direct message left out of this public edition" in rendered


def test_timeline_labels_are_clear_of_the_dots_and_inside_the_image() -> None:
    from prcast.conference.report import timeline_svg

    svg = timeline_svg(report(), width=900)
    # the closing is the last moment: its label ends at its line instead of running off
    closed = re.search(r'<text class="closed-label" x="([\d.]+)" [^>]*text-anchor="(\w+)"', svg)
    assert closed and closed.group(2) == "end" and float(closed.group(1)) <= 900
    opened = re.search(r'<text class="opened-label" x="([\d.]+)" y="(\d+)"', svg)
    assert opened and int(opened.group(2)) < 60 - 5  # above the row of question dots
    # the earliest question's dot starts right of the row labels ("Questions", 12px)
    xs = [float(x) for x in re.findall(r'<circle class="question [^"]*" cx="([\d.]+)"', svg)]
    assert min(xs) - 5 > 8 + len("Questions") * 7


def test_a_workspace_template_overrides_the_shipped_transcript(tmp_path: Path) -> None:
    (tmp_path / "conference").mkdir()
    (tmp_path / "conference" / "report.md.j2").write_text(
        "# {{ r.title | md }}\n{% for e in r.answered %}* {{ e.qid }}: {{ e.question | md }}\n"
        "{% endfor %}",
        encoding="utf-8",
    )
    md = to_markdown(report(public=True), tmp_path)
    assert md.startswith("# The &lt;b&gt;repair&lt;/b&gt; workshop\n* Q1: Is it safe?")
    assert "[the offer](" not in md and "salary" not in md
    # the other formats still come from the shipped templates
    assert to_text(report(), tmp_path).startswith("Conference report: The <b>repair</b> workshop")
