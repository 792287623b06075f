"""Posts out: the announcement, opening, answers and closing, each a run of the delivery
engine (nothing posted twice); skips, and the audited reopening after a close."""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from prcast import clock, i18n, limits
from prcast.channels.base import Limits
from prcast.conference.book import (
    ANNOUNCED,
    ANSWERED,
    CLOSED,
    DUPLICATE,
    LIVE,
    OPEN,
    PLANNED,
    SKIPPED,
    Book,
    Question,
    State,
    _duration,
    _mark_answered,
    _refuse_when_closed,
    _stamp,
    _working_on,
    let_go,
    moderator,
    take,
)
from prcast.conference.definition import Conference
from prcast.conference.intake import poll
from prcast.delivery import Event, Outcome, Plan, make_plan, record_plan, run_deliveries
from prcast.delivery.plan import ledger_position
from prcast.errors import InputError
from prcast.release import Release
from prcast.render import (
    Rendering,
    effective_limits,
    environment,
    render_template,
    thread_posts,
)
from prcast.text.counting import measurer
from prcast.workspace import Workspace

# --- posting -------------------------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_policy(ws: Workspace, text: str, what: str) -> None:
    """The confidentiality policy applies to everything a conference posts."""
    from prcast import policy

    rules = policy.load_policy(ws.root)
    blocking = [f for f in policy.check_text(rules, text) if f.action == "block"]
    if blocking:
        ws.audit().append("policy.blocked", what=what, findings=policy.finding_records(blocking))
        shown = "\n".join(
            f"{what}, line {f.line}: {f.action}: {f.rule}: {f.message}" for f in blocking
        )
        raise InputError(
            f"blocked by the confidentiality policy:\n{shown}",
            hint="reword it; nothing was posted",
        )


def _plan_post(
    ws: Workspace,
    conf: Conference,
    kind: str,
    text: str,
    channels: Sequence[str],
    question: Question | None = None,
    target: str | None = None,
) -> Plan:
    release = Release(
        id=f"conference-{conf.name}",
        path=conf.path,
        title=conf.title,
        body=text,
        hashtags=(conf.hashtag,),
        language=conf.language,
        sha256=_sha(text),
    )
    cached = limits.cached_limits(ws)
    renderings = []
    for name in channels:
        channel = ws.config.channel(name)
        lim = effective_limits(channel, cached.get(name))
        measure = measurer(channel.rule, url_length=lim.url_length)
        fields: dict[str, Any] = {
            "target": f"{kind}:{question.qid}" if question else target or kind
        }
        body = text
        if question is not None:
            fields["reply_to"] = {"remote_id": question.remote_id, "url": question.url or ""}
            fields["reply_to"].update(question.extra)
            if question.private:  # answered privately: the adapter addresses the asker
                fields["recipients"] = (question.author,)
            body, lim = reply_shape(question, text, lim, measure)
        posts = thread_posts(release, channel, body, lim, measure, **fields)
        renderings.append(Rendering(channel, kind, body, tuple(posts)))
    workspace, edition = ledger_position(ws, release.id)
    return make_plan(release, renderings, workspace, release.id, edition)


def reply_shape(
    question: Question, text: str, lim: Limits, measure: Callable[[str], int]
) -> tuple[str, Limits]:
    """The text an answer posts and the limit it must meet: a public answer starts with
    the asker's @mention; a private one leaves the mention to the adapter (which adds it),
    so the limit leaves room for it."""
    mention = f"@{question.author} "
    if question.private:
        return text, replace(lim, max_length=lim.max_length - measure(mention))
    return mention + text, lim


