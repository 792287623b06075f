"""The post-event report of a conference: transcript, unanswered questions, statistics, an
SVG timeline (HTML), and whether the audit chain verified for the period it covers.

Built from the state store and the audit log only; every question and answer of the
report is looked up in the audit log, and the report says how many were found there."""

from __future__ import annotations

import html
import re
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prcast.conference.book import (
    ANSWERED,
    DUPLICATE,
    OPEN,
    SKIPPED,
    Book,
    Question,
    answer_runs,
    settle_answers,
)
from prcast.conference.definition import Conference
from prcast.report import chain_status
from prcast.store import DELIVERED
from prcast.workspace import Workspace


@dataclass
class Entry:
    """One question of the transcript, with its answer."""

    qid: str
    channel: str
    author: str
    author_name: str
    via: str
    private: bool
    question: str
    asked_at: str
    question_url: str | None
    question_id: str
    status: str
    answer: str | None = None
    answered_at: str | None = None
    #: seconds from when the question could be answered (asked, or the opening if asked
    #: before it) to the answer's first post
    latency_seconds: float | None = None
    answer_parts: list[str] = field(default_factory=list)
    answer_ids: list[str] = field(default_factory=list)
    answer_urls: list[str] = field(default_factory=list)
    reason: str | None = None
    duplicate_of: str | None = None


@dataclass
class ConferenceReport:
    name: str
    title: str
    zone: str
    start: str
    end: str
    announced_at: str | None
    opened_at: str | None
    closed_at: str | None
    status: str
    entries: list[Entry]
    stats: dict[str, Any]
    audit_ok: bool
    audit_message: str
    posts: list[dict[str, Any]]
    #: the public edition: questions sent by direct message (and their answers) left out
    public: bool = False
    #: how many were left out of it
    withheld: int = 0
    #: the audited early opening: reason, who, how long before the start
    opened_early: dict[str, Any] | None = None
    #: the audited reopenings after a close: when, reason, who
    reopened: list[dict[str, Any]] = field(default_factory=list)

    @property
    def repeats(self) -> list[Entry]:
        return [e for e in self.entries if e.status == DUPLICATE]

    @property
    def answered(self) -> list[Entry]:
        return [e for e in self.entries if e.status == ANSWERED]

    @property
    def unanswered(self) -> list[Entry]:
        return [e for e in self.entries if e.status in (OPEN, SKIPPED)]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unanswered"] = [e.qid for e in self.unanswered]
        return data


