"""A press conference or expert chat over a microblog: announced in advance, questions taken
in from mentions, direct messages, replies and the hashtag, answered as replies, closed, and
reported afterwards.

Every post of a conference (announcement, opening, each answer, closing) goes through the
delivery engine as a run of its own, so a crash or a second attempt never posts twice: the
run id comes from the conference, the kind of post, the question and the exact text.
Questions are kept in the state store with a cursor per channel and source, inserted and
the cursor moved in one transaction, so a restarted intake neither loses nor repeats one;
each question is also written to the audit log with its remote id, author and time."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from prcast import clock, limits
from prcast.audit import AuditLog
from prcast.channels import open_channel
from prcast.channels.base import Incoming, Limits
from prcast.config import BlueskyConfig, ChannelConfig, MastodonConfig
from prcast.delivery import Event, Outcome, Plan, claims, make_plan, record_plan, run_deliveries
from prcast.delivery.plan import ledger_position
from prcast.errors import InputError, PrcastError, did_you_mean
from prcast.release import Release
from prcast.render import (
    Rendering,
    effective_limits,
    environment,
    render_template,
    thread_posts,
)
from prcast.store import DELIVERED, Owner, Store
from prcast.text.counting import measurer
from prcast.tomlfile import parse_toml
from prcast.workspace import Workspace

#: question statuses
OPEN, ANSWERED, SKIPPED, DUPLICATE = "open", "answered", "skipped", "duplicate"
#: conference statuses
PLANNED, ANNOUNCED, LIVE, CLOSED = "planned", "announced", "live", "closed"
KINDS = ("announcement", "opening", "closing")
DEFAULT_TEMPLATES = {k: f"conference/{k}.txt.j2" for k in KINDS}
FIELDS = {
    "title",
    "channels",
    "hashtag",
    "start",
    "end",
    "timezone",
    "host",
    "moderators",
    "language",
    "templates",
}


@dataclass(frozen=True)
class Conference:
    """A conference definition: conferences/NAME.toml."""

    name: str
    path: Path
    title: str
    channels: tuple[str, ...]
    hashtag: str  # without the "#"
    start: datetime  # UTC
    end: datetime  # UTC
    zone: str
    host: str
    moderators: tuple[str, ...]
    language: str
    templates: Mapping[str, str]
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.zone))

    def error(self, key: str, message: str, hint: str | None = None) -> InputError:
        return InputError(message, path=self.path, line=self.lines.get(key), hint=hint)


def conferences_dir(ws: Workspace) -> Path:
    return ws.root / "conferences"


def names(ws: Workspace) -> list[str]:
    d = conferences_dir(ws)
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def resolve_name(ws: Workspace, name: str | None) -> str:
    """The conference meant: `name`, or the only one the workspace has."""
    known = names(ws)
    if name:
        if name.endswith(".toml"):
            name = Path(name).stem
        if name not in known:
            raise InputError(
                f'no conference "{name}" in {conferences_dir(ws)}{did_you_mean(name, known)}',
                hint="`prcast conference new NAME` writes one to fill in",
            )
        return name
    if len(known) == 1:
        return known[0]
    if not known:
        raise InputError(
            f"no conference defined: {conferences_dir(ws)} has no .toml file",
            hint="`prcast conference new NAME` writes one to fill in",
        )
    raise InputError(
        f"this workspace has {len(known)} conferences ({', '.join(known)}): say which",
        hint="add --conference NAME",
    )


def _strings(doc: Any, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise doc.error((key,), f'field "{key}" must be a list of strings, e.g. {key} = ["a", "b"]')
    return tuple(v.strip() for v in value)


def load(ws: Workspace, name: str) -> Conference:
    """Read and check conferences/NAME.toml; every error names the file and line."""
    from prcast.release import LANGUAGE_TAG
    from prcast.schedule import parse_when

    path = conferences_dir(ws) / f"{name}.toml"
    doc = parse_toml(path.read_text(encoding="utf-8"), path)
    data = doc.data
    lines = {k[0]: doc.line_of(k) or 0 for k in doc.lines if len(k) == 1 and isinstance(k[0], str)}
    for key in data:
        if key not in FIELDS:
            raise doc.error(
                (key,),
                f'unknown field "{key}"{did_you_mean(key, FIELDS)}',
                hint=f"fields: {', '.join(sorted(FIELDS))}",
            )
    for key in ("title", "channels", "hashtag", "start", "end"):
        if key not in data:
            raise InputError(f'missing field "{key}"', path=path, line=1)

    def text(key: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise doc.error((key,), f'field "{key}" must be a non-empty string')
        return value.strip()

    channels = _strings(doc, "channels", data["channels"])
    if not channels:
        raise doc.error(("channels",), 'field "channels" names no channel')
    config = ws.config
    for ch in channels:
        if ch not in config.channels:
            raise doc.error(
                ("channels",),
                f'unknown channel "{ch}"{did_you_mean(ch, config.channels)}',
                hint=f"channels in channels.toml: {', '.join(config.channels)}",
            )
        c = config.channels[ch]
        if not isinstance(c, MastodonConfig | BlueskyConfig) or c.audience_only:
            raise doc.error(
                ("channels",),
                f'channel "{ch}" ({c.type}) cannot hold a conference: it needs a public '
                "Mastodon or Bluesky account that can take questions in",
            )
    hashtag = text("hashtag").lstrip("#")
    if not re.fullmatch(r"\w+", hashtag):
        raise doc.error(("hashtag",), f'hashtag "{hashtag}" may hold only letters, digits and _')
    zone = text("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise doc.error(
            ("timezone",),
            f'unknown time zone "{zone}"{did_you_mean(zone, available_timezones())}',
            hint="a name such as Europe/Berlin or UTC",
        ) from None
    when: dict[str, datetime] = {}
    for key in ("start", "end"):
        raw = data[key]
        value = raw.isoformat() if isinstance(raw, datetime) else text(key)
        has_offset = isinstance(raw, datetime) and raw.tzinfo is not None
        try:
            when[key], _ = parse_when(value if has_offset else f"{value.replace('T', ' ')} {zone}")
        except InputError as exc:
            raise doc.error((key,), exc.detail, exc.hint) from None
    if when["end"] <= when["start"]:
        raise doc.error(("end",), "the conference ends before it starts")
    language = text("language", "en")
    if not re.fullmatch(LANGUAGE_TAG, language):
        raise doc.error(("language",), f'"{language}" is not a language tag such as en or de-AT')
    templates = dict(DEFAULT_TEMPLATES)
    given = data.get("templates", {})
    if not isinstance(given, dict):
        raise doc.error(("templates",), 'field "templates" must be a table: [templates]')
    for key, value in given.items():
        if key not in KINDS:
            raise doc.error(
                ("templates", key),
                f'unknown template "{key}"{did_you_mean(key, KINDS)}',
                hint=f"templates: {', '.join(KINDS)}",
            )
        if not isinstance(value, str) or not value.strip():
            raise doc.error(("templates", key), f'template "{key}" must name a template file')
        templates[key] = value.strip()
    return Conference(
        name=name,
        path=path,
        title=text("title"),
        channels=channels,
        hashtag=hashtag,
        start=when["start"],
        end=when["end"],
        zone=zone,
        host=text("host", "our experts"),
        moderators=_strings(doc, "moderators", data.get("moderators", [])),
        language=language,
        templates=templates,
        lines=lines,
    )


def scaffold(ws: Workspace, name: str, channel: str, start: datetime, zone: str) -> Path:
    """Write conferences/NAME.toml to fill in."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError(f'"{name}" is not a usable name: letters, digits, ".", "-" and "_"')
    path = conferences_dir(ws) / f"{name}.toml"
    if path.exists():
        raise InputError(f"{path} exists already")
    local = start.astimezone(ZoneInfo(zone))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'title = "Ask us anything: {name}"\n'
        f'channels = ["{channel}"]\n'
        f'hashtag = "{re.sub(r"[^A-Za-z0-9_]", "", name.title())}"\n'
        f'start = "{local:%Y-%m-%d %H:%M}"\n'
        f'end = "{local + timedelta(hours=1):%Y-%m-%d %H:%M}"\n'
        f'timezone = "{zone}"\n'
        'host = "our experts"\n'
        "moderators = []\n"
        'language = "en"\n'
        "\n"
        "# the posts' templates; a file of the same name in templates/ overrides the shipped one\n"
        "[templates]\n" + "".join(f'{k} = "{v}"\n' for k, v in DEFAULT_TEMPLATES.items()),
        encoding="utf-8",
    )
    return path


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    status: str
    announced_at: datetime | None
    opened_at: datetime | None
    closed_at: datetime | None

    @property
    def since(self) -> datetime | None:
        """Questions count from the first post of the conference on."""
        moments = [m for m in (self.announced_at, self.opened_at) if m]
        return min(moments) if moments else None