def _deliver(
    ws: Workspace,
    conf: Conference,
    kind: str,
    text: str,
    plan: Plan,
    on_event: Callable[[Event], None],
    question: Question | None = None,
) -> Outcome:
    """Check the policy on `text`, then record and deliver its `plan` (see `_plan_post`)."""
    _check_policy(ws, text, f"the {kind}" if question is None else f"the answer to {question.qid}")
    for channel in {r.channel for r in plan.renderings}:
        for secret in channel.secrets():
            secret.resolve()
    new = record_plan(ws, plan)
    with Book(ws, conf) as book:
        book.store.conference_add_post(
            conf.name, kind, question.qid if question else "", plan.run_id
        )
    return run_deliveries(ws, plan.run_id, on_event, new_run=new)


def render_post(ws: Workspace, conf: Conference, kind: str) -> str:
    """The text of the announcement, opening or closing post."""
    env = environment(ws.templates_dir)
    counts: dict[str, int] = {}
    with Book(ws, conf) as book:
        for q in book.questions():
            counts[q.status] = counts.get(q.status, 0) + 1
    start, end = conf.local(conf.start), conf.local(conf.end)
    locale = i18n.negotiate(conf.language)
    begins, ends = i18n.moment_parts(start, locale), i18n.moment_parts(end, locale)
    context = {
        "language": conf.language,
        "locale": locale,
        "conference": conf,
        "title": conf.title,
        "hashtag": "#" + conf.hashtag,
        "host": conf.host,
        "moderators": conf.moderators,
        "start": i18n.format_moment(start, locale),
        "start_time": f"{begins['time']} {begins['zone']}",
        "end_time": f"{ends['time']} {ends['zone']}",
        "answered": counts.get(ANSWERED, 0),
        "questions": sum(v for k, v in counts.items() if k != DUPLICATE),
    }
    return render_template(env, conf.templates[kind], context).strip()


def announce(
    ws: Workspace, conf: Conference, on_event: Callable[[Event], None] = lambda e: None
) -> Outcome:
    """The advance post inviting questions, with the hashtag."""
    with Book(ws, conf) as book:
        state = book.state()
    if state.status == CLOSED:
        raise InputError(f'conference "{conf.name}" is closed')
    started = clock.now()  # questions count from the moment the post was on its way
    text = render_post(ws, conf, "announcement")
    plan = _plan_post(ws, conf, "announcement", text, conf.channels)
    outcome = _deliver(ws, conf, "announcement", text, plan, on_event)
    if outcome.ok:
        with Book(ws, conf) as book:
            status = book.state().status
            book._set_state(ANNOUNCED if status == PLANNED else status, "announced_at", started)
            book.audit.append("conference.announced", conference=conf.name, run=outcome.run_id)
    return outcome


def open_conference(
    ws: Workspace,
    conf: Conference,
    on_event: Callable[[Event], None] = lambda e: None,
    *,
    early_reason: str | None = None,
) -> Outcome:
    """The opening post, at the start time (before it only with a reason, which is audited)."""
    now = clock.now()
    with Book(ws, conf) as book:
        state = book.state()
        if state.status == CLOSED:
            raise InputError(f'conference "{conf.name}" is closed')
        if now < conf.start:
            if not early_reason:
                raise InputError(
                    f'conference "{conf.name}" starts at {conf.local(conf.start):%Y-%m-%d %H:%M %Z}, '
                    f"in {_duration(conf.start - now)}: not opened",
                    hint='to open early anyway: --early --reason "why"',
                )
            book.audit.append(
                "conference.opened_early",
                conference=conf.name,
                start=conf.start.isoformat(),
                reason=early_reason,
                by=getpass.getuser(),
            )
    started = clock.now()
    text = render_post(ws, conf, "opening")
    plan = _plan_post(ws, conf, "opening", text, conf.channels)
    outcome = _deliver(ws, conf, "opening", text, plan, on_event)
    if outcome.ok:
        with Book(ws, conf) as book:
            if book.state().status != LIVE:
                book._set_state(LIVE, "opened_at", started)
                book.audit.append("conference.opened", conference=conf.name, run=outcome.run_id)
    return outcome