def _percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (nearest rank) of `values`."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def build(ws: Workspace, conf: Conference, *, public: bool = False) -> ConferenceReport:
    """The report; `public`: the edition meant for publication, without the questions sent
    by direct message and their answers (they are private)."""
    with Book(ws, conf) as book:
        settle_answers(book)
        state = book.state()
        questions = book.questions()
        answers = answer_runs(book)
        posts_runs = book.all_posts()
        deliveries = {run_id: book.store.deliveries(run_id) for _, _, run_id in posts_runs}
    log = ws.audit()
    chain_ok, chain = chain_status(log)
    run_ids = {run_id for _, _, run_id in posts_runs}
    audited_questions: set[str] = set()
    succeeded: dict[str, str] = {}  # delivery key -> when the service took it
    first = last = None
    early: dict[str, Any] | None = None
    reopened: list[dict[str, Any]] = []
    for rec in log.records():
        mine = rec.get("conference") == conf.name or rec.get("run") in run_ids
        if not mine:
            continue
        first = first or rec
        last = rec
        if rec["type"] == "conference.opened_early":
            early = {"reason": rec.get("reason"), "by": rec.get("by"), "at": rec["ts"]}
        elif rec["type"] == "conference.reopened":
            reopened.append({"at": rec["ts"], "reason": rec.get("reason"), "by": rec.get("by")})
        elif rec["type"] == "conference.question":
            audited_questions.add(f"{rec['channel']}\x00{rec['remote_id']}")
        elif rec["type"] == "delivery.succeeded":
            succeeded[rec["key"]] = rec["ts"]
    opened = state.opened_at
    entries = []
    for q in questions:
        entry = _entry(q)
        run_id = answers.get(q.qid)
        if run_id:
            parts = sorted((d for d in deliveries[run_id] if d.part), key=lambda d: d.part)
            entry.answer_parts = [str(d.post.get("text", "")) for d in parts]
            entry.answer = "\n\n".join(entry.answer_parts)
            first_part = parts[0]
            entry.answered_at = succeeded.get(first_part.key, first_part.updated_at)
            since = max(q.asked_at, opened) if opened else q.asked_at
            entry.latency_seconds = round(
                (datetime.fromisoformat(entry.answered_at) - since).total_seconds(), 1
            )
            entry.answer_ids = [d.remote_id or "" for d in parts]
            entry.answer_urls = [d.url or "" for d in parts]
        entries.append(entry)
    if opened and early is not None:
        early["minutes_before"] = round((conf.start - opened).total_seconds() / 60, 1)
    withheld = {e.qid for e in entries if e.private} if public else set()
    entries = [e for e in entries if e.qid not in withheld]
    posts = []
    for kind, qid, run_id in posts_runs:
        if qid in withheld:
            continue
        for d in deliveries[run_id]:
            if d.part and d.status == DELIVERED:
                posts.append({"kind": kind, "qid": qid, "channel": d.channel, "part": d.part,
                              "remote_id": d.remote_id, "url": d.url,
                              "at": succeeded.get(d.key, d.updated_at)})  # fmt: skip
    counted = [e for e in entries if e.status != DUPLICATE]
    latencies = [e.latency_seconds for e in entries if e.latency_seconds is not None]
    window_start = opened or conf.start
    window_end = state.closed_at or conf.end
    minutes = max((window_end - window_start).total_seconds() / 60, 1 / 60)
    during = [
        e for e in counted if window_start <= datetime.fromisoformat(e.asked_at) <= window_end
    ]
    stats = {
        "questions": len(counted),
        "answered": sum(1 for e in counted if e.status == ANSWERED),
        "skipped": sum(1 for e in counted if e.status == SKIPPED),
        "unanswered": sum(1 for e in counted if e.status == OPEN),
        "duplicates": len(entries) - len(counted),
        "before_opening": sum(
            1 for e in counted if opened and datetime.fromisoformat(e.asked_at) < opened
        ),
        "private": sum(1 for e in counted if e.private),
        "participants": len({(e.channel, e.author) for e in entries}),
        "questions_per_minute": round(len(during) / minutes, 2),
        "median_response_seconds": round(statistics.median(latencies), 1) if latencies else None,
        "p90_response_seconds": _percentile(latencies, 90),
        "minutes": round(minutes, 1),
    }
    in_log = sum(1 for q in questions if f"{q.channel}\x00{q.remote_id}" in audited_questions)
    answers_in_log = sum(
        1
        for e in entries
        if e.status == ANSWERED
        and all(d.key in succeeded for d in deliveries[answers[e.qid]] if d.part)
    )
    period = (
        f"records {first['seq']}-{last['seq']}, {first['ts'][:19]} to {last['ts'][:19]} UTC"
        if first and last
        else "no records"
    )
    audit_ok = chain_ok and in_log == len(questions) and answers_in_log == stats["answered"]
    audit_message = (
        f"{chain}; this conference: {period}; {in_log} of {len(questions)} questions and "
        f"{answers_in_log} of {stats['answered']} answers found in it"
    )
    return ConferenceReport(
        name=conf.name,
        title=conf.title,
        zone=conf.zone,
        start=conf.start.isoformat(),
        end=conf.end.isoformat(),
        announced_at=state.announced_at.isoformat() if state.announced_at else None,
        opened_at=opened.isoformat() if opened else None,
        closed_at=state.closed_at.isoformat() if state.closed_at else None,
        status=state.status,
        entries=entries,
        stats=stats,
        audit_ok=audit_ok,
        audit_message=audit_message,
        posts=posts,
        public=public,
        withheld=len(withheld),
        opened_early=early,
        reopened=reopened,
    )


def _entry(q: Question) -> Entry:
    return Entry(
        qid=q.qid,
        channel=q.channel,
        author=q.author,
        author_name=q.author_name,
        via=q.via,
        private=q.private,
        question=q.text,
        asked_at=q.asked_at.isoformat(),
        question_url=q.url,
        question_id=q.remote_id,
        status=q.status,
        reason=q.reason,
        duplicate_of=q.duplicate_of,
    )