@dataclass(frozen=True)
class Question:
    qid: str
    channel: str
    remote_id: str
    author: str
    author_name: str
    text: str
    url: str | None
    asked_at: datetime
    received_at: datetime
    via: str
    private: bool
    extra: dict[str, str]
    status: str
    duplicate_of: str | None
    reason: str | None
    #: the moderator who answered or skipped it
    done_by: str | None = None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _stamp(moment: datetime | None = None) -> str:
    return (moment or clock.now()).astimezone(UTC).isoformat(timespec="microseconds")


class Book:
    """A conference's state in the workspace's state store."""

    def __init__(self, ws: Workspace, conf: Conference) -> None:
        self.ws, self.conf = ws, conf
        self.store = Store(ws.store_path)
        self.store.conference_open_book(conf.name, PLANNED)
        self.audit = AuditLog(ws.audit_path)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Book:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state(self) -> State:
        row = self.store.conference_state(self.conf.name)
        return State(
            row["status"],
            _time(row["announced_at"]),
            _time(row["opened_at"]),
            _time(row["closed_at"]),
        )

    def _set_state(self, status: str, column: str, moment: datetime) -> None:
        self.store.conference_set_state(self.conf.name, status, column, _stamp(moment))

    def set_status(self, qid: str, status: str, reason: str | None = None) -> None:
        self.store.conference_set_status(self.conf.name, qid, status, reason)

    def questions(self, *statuses: str) -> list[Question]:
        return [_question(r) for r in self.store.conference_questions(self.conf.name, statuses)]

    def question(self, qid: str) -> Question:
        qid = qid.upper() if qid.upper().startswith("Q") else f"Q{qid}"
        row = self.store.conference_question(self.conf.name, qid)
        if row is None:
            raise InputError(
                f'no question {qid} in conference "{self.conf.name}"',
                hint="`prcast conference questions` lists them",
            )
        return _question(row)

    def posts(self, kind: str, qid: str = "") -> list[str]:
        """The run ids of a kind of post (an answer: of that question), oldest first."""
        return [r["run_id"] for r in self.store.conference_posts(self.conf.name, kind, qid)]

    def all_posts(self) -> list[tuple[str, str, str]]:
        return [
            (r["kind"], r["qid"], r["run_id"]) for r in self.store.conference_posts(self.conf.name)
        ]

    def cursors(self, channel: str) -> dict[str, str]:
        return self.store.conference_cursors(self.conf.name, channel)