def close_conference(
    ws: Workspace, conf: Conference, on_event: Callable[[Event], None] = lambda e: None
) -> Outcome:
    """A last intake, then the closing post; no question is taken in after it."""
    with Book(ws, conf) as book:
        state = book.state()
    if state.opened_at is None:
        raise InputError(
            f'conference "{conf.name}" was never opened', hint="prcast conference open"
        )
    if state.status != CLOSED:
        poll(ws, conf)
    # every question held while the closing post goes out: an answer being posted at this
    # moment finishes first (closing is refused, naming who), none starts until it is closed
    with _holding_every_question(ws, conf):
        text = render_post(ws, conf, "closing")
        # closing again after a reopening is a post of its own; closing twice is not
        target = f"closing:{state.reopened + 1}" if state.reopened else "closing"
        plan = _plan_post(ws, conf, "closing", text, conf.channels, target=target)
        outcome = _deliver(ws, conf, "closing", text, plan, on_event)
        if outcome.ok:
            with Book(ws, conf) as book:
                if book.state().status != CLOSED:
                    book._set_state(CLOSED, "closed_at", clock.now())
                    book.audit.append("conference.closed", conference=conf.name, run=outcome.run_id)
    return outcome


@contextmanager
def _holding_every_question(ws: Workspace, conf: Conference) -> Iterator[None]:
    """Take every question of the conference for this command (refused, naming who, when a
    moderator holds one), and let them go at the end."""
    from prcast.delivery import claims

    who = moderator()
    held: list[str] = []
    with claims.Lease(ws.database, "conference close") as lease, Book(ws, conf) as book:
        try:
            for q in book.questions():
                try:
                    take(book, q.qid, lease.id, who)
                except InputError as exc:
                    raise InputError(
                        f'conference "{conf.name}" not closed: {exc.message}',
                        hint="close it when that answer or skip is done",
                    ) from None
                held.append(q.qid)
            yield
        finally:
            for qid in held:
                let_go(book, qid, lease.id)


def reopen(ws: Workspace, conf: Conference, reason: str) -> State:
    """Open a closed conference again, with the reason (audited): the only way to change its
    record after the closing post. Intake, answers and skips work again until the next close."""
    if not reason.strip():
        raise InputError('say why the conference opens again: --reason "why"')
    with Book(ws, conf) as book:
        state = book.state()
        if state.status != CLOSED:
            raise InputError(f'conference "{conf.name}" is not closed ({state.status})')
        if not book.store.conference_reopen(conf.name, LIVE):
            raise InputError(f'conference "{conf.name}" was opened again meanwhile')
        book.audit.append(
            "conference.reopened",
            conference=conf.name,
            closed_at=_stamp(state.closed_at) if state.closed_at else None,
            reason=reason.strip(),
            by=getpass.getuser(),
        )
        return book.state()


# --- answering -----------------------------------------------------------------------------


def answer(
    ws: Workspace,
    conf: Conference,
    qid: str,
    text: str,
    on_event: Callable[[Event], None] = lambda e: None,
    *,
    owner: str | None = None,
    by: str | None = None,
) -> Outcome:
    """Post `text` as a reply to the question (threaded when long); private questions are
    answered privately. An answer already under way is finished, never posted twice. The
    question is held while it is posted (as `owner`, a screen's lease, or as this call's
    own): a question another moderator holds, skipped or answered differently is refused,
    naming them."""
    text = text.strip()
    if not text:
        raise InputError("the answer is empty")
    who = by or moderator()
    with Book(ws, conf) as book:
        q = book.question(qid)
        _refuse_when_closed(book, "no more answers")
    with _working_on(ws, conf, q.qid, owner, who):
        with Book(ws, conf) as book:
            q = book.question(qid)
            _refuse_when_closed(book, "no more answers")
            if q.status == DUPLICATE:
                raise InputError(f"{q.qid} repeats {q.duplicate_of}: answer {q.duplicate_of}")
            if q.status == SKIPPED and q.done_by and q.done_by != who:
                raise InputError(
                    f"{q.qid} was skipped by {q.done_by}: {q.reason}", hint="not answered"
                )
            earlier = book.posts("answer", q.qid)
            plan = _plan_post(ws, conf, "answer", text, [q.channel], q)
            for run_id in earlier:
                if run_id == plan.run_id:
                    continue
                rows = book.store.deliveries(run_id)
                if any(r.status != "failed" and r.status != "planned" for r in rows):
                    by_whom = f" by {q.done_by}" if q.done_by else ""
                    raise InputError(
                        f"{q.qid} has an answer already{by_whom} (run {run_id}): not answered again",
                        hint=f"`prcast resume {run_id}` finishes it if it was cut off",
                    )
        outcome = _deliver(ws, conf, "answer", text, plan, on_event, q)
        if outcome.ok:
            with Book(ws, conf) as book:
                _mark_answered(book, q.qid, outcome.run_id, who)
    return outcome