def _clock(iso: str | None, zone: str) -> str:
    if not iso:
        return "-"
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    m, s = divmod(round(value), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def _stats_lines(r: ConferenceReport) -> list[str]:
    s = r.stats
    dm = (
        f"{r.withheld} sent by direct message left out of this public edition"
        if r.public
        else f"{s['private']} by direct message, private"
    )
    return [
        f"Questions: {s['questions']} ({s['before_opening']} before the opening; {dm}), "
        f"{s['duplicates']} repeated questions set aside",
        f"Answered: {s['answered']}, skipped: {s['skipped']}, unanswered: {s['unanswered']}",
        f"Participants: {s['participants']}; questions per minute while open: {s['questions_per_minute']}",
        f"Response time: median {_seconds(s['median_response_seconds'])}, "
        f"90th percentile {_seconds(s['p90_response_seconds'])}",
    ]


def _when(r: ConferenceReport) -> str:
    return (
        f"{_day(r.start, r.zone)} {_clock(r.start, r.zone)}-{_clock(r.end, r.zone)} {r.zone}; "
        f"opened {_clock(r.opened_at, r.zone)}, closed {_clock(r.closed_at, r.zone)}"
    )


def _notes(r: ConferenceReport) -> list[str]:
    """The audited departures from the plan, in words (user text: escape for the format)."""
    notes = []
    if r.opened_early:
        early = r.opened_early
        minutes = early.get("minutes_before")
        ahead = f"{_seconds(minutes * 60)} before the start" if minutes is not None else "early"
        notes.append(
            f"Opened early, {ahead}, by {early.get('by') or '?'}: {early.get('reason') or ''}"
        )
    for again in r.reopened:
        notes.append(
            f"Reopened after the close at {_clock(again['at'], r.zone)} by "
            f"{again.get('by') or '?'}: {again.get('reason') or ''}"
        )
    return notes


def _day(iso: str, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str, indent: str = "    ") -> str:
    """User text for the text report: control characters (a terminal's escape sequences)
    shown as \\xNN, every line after the first indented, so a line break cannot start
    what looks like an entry of its own."""
    text = text.replace("\r\n", "\n").replace("\t", " ")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return ("\n" + indent).join(text.split("\n"))


def _edition(r: ConferenceReport) -> str:
    if r.public:
        return "Public edition: questions sent by direct message and their answers are left out."
    return "Internal edition: includes the questions sent by direct message (marked private)."


def to_text(r: ConferenceReport, templates: Path | None = None) -> str:
    """The report for a terminal (templates/conference/report.txt.j2)."""
    return _render(r, "txt", templates)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|~])")