def _question(r: Mapping[str, Any]) -> Question:
    return Question(
        qid=r["qid"],
        channel=r["channel"],
        remote_id=r["remote_id"],
        author=r["author"],
        author_name=r["author_name"],
        text=r["text"],
        url=r["url"],
        asked_at=datetime.fromisoformat(r["asked_at"]),
        received_at=datetime.fromisoformat(r["received_at"]),
        via=r["via"],
        private=bool(r["private"]),
        extra=json.loads(r["extra"]),
        status=r["status"],
        duplicate_of=r["duplicate_of"],
        reason=r["reason"],
        done_by=r.get("done_by"),
    )


# --- several moderators --------------------------------------------------------------------


def moderator() -> str:
    """Who is at this keyboard: $PRCAST_MODERATOR, or the login name."""
    return os.environ.get("PRCAST_MODERATOR", "").strip() or getpass.getuser()


@dataclass(frozen=True)
class Taken:
    """A question a moderator is working on (a screen's editor is open on it, or a command
    is posting its answer)."""

    qid: str
    moderator: str
    owner: Owner
    since: str

    def describe(self) -> str:
        return (
            f"{self.qid} is taken by {self.moderator} (pid {self.owner.pid} on "
            f"{self.owner.host}) since {self.since[11:19]} UTC"
        )