@contextmanager
def _changing(
    ws: Workspace, conf: Conference, qid: str, owner: str | None, who: str
) -> Iterator[tuple[Book, Question]]:
    """The book and the question `qid` as it stands, held by `who` (as `owner`, a screen's
    lease, or as this call's own) while a change is made to it. Refused after the close."""
    with Book(ws, conf) as book:
        q = book.question(qid)
        _refuse_when_closed(book, "nothing changes")
    with _working_on(ws, conf, q.qid, owner, who), Book(ws, conf) as book:
        _refuse_when_closed(book, "nothing changes")
        yield book, book.question(q.qid)


def skip(
    ws: Workspace,
    conf: Conference,
    qid: str,
    reason: str,
    *,
    owner: str | None = None,
    by: str | None = None,
) -> Question:
    """Mark a question as not to be answered, with the reason (audited). Refused, naming
    who, when another moderator holds it, answered it or skipped it."""
    if not reason.strip():
        raise InputError("say why the question is skipped: --reason TEXT")
    who = by or moderator()
    with _changing(ws, conf, qid, owner, who) as (book, q):
        if q.status == SKIPPED and q.done_by and q.done_by != who:
            raise InputError(f"{q.qid} was skipped already by {q.done_by}: {q.reason}")
        if not book.store.conference_change_status(
            conf.name, q.qid, SKIPPED, reason.strip(), (ANSWERED, DUPLICATE), who
        ):
            by_whom = f" by {q.done_by}" if q.done_by else ""
            raise InputError(f"{q.qid} is {q.status} already{by_whom}")
        book.audit.append(
            "conference.skipped", conference=conf.name, qid=q.qid, reason=reason.strip(), by=who
        )
        return book.question(q.qid)


def unskip(
    ws: Workspace,
    conf: Conference,
    qid: str,
    *,
    owner: str | None = None,
    by: str | None = None,
) -> Question:
    """Take back a skip: the question is open again (audited, with the skip it takes back).
    Refused after the close, when another moderator holds the question, and when it is not
    skipped (answered, open, a repeat)."""
    who = by or moderator()
    with _changing(ws, conf, qid, owner, who) as (book, q):
        # compare-and-set: only a skipped question opens again; who skipped it is cleared
        if q.status != SKIPPED or not book.store.conference_change_status(
            conf.name, q.qid, OPEN, None, (OPEN, ANSWERED, DUPLICATE), ""
        ):
            by_whom = f" by {q.done_by}" if q.done_by else ""
            raise InputError(
                f"{q.qid} is {q.status}{by_whom}, not skipped: nothing to take back",
                hint="`prcast conference questions --all` shows what is skipped",
            )
        book.audit.append(
            "conference.unskipped",
            conference=conf.name,
            qid=q.qid,
            skipped_by=q.done_by,
            skip_reason=q.reason,
            by=who,
        )
        return book.question(q.qid)