def _md(text: str) -> str:
    """User text inside Markdown: HTML neutralised (a Markdown renderer passes raw HTML
    through), every character that could make a link, emphasis, code or a table cell
    escaped, line breaks kept as <br>."""
    text = html.escape(text.replace("\r\n", "\n"), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _CONTROL.sub("", text.replace("\n", "<br>"))
    return text


def _safe_url(url: str | None) -> str | None:
    """Only web addresses become links."""
    return url if url and re.match(r"https?://", url) else None


def _md_link(label: str, url: str | None) -> str:
    url = _safe_url(url)
    if not url:
        return label
    return f"[{label}](<{url.replace('<', '%3C').replace('>', '%3E').replace(' ', '%20')}>)"


def _md_answer(e: Entry) -> str:
    if len(e.answer_parts) <= 1:
        return _md(e.answer or "")
    return "<br><br>".join(
        f"**{i}/{len(e.answer_parts)}** {_md(p)}" for i, p in enumerate(e.answer_parts, 1)
    )


def to_markdown(r: ConferenceReport, templates: Path | None = None) -> str:
    """The report in Markdown (templates/conference/report.md.j2)."""
    return _render(r, "md", templates)


def _render(r: ConferenceReport, fmt: str, templates: Path | None) -> str:
    """One of the transcripts from its template (a workspace's templates/ overrides the
    shipped one), with the escaping filters of its format: `plain` (text), `md`, and for
    HTML the environment's autoescape plus `lines` (line breaks as <br>)."""
    from markupsafe import Markup

    from prcast.render import environment

    env = environment(templates).overlay()
    env.filters.update(
        plain=plain,
        md=_md,
        seconds=_seconds,
        web=lambda url: _safe_url(url) is not None,
        lines=lambda text: Markup("<br>").join(_CONTROL.sub("", str(text)).split("\n")),
    )
    text = env.get_template(f"conference/report.{fmt}.j2").render(
        r=r,
        when=_when(r),
        notes=_notes(r),
        edition=_edition(r),
        stats=_stats_lines(r),
        clock=lambda iso: _clock(iso, r.zone),
        link=_md_link,
        answer=_md_answer,
        links=lambda e: " ".join(_md_link(f"post {i}", u) for i, u in enumerate(e.answer_urls, 1)),
        timeline=Markup(timeline_svg(r)) if fmt == "html" else "",
    )
    return text if text.endswith("\n") else text + "\n"


def timeline_svg(r: ConferenceReport, width: int = 900, height: int = 190) -> str:
    """Questions (top row) and answers (bottom row) over the conference, each answer joined
    to its question; the opening and closing as vertical lines; a tick every 10 minutes."""
    e = html.escape
    moments = [datetime.fromisoformat(x.asked_at) for x in r.entries]
    moments += [datetime.fromisoformat(x.answered_at) for x in r.entries if x.answered_at]
    for bound in (r.opened_at, r.closed_at):
        if bound:
            moments.append(datetime.fromisoformat(bound))
    start = min(moments, default=datetime.fromisoformat(r.start))
    end = max(moments, default=datetime.fromisoformat(r.end))
    span = max((end - start).total_seconds(), 60.0)
    # the row labels end before `left` (an early question's dot never covers them); the
    # opening's and closing's labels sit on their own line above the dots
    left, right, q_y, a_y = 90, width - 20, 60, 130

    def x(iso: str) -> float:
        return round(
            left + (right - left) * (datetime.fromisoformat(iso) - start).total_seconds() / span, 1
        )

    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="timeline-title">',
        f'<title id="timeline-title">Questions and answers over time: {e(r.title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>',
        f'<text x="8" y="{q_y + 4}" font-size="12">Questions</text>',
        f'<text x="8" y="{a_y + 4}" font-size="12">Answers</text>',
        f'<line x1="{left}" y1="{height - 30}" x2="{right}" y2="{height - 30}" stroke="#999"/>',
    ]
    step = timedelta(minutes=10 if span > 1200 else 1 if span < 600 else 5)
    tick = start.replace(second=0, microsecond=0)
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(r.zone)
    while tick <= end:
        if tick >= start:
            tx = x(tick.isoformat())
            parts.append(
                f'<line x1="{tx}" y1="{height - 34}" x2="{tx}" y2="{height - 26}" stroke="#999"/>'
                f'<text x="{tx}" y="{height - 12}" font-size="11" text-anchor="middle">'
                f"{tick.astimezone(zone):%H:%M}</text>"
            )
        tick += step
    for label, bound in (("opened", r.opened_at), ("closed", r.closed_at)):
        if bound:
            bx = x(bound)
            # near the right edge the label ends at the line rather than running off the image
            at_end = bx > width - 60
            lx, anchor = (bx - 3, "end") if at_end else (bx + 3, "start")
            parts.append(
                f'<line class="{label}" x1="{bx}" y1="22" x2="{bx}" y2="{height - 30}" '
                f'stroke="#555" stroke-dasharray="4 3"/><text class="{label}-label" x="{lx}" y="16" '
                f'font-size="11" text-anchor="{anchor}">{label}</text>'
            )
    colour = {ANSWERED: "#2a7", SKIPPED: "#999", OPEN: "#d33", DUPLICATE: "#ccc"}
    for entry in r.entries:
        qx = x(entry.asked_at)
        if entry.answered_at:
            ax = x(entry.answered_at)
            parts.append(
                f'<line x1="{qx}" y1="{q_y}" x2="{ax}" y2="{a_y}" stroke="#2a7" stroke-opacity=".4"/>'
                f'<rect class="answer" x="{ax - 4}" y="{a_y - 4}" width="8" height="8" fill="#2a7">'
                f"<title>{e(entry.qid)} answered {_clock(entry.answered_at, r.zone)}</title></rect>"
            )
        parts.append(
            f'<circle class="question {e(entry.status)}" cx="{qx}" cy="{q_y}" r="5" '
            f'fill="{colour.get(entry.status, "#d33")}"><title>{e(entry.qid)} @{e(entry.author)} '
            f"{_clock(entry.asked_at, r.zone)}: {e(entry.question[:120])}</title></circle>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def to_html(r: ConferenceReport, templates: Path | None = None) -> str:
    """The report as one HTML page with the timeline (templates/conference/report.html.j2)."""
    return _render(r, "html", templates)