def taken(book: Book) -> dict[str, Taken]:
    """The questions held by a live owner, by qid (a holder whose process died, or whose
    lease ran out, holds nothing)."""
    live: dict[str, Taken] = {}
    for holder, who in book.store.conference_claims(book.conf.name):
        if claims.is_expired(holder.owner) or claims.is_dead(holder.owner):
            continue
        live[holder.chain] = Taken(holder.chain, who, holder.owner, holder.since)
    return live


def take(book: Book, qid: str, owner: str, who: str) -> None:
    """Take a question for `owner` (a Lease's id), or refuse naming who has it."""
    for _ in range(2):
        if book.store.conference_claim(book.conf.name, qid, owner, who, _stamp()):
            return
        holder = taken(book).get(qid)
        if holder is not None:
            raise InputError(holder.describe(), hint="pick another question")
        # held by a process that died on this machine: its lease is over now
        for h, _who in book.store.conference_claims(book.conf.name):
            if h.chain == qid and h.owner.id and claims.is_dead(h.owner):
                book.store.expire_owner(h.owner.id)
    raise InputError(f"{qid} could not be taken", hint="try again")


def let_go(book: Book, qid: str, owner: str) -> None:
    book.store.conference_unclaim(book.conf.name, qid, owner)


@contextmanager
def _working_on(
    ws: Workspace, conf: Conference, qid: str, owner: str | None, who: str
) -> Iterator[None]:
    """Hold the question while answering or skipping it: as the caller's owner (a screen
    that took it already), or as an owner of its own for this one command."""
    if owner is not None:
        with Book(ws, conf) as book:
            take(book, qid, owner, who)
        yield
        return
    with claims.Lease(ws.store_path, "conference") as lease, Book(ws, conf) as book:
        take(book, qid, lease.id, who)
        try:
            yield
        finally:
            let_go(book, qid, lease.id)


