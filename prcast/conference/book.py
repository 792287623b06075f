"""A conference's book in the state store: its state, its questions and who is working on
which (several moderators: a question is taken with a lease, as deliveries are claimed)."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prcast import clock
from prcast.conference.definition import Conference
from prcast.delivery import claims
from prcast.errors import InputError
from prcast.store import DELIVERED, Owner
from prcast.workspace import Workspace

#: question statuses
OPEN, ANSWERED, SKIPPED, DUPLICATE = "open", "answered", "skipped", "duplicate"
#: conference statuses
PLANNED, ANNOUNCED, LIVE, CLOSED = "planned", "announced", "live", "closed"


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    status: str
    announced_at: datetime | None
    opened_at: datetime | None
    closed_at: datetime | None
    #: how often it was opened again after a close
    reopened: int = 0

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
        self.store = ws.store()
        self.store.conference_open_book(conf.name, PLANNED)
        self.audit = ws.audit()

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
            int(row["reopened"] or 0),
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
    with claims.Lease(ws.database, "conference") as lease, Book(ws, conf) as book:
        take(book, qid, lease.id, who)
        try:
            yield
        finally:
            let_go(book, qid, lease.id)


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


def settle_answers(book: Book) -> None:
    """Mark answered the questions whose answer was posted in full by a run that was cut off
    before it could say so (a crash, then `prcast resume`)."""
    done = answer_runs(book)
    for q in book.questions(OPEN, SKIPPED):
        if q.qid in done:
            _mark_answered(book, q.qid, done[q.qid])


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
