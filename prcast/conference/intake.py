"""Questions in: per service, the mentions, direct messages, replies anywhere under the
conference's posts and the hashtag, each question once with the set of routes it came by;
inserted and the cursors moved in one transaction, and written to the audit log."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prcast.channels import open_channel
from prcast.channels.base import Incoming
from prcast.conference.book import (
    CLOSED,
    DUPLICATE,
    OPEN,
    Book,
    Question,
    _stamp,
    settle_answers,
)
from prcast.conference.definition import Conference
from prcast.config import ChannelConfig
from prcast.errors import InputError, PrcastError
from prcast.workspace import Workspace

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


#: the newest answers whose threads every poll reads (replies come soonest under them)
RECENT_THREADS = 10
#: how many of the older answers' threads a poll reads besides, in turn (a window that moves
#: on by this much each poll and starts again at the oldest): with A answers on a channel,
#: every answer's thread is read at least once every ceil(max(0, A - RECENT_THREADS) /
#: OLDER_THREADS) polls, and a poll reads at most 3 + RECENT_THREADS + OLDER_THREADS threads
#: (the announcement, opening and closing, whose whole trees each read covers)
OLDER_THREADS = 10
#: the cursor (per channel) where the window over the older answers starts next
WINDOW = "threads"


@dataclass(frozen=True)
class Threads:
    """The conference's own posts on a channel whose threads are read for replies."""

    #: the announcement, opening and closing: read every poll
    roots: tuple[str, ...]
    #: the first post of every answer, oldest first
    answers: tuple[str, ...]

    def for_poll(self, cursor: str | None) -> tuple[list[str], str]:
        """The posts whose threads this poll reads, and the window's next cursor: the roots,
        the newest answers, and the next `OLDER_THREADS` older answers in turn."""
        recent = list(self.answers[-RECENT_THREADS:]) if RECENT_THREADS else []
        older = list(self.answers[: max(0, len(self.answers) - RECENT_THREADS)])
        start = int(cursor) if cursor and cursor.isdigit() else 0
        if not older:
            return [*self.roots, *recent[::-1]], "0"
        start %= len(older)
        window = [older[(start + k) % len(older)] for k in range(min(OLDER_THREADS, len(older)))]
        return [*self.roots, *recent[::-1], *window], str((start + len(window)) % len(older))


def polls_to_cover(answers: int) -> int:
    """The most polls it takes until every answer's thread has been read (the bound)."""
    older = max(0, answers - RECENT_THREADS)
    return max(1, -(-older // OLDER_THREADS))


def _own_ids(ws: Workspace, book: Book) -> tuple[set[str], dict[str, Threads]]:
    """The remote ids of the conference's own posts (a reply to one is a question), and
    per channel the posts whose threads are read for replies: the announcement, opening
    and closing, and the first post of every answer (a thread of parts is read from its
    first: the read takes the whole tree under it, every part and every reply's reply)."""
    own: set[str] = set()
    roots: dict[str, list[str]] = {}
    answers: dict[str, list[str]] = {}
    for kind, _, run_id in book.all_posts():
        for d in book.store.deliveries(run_id):
            if not d.remote_id:
                continue
            own.add(d.remote_id)
            if d.part == 1:
                into = answers if kind == "answer" else roots
                if d.remote_id not in into.get(d.channel, []):
                    into.setdefault(d.channel, []).append(d.remote_id)
    threads = {
        channel: Threads(tuple(roots.get(channel, [])), tuple(answers.get(channel, [])))
        for channel in set(roots) | set(answers)
    }
    return own, threads


#: what a service's intake cannot read, by channel type (known limits, said where the queue
#: is shown): Bluesky's direct messages live in a chat service of their own
#: (chat.bsky.convo.*, did:web:api.bsky.chat) that neither the PDS nor the AppView serves
UNREAD = {
    "bluesky": "direct messages are not read on Bluesky (its chat service is separate): "
    "questions come by mention, reply and hashtag only",
}


def known_limits(ws: Workspace, conf: Conference) -> dict[str, str]:
    """Per channel of the conference, what its intake cannot read."""
    return {
        name: UNREAD[kind]
        for name in conf.channels
        if (kind := ws.config.channel(name).type) in UNREAD
    }


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
            with book.store.transaction():
                # the window is this poll's: another process polling at the same moment (a
                # second moderator's screen) reads the next one, not the same one again
                had = book.cursors(name)
                threads, window = posts.get(name, Threads((), ())).for_poll(had.get(WINDOW))
                book.store.conference_set_cursor(conf.name, name, WINDOW, window)
            try:
                found, cursors, me = asyncio.run(_fetch(ws, config, had, conf, threads))
            except PrcastError as exc:
                result.problems[name] = exc.message
                with book.store.transaction():  # not read: the window is the next poll's
                    if book.cursors(name).get(WINDOW) == window:
                        book.store.conference_set_cursor(
                            conf.name, name, WINDOW, had.get(WINDOW, "0")
                        )
                continue
            cursors.pop(WINDOW, None)  # moved above, perhaps on by another poll since
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