# --- posting -------------------------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_policy(ws: Workspace, text: str, what: str) -> None:
    """The confidentiality policy applies to everything a conference posts."""
    from prcast import policy

    rules = policy.load_policy(ws.root)
    blocking = [f for f in policy.check_text(rules, text) if f.action == "block"]
    if blocking:
        AuditLog(ws.audit_path).append(
            "policy.blocked", what=what, findings=policy.finding_records(blocking)
        )
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
        fields: dict[str, Any] = {"target": f"{kind}:{question.qid}" if question else kind}
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
    context = {
        "conference": conf,
        "title": conf.title,
        "hashtag": "#" + conf.hashtag,
        "host": conf.host,
        "moderators": conf.moderators,
        "start": f"{start.day} {start:%B %Y, %H:%M} {start.tzname()}",
        "start_time": f"{start:%H:%M} {start.tzname()}",
        "end_time": f"{end:%H:%M} {end.tzname()}",
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
    text = render_post(ws, conf, "closing")
    plan = _plan_post(ws, conf, "closing", text, conf.channels)
    outcome = _deliver(ws, conf, "closing", text, plan, on_event)
    if outcome.ok:
        with Book(ws, conf) as book:
            if book.state().status != CLOSED:
                book._set_state(CLOSED, "closed_at", clock.now())
                book.audit.append("conference.closed", conference=conf.name, run=outcome.run_id)
    return outcome


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


# --- intake --------------------------------------------------------------------------------


@dataclass
class Intake:
    new: list[Question] = field(default_factory=list)
    duplicates: int = 0
    #: channel -> why it could not be read this time (rate limit, network)
    problems: dict[str, str] = field(default_factory=dict)


def _normal(text: str) -> str:
    """A question's words, for spotting the same question asked twice."""
    text = re.sub(r"(^|\s)[@#][\w.@-]+", " ", text)
    return " ".join(re.findall(r"\w+", text.casefold()))


#: the answers whose threads each poll reads (the newest), besides the announcement,
#: opening and closing: a thread read is one request, and the rate limit is shared
THREADS_READ = 20


def _own_ids(ws: Workspace, book: Book) -> tuple[set[str], dict[str, list[str]]]:
    """The remote ids of the conference's own posts (a reply to one is a question), and
    per channel the posts whose threads a poll reads for replies: the announcement,
    opening and closing, and the first post of the newest answers."""
    own: set[str] = set()
    roots: dict[str, list[str]] = {}
    answers: dict[str, list[str]] = {}
    for kind, _, run_id in book.all_posts():
        for d in book.store.deliveries(run_id):
            if not d.remote_id:
                continue
            own.add(d.remote_id)
            if d.part == 1:  # a thread of parts is read from its first
                into = answers if kind == "answer" else roots
                if d.remote_id not in into.get(d.channel, []):
                    into.setdefault(d.channel, []).append(d.remote_id)
    threads = {
        channel: roots.get(channel, []) + answers.get(channel, [])[::-1][:THREADS_READ]
        for channel in set(roots) | set(answers)
    }
    return own, threads


def poll(ws: Workspace, conf: Conference) -> Intake:
    """Take in the questions sent since the last poll, on every channel of the conference.
    A channel that cannot be read now (rate limit, network) is reported and left for the
    next poll; its cursor does not move."""
    result = Intake()
    with Book(ws, conf) as book:
        state = book.state()
        if state.since is None:
            raise InputError(
                f'conference "{conf.name}" has not been announced or opened yet: no questions to take in',
                hint="prcast conference announce (or open)",
            )
        settle_answers(book)
        if state.status == CLOSED:
            return result
        _audit_pending(book)
        own, posts = _own_ids(ws, book)
        for name in conf.channels:
            config = ws.config.channel(name)
            try:
                found, cursors, me = asyncio.run(
                    _fetch(ws, config, book.cursors(name), conf, posts.get(name, []))
                )
            except PrcastError as exc:
                result.problems[name] = exc.message
                continue
            fresh = [
                i
                for i in found
                if i.author.lower() != me.lower()
                and datetime.fromisoformat(i.created_at) >= state.since
            ]
            new, dups = _insert(book, name, fresh, cursors, own)
            result.new += new
            result.duplicates += dups
        _audit_pending(book)
    return result


async def _fetch(
    ws: Workspace,
    config: ChannelConfig,
    cursors: dict[str, str],
    conf: Conference,
    threads: Sequence[str],
) -> tuple[list[Incoming], dict[str, str], str]:
    adapter: Any = open_channel(config, ws.root, ws.templates_dir)
    try:
        me = cursors.get("account") or await adapter.account()
        found, moved = await adapter.mentions(cursors, conf.hashtag, threads)
        return found, {**moved, "account": me}, me
    finally:
        await adapter.close()


def _insert(
    book: Book, channel: str, found: list[Incoming], cursors: dict[str, str], own: set[str]
) -> tuple[list[Question], int]:
    """Insert new questions and move the cursors in one transaction."""
    name = book.conf.name
    new: list[Question] = []
    dups = 0
    received = _stamp()
    store = book.store
    with store.transaction():
        known = {
            (r["author"], _normal(r["text"])): r["qid"]
            for r in store.conference_questions(name)
            if r["status"] != DUPLICATE
        }
        seen: dict[str, set[str]] = {}
        for item in found:
            seen.setdefault(item.remote_id, set()).update(item.via.split("+"))
        for item in sorted(found, key=lambda i: i.created_at):
            routes = seen.pop(item.remote_id, None)
            if routes is None:
                continue  # the same post found by another route: taken in once
            if item.in_reply_to in own:
                routes.add("reply")
            had = store.conference_question_by_remote(name, channel, item.remote_id)
            if had is not None:  # a later poll found it by another route too
                via = route_set(set(had["via"].split("+")) | routes)
                if via != had["via"]:
                    store.conference_set_via(name, had["qid"], via)
                continue
            number = store.conference_next_number(name)
            qid = f"Q{number}"
            via = route_set(routes)
            original = known.get((item.author, _normal(item.text)))
            status = DUPLICATE if original else OPEN
            dups += bool(original)
            store.conference_add_question(
                {"name": name, "qid": qid, "channel": channel, "remote_id": item.remote_id,
                 "author": item.author, "author_name": item.author_name, "text": item.text,
                 "url": item.url, "asked_at": item.created_at, "received_at": received, "via": via,
                 "private": item.visibility == "direct", "extra": json.dumps(item.extra),
                 "status": status, "duplicate_of": original, "seq": number}
            )  # fmt: skip
            if not original:
                known[(item.author, _normal(item.text))] = qid
                new.append(book.question(qid))
        for source, cursor in cursors.items():
            store.conference_set_cursor(name, channel, source, cursor)
    return new, dups


#: the routes a question can come by, in the order they are shown
ROUTES = ("direct", "reply", "mention", "hashtag")


def route_set(routes: set[str]) -> str:
    """The routes a question came by, as stored and shown: "mention+hashtag". A direct
    message is only that; a reply to the account notifies it as a mention, so "reply"
    stands for both."""
    if "direct" in routes:
        return "direct"
    if "reply" in routes:
        routes = routes - {"mention"}
    return "+".join(sorted(routes, key=lambda r: (ROUTES.index(r) if r in ROUTES else 9, r)))


def settle_answers(book: Book) -> None:
    """Mark answered the questions whose answer was posted in full by a run that was cut off
    before it could say so (a crash, then `prcast resume`)."""
    done = answer_runs(book)
    for q in book.questions(OPEN, SKIPPED):
        if q.qid in done:
            _mark_answered(book, q.qid, done[q.qid])


def _audit_pending(book: Book) -> None:
    """Write the questions not yet in the audit log to it (after a crash: again, at worst;
    the report counts a question once by its id)."""
    rows = book.store.conference_unaudited(book.conf.name)
    if not rows:
        return
    book.audit.append_many(
        [
            (
                "conference.question",
                {
                    "conference": book.conf.name,
                    "qid": r["qid"],
                    "channel": r["channel"],
                    "remote_id": r["remote_id"],
                    "author": r["author"],
                    "asked_at": r["asked_at"],
                    "via": r["via"],
                    "private": bool(r["private"]),
                    "text": r["text"],
                    "url": r["url"],
                    "duplicate_of": r["duplicate_of"],
                },
            )
            for r in rows
        ]
    )
    book.store.conference_mark_audited(book.conf.name, [r["qid"] for r in rows])


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


def _refuse_when_closed(book: Book, what: str) -> None:
    if book.state().status == CLOSED:
        raise InputError(
            f'conference "{book.conf.name}" is closed: {what} after the closing post',
            hint='`prcast conference reopen --reason "why"` first (audited)',
        )


def _mark_answered(book: Book, qid: str, run_id: str, by: str | None = None) -> None:
    """Answered, audited once: the same answer given again (or settled after a resume)
    changes nothing and writes no second record."""
    name = book.conf.name
    if book.store.conference_change_status(name, qid, ANSWERED, None, (ANSWERED,), by):
        record = {"by": by} if by else {}
        book.audit.append("conference.answered", conference=name, qid=qid, run=run_id, **record)


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
    with Book(ws, conf) as book:
        q = book.question(qid)
        _refuse_when_closed(book, "nothing changes")
    with _working_on(ws, conf, q.qid, owner, who), Book(ws, conf) as book:
        _refuse_when_closed(book, "nothing changes")
        q = book.question(q.qid)
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


def _duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def time_left(conf: Conference, state: State | None = None, now: datetime | None = None) -> str:
    """Where the conference stands in time: before the start, what is left, or closed. Once
    opened (early or not) it counts down to the end, never to the start."""
    now = now or clock.now()
    if state is not None and state.status == CLOSED:
        return f"closed at {conf.local(state.closed_at or now):%H:%M}"
    opened = state is not None and state.opened_at is not None
    if now < conf.start and opened:
        return f"opened early, {_duration(conf.end - now)} left"
    if now < conf.start:
        return f"starts in {_duration(conf.start - now)}"
    if now < conf.end:
        return f"{_duration(conf.end - now)} left"
    return f"over by {_duration(now - conf.end)}"


def answer_runs(book: Book) -> dict[str, str]:
    """qid -> the run of its delivered answer."""
    runs: dict[str, str] = {}
    for kind, qid, run_id in book.all_posts():
        if kind == "answer" and all(
            r.status == DELIVERED for r in book.store.deliveries(run_id) if r.part
        ):
            runs[qid] = run_id
    return runs
