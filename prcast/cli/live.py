"""`prcast conference live`: the moderator's screen.

One full-screen view redrawn in place: the conference and the time left, the counts, the
queue with the picked question highlighted, the picked question in full, and a line of keys.
Answers are typed in an inline editor that shows the length against the channel's limit as
you type (or in $EDITOR). Drawn with rich on the terminal's own size, so it fits 80x24 and
works over SSH; keys are read in cbreak mode, so nothing but a terminal is needed."""

from __future__ import annotations

import io
import os
import select
import shutil
import sys
import termios
import textwrap
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.text import Text

from prcast import conference as core
from prcast import limits
from prcast.delivery import claims
from prcast.errors import InputError, PrcastError
from prcast.render import effective_limits
from prcast.text.counting import measurer
from prcast.text.split import split
from prcast.workspace import Workspace

UP, DOWN, ENTER, ESC, BACKSPACE = "up", "down", "enter", "esc", "backspace"


def _keys(data: str) -> list[str]:
    """Split what the terminal sent into keys: arrows, Enter, Esc, Backspace, characters."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        if data.startswith(("\x1b[A", "\x1bOA"), i):
            keys.append(UP)
            i += 3
        elif data.startswith(("\x1b[B", "\x1bOB"), i):
            keys.append(DOWN)
            i += 3
        elif data[i] == "\x1b" and data.startswith("\x1b[", i):
            end = i + 2
            while end < len(data) and not data[end].isalpha() and data[end] != "~":
                end += 1
            i = end + 1  # an escape sequence this screen does not use
        else:
            ch = data[i]
            keys.append(
                ENTER
                if ch in "\r\n"
                else ESC
                if ch == "\x1b"
                else BACKSPACE
                if ch in "\x7f\x08"
                else ch
            )
            i += 1
    return keys


@dataclass
class _Editor:
    """A one-line editor at the bottom of the screen."""

    prompt: str
    measure: Callable[[str], str]
    text: str = ""


class Moderator:
    def __init__(
        self,
        ws: Workspace,
        conf: core.Conference,
        *,
        every: float = 15.0,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.ws, self.conf, self.every = ws, conf, every
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.show_all = False
        self.selected = 0
        #: the picked question, by identity: a refresh (another moderator's skip, a new
        #: question, `a`) never moves the highlight to a different question
        self.selected_qid: str | None = None
        #: this screen's lease (while `run` is on): the questions it takes are held by it
        self.owner: str | None = None
        self.who = core.moderator()
        self.taken: dict[str, core.Taken] = {}
        self.repeats: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self.message = ""
        self.last_poll = 0.0
        self.last_read = 0.0
        self.editor: _Editor | None = None
        self.action = ""
        self.questions: list[core.Question] = []
        self.state: core.State | None = None
        self.cached = limits.cached_limits(ws)

    # --- data ---------------------------------------------------------------------------

    def refresh(self, poll: bool) -> None:
        if poll:
            self.last_poll = time.monotonic()
            try:
                intake = core.poll(self.ws, self.conf)
                if intake.new:
                    self.message = f"{len(intake.new)} new question(s)"
                for channel, problem in intake.problems.items():
                    self.message = f"{channel}: {problem}"
            except PrcastError as exc:
                self.message = exc.message
        self.last_read = time.monotonic()
        with core.Book(self.ws, self.conf) as book:
            self.state = book.state()
            everything = book.questions()
            self.taken = core.taken(book)
        self.counts = {s: sum(1 for q in everything if q.status == s) for s in
                       (core.OPEN, core.ANSWERED, core.SKIPPED, core.DUPLICATE)}  # fmt: skip
        self.repeats = {}
        for q in everything:
            if q.status == core.DUPLICATE and q.duplicate_of:
                self.repeats.setdefault(q.duplicate_of, []).append(q.qid)
        # the picked question stays in the list (with its new status) until the moderator
        # moves away from it, so nothing moves under the cursor
        self.questions = [
            q
            for q in everything
            if self.show_all or q.status == core.OPEN or q.qid == self.selected_qid
        ]
        self._follow()

    def _follow(self) -> None:
        """Put the highlight on the picked question wherever it is now."""
        ids = [q.qid for q in self.questions]
        if self.selected_qid in ids:
            self.selected = ids.index(self.selected_qid)
        else:
            self.selected = max(0, min(self.selected, len(self.questions) - 1))
        self.selected_qid = ids[self.selected] if ids else None

    def move(self, step: int) -> None:
        if not self.questions:
            return
        self.selected = max(0, min(len(self.questions) - 1, self.selected + step))
        self.selected_qid = self.questions[self.selected].qid
        if not self.show_all:  # a question left behind that is no longer open leaves the list
            self.questions = [
                q for q in self.questions if q.status == core.OPEN or q.qid == self.selected_qid
            ]
            self._follow()

    def _done(self, q: core.Question) -> None:
        """This moderator answered or skipped the picked question: the next one takes its
        place under the cursor (only one's own action moves on)."""
        if self.selected_qid == q.qid and not self.show_all:
            self.selected_qid = None

    @property
    def current(self) -> core.Question | None:
        return self.questions[self.selected] if self.questions else None

    def _measure(self, q: core.Question) -> Callable[[str], str]:
        channel = self.ws.config.channel(q.channel)
        lim = effective_limits(channel, self.cached.get(q.channel))
        count = measurer(channel.rule, url_length=lim.url_length)

        def show(text: str) -> str:
            # what the answer will post, counted against the channel's whole limit (a private
            # answer's limit leaves room for the mention the adapter adds)
            body, room = core.reply_shape(q, text, lim, count)
            used = count(body) + lim.max_length - room.max_length
            if used <= lim.max_length:
                return f"{used}/{lim.max_length}"
            try:
                parts = len(split(body, room.max_length, count))
            except InputError:
                parts = 0
            return f"{used}/{lim.max_length}, {parts or '?'} posts"

        return show

    # --- drawing --------------------------------------------------------------------------

    def screen(self, width: int, height: int) -> str:
        out = io.StringIO()
        con = Console(file=out, width=width, height=height, force_terminal=True,
                      color_system="standard", highlight=False, emoji=False)  # fmt: skip
        state = self.state
        lines: list[Text] = []
        status = state.status if state else "?"
        head = Text(f" {self.conf.title}", style="bold reverse")
        head.append(f"  {status} · {core.time_left(self.conf, state)} ", style="reverse")
        lines.append(head)
        c = self.counts
        lines.append(
            Text(
                f" open {c[core.OPEN]}  answered {c[core.ANSWERED]}  skipped {c[core.SKIPPED]}"
                f"  repeats {c[core.DUPLICATE]}   #{self.conf.hashtag}"
                f"   showing {'all' if self.show_all else 'open'}"
            )
        )
        lines.append(Text("─" * (width - 1), style="dim"))
        detail_rows = 4
        footer_rows = 3
        room = max(3, height - len(lines) - detail_rows - footer_rows)
        top = max(0, min(self.selected - room // 2, len(self.questions) - room))
        shown = self.questions[top : top + room]
        if not self.questions:
            lines.append(
                Text(" no open questions yet" if not self.show_all else " no questions yet")
            )
        for i, q in enumerate(shown, start=top):
            mark = {core.ANSWERED: "✓", core.SKIPPED: "–"}.get(q.status, " ")
            holder = self.taken.get(q.qid)
            if holder is not None and holder.owner.id != self.owner:
                mark = "⧗"  # another moderator is on it
            dm = "DM " if q.private else ""
            busy = f"[{holder.moderator}] " if holder and holder.owner.id != self.owner else ""
            again = f"+{len(self.repeats[q.qid])} " if q.qid in self.repeats else ""
            row = Text(f"{'>' if i == self.selected else ' '}{mark}{q.qid:<4} "
                       f"{self.conf.local(q.asked_at):%H:%M} @{q.author[:14]:<14} {dm}{busy}"
                       f"{again}{' '.join(q.text.split())}")  # fmt: skip
            if i == self.selected:
                row.stylize("reverse")
            lines.append(row)
        while len(lines) < 3 + room:
            lines.append(Text(""))
        lines.append(Text("─" * (width - 1), style="dim"))
        picked = self.current
        detail = ""
        if picked:
            notes = []
            if picked.status != core.OPEN:
                by = f" by {picked.done_by}" if picked.done_by else ""
                notes.append(f"{picked.status}{by}")
            holder = self.taken.get(picked.qid)
            if holder is not None and holder.owner.id != self.owner:
                notes.append(f"taken by {holder.moderator}")
            if picked.qid in self.repeats:
                notes.append(f"repeated by {', '.join(self.repeats[picked.qid])}")
            if picked.duplicate_of:
                notes.append(f"repeats {picked.duplicate_of}")
            note = f" [{'; '.join(notes)}]" if notes else ""
            detail = (
                f"{picked.qid} from @{picked.author} ({picked.via}){note}: "
                f"{' '.join(picked.text.split())}"
            )
        # wrapped at spaces, never inside a word (a word longer than a line is cut)
        wrapped = textwrap.wrap(detail, width - 2, break_long_words=True, break_on_hyphens=False)
        for k in range(detail_rows - 1):
            chunk = wrapped[k] if k < len(wrapped) else ""
            if k == detail_rows - 2 and len(wrapped) > detail_rows - 1:
                chunk = chunk[: width - 4] + "…"
            lines.append(Text(" " + chunk))
        if self.editor is not None:
            ed = self.editor
            counter = ed.measure(ed.text) if self.action == "answer" else ""
            lines.append(
                Text(f" {ed.prompt} [{counter}]" if counter else f" {ed.prompt}", style="bold")
            )
            # the end of a long answer, where the cursor is, always in sight
            room = width - 6
            visible = ed.text if len(ed.text) <= room else "…" + ed.text[-(room - 1) :]
            lines.append(Text(f" > {visible}█"))
            # a refusal (the policy, another moderator) shows here, the text kept above
            if self.message:
                lines.append(Text(f" {self.message}"[: width - 1], style="yellow"))
            else:
                lines.append(Text(" Enter: post   Esc: cancel", style="dim"))
        else:
            lines.append(Text(f" {self.message}"[: width - 1], style="yellow"))
            lines.append(Text(""))
            lines.append(
                Text(
                    " ↑↓/jk pick  Enter answer  e editor  s skip  a all/open  r poll  q quit",
                    style="dim",
                )
            )
        for line in lines[:height]:
            line.truncate(width - 1, overflow="ellipsis")
            con.print(line, no_wrap=True, overflow="ellipsis", crop=True)
        return out.getvalue()

    def draw(self) -> None:
        size = shutil.get_terminal_size((80, 24))
        body = self.screen(size.columns, size.lines)
        self.stdout.write("\x1b[H\x1b[2J" + body.rstrip("\n").replace("\n", "\r\n"))
        self.stdout.flush()

    # --- actions --------------------------------------------------------------------------

    def take(self, q: core.Question) -> bool:
        """Hold the question while this moderator works on it; False (and who has it) if
        another one does."""
        if self.owner is None:
            return True
        try:
            with core.Book(self.ws, self.conf) as book:
                core.take(book, q.qid, self.owner, self.who)
                now = book.question(q.qid)
                if now.status != core.OPEN:  # done by another moderator since the last read
                    core.let_go(book, q.qid, self.owner)
                    by = f" by {now.done_by}" if now.done_by else ""
                    self.message = f"{q.qid} is {now.status} already{by}"
                    return False
        except PrcastError as exc:
            self.message = exc.message.splitlines()[0]
            return False
        return True

    def let_go(self, q: core.Question | None) -> None:
        if self.owner is not None and q is not None:
            with core.Book(self.ws, self.conf) as book:
                core.let_go(book, q.qid, self.owner)

    def post_answer(self, q: core.Question, text: str) -> None:
        self.message = f"posting the answer to {q.qid} ..."
        self.draw()
        try:
            outcome = core.answer(self.ws, self.conf, q.qid, text, owner=self.owner, by=self.who)
            self.message = (
                f"{q.qid} answered" if outcome.ok else f"{q.qid}: not all posted ({outcome.counts})"
            )
            self.let_go(q)
            if outcome.ok:
                self._done(q)
        except PrcastError as exc:
            # refused (the policy, another moderator): the typed text stays in the editor
            self.message = exc.message.splitlines()[0]
            self.action = "answer"
            self.editor = _Editor(f"Answer to {q.qid} (@{q.author})", self._measure(q), text)
        self.refresh(poll=False)

    def edit_externally(self, q: core.Question) -> None:
        import click

        self._restore()
        try:
            edited = click.edit(f"\n# Answer to {q.qid} from @{q.author}:\n# {q.text}\n")
        finally:
            self._cbreak()
        text = "\n".join(line for line in (edited or "").splitlines() if not line.startswith("#"))
        if text.strip():
            self.post_answer(q, text)
        else:
            self.message = "empty answer: nothing posted"
            self.let_go(q)

    def handle(self, key: str) -> bool:
        """Act on one key; False to quit."""
        if self.editor is not None:
            ed = self.editor
            q = self.current
            if key == ESC:
                self.editor, self.message = None, "cancelled"
                self.let_go(q)
            elif key == BACKSPACE:
                ed.text = ed.text[:-1]
            elif key == ENTER:
                self.editor = None
                if q is None or not ed.text.strip():
                    self.message = "nothing to do"
                    self.let_go(q)
                elif self.action == "answer":
                    self.post_answer(q, ed.text)
                else:
                    try:
                        core.skip(self.ws, self.conf, q.qid, ed.text, owner=self.owner, by=self.who)
                        self.message = f"{q.qid} skipped"
                        self._done(q)
                    except PrcastError as exc:
                        self.message = exc.message.splitlines()[0]
                    self.let_go(q)
                    self.refresh(poll=False)
            elif len(key) == 1 and key.isprintable():
                ed.text += key
            return True
        q = self.current
        if key in ("q", "Q"):
            return False
        self.message = ""
        if key in (UP, "k"):
            self.move(-1)
        elif key in (DOWN, "j"):
            self.move(1)
        elif key == "a":
            self.show_all = not self.show_all
            self.refresh(poll=False)
        elif key == "r":
            self.refresh(poll=True)
        elif q is None:
            self.message = "no question picked"
        elif key in (ENTER, "e", "s") and q.status != core.OPEN:
            by = f" by {q.done_by}" if q.done_by else ""
            self.message = f"{q.qid} is {q.status} already{by}"
        elif key in (ENTER, "e", "s") and not self.take(q):
            self.refresh(poll=False)
        elif key == ENTER:
            self.action = "answer"
            self.editor = _Editor(f"Answer to {q.qid} (@{q.author})", self._measure(q))
        elif key == "e":
            self.edit_externally(q)
        elif key == "s":
            self.action = "skip"
            self.editor = _Editor(f"Skip {q.qid}: why?", lambda text: "")
        return True

    # --- terminal -------------------------------------------------------------------------

    def _cbreak(self) -> None:
        tty.setcbreak(self.fd)
        self.stdout.write("\x1b[?25l")  # hide the cursor

    def _restore(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        self.stdout.write("\x1b[?25h\r\n")
        self.stdout.flush()

    def run(self) -> None:
        if not self.stdin.isatty():
            raise InputError(
                "`prcast conference live` needs a terminal",
                hint="use `prcast conference questions` and `answer` in scripts",
            )
        self.fd = self.stdin.fileno()
        self.saved = termios.tcgetattr(self.fd)
        with claims.Lease(self.ws.database, "conference live") as lease:
            self.owner = lease.id
            self._cbreak()
            try:
                self._loop()
            finally:
                self._restore()
                self.owner = None

    def _loop(self) -> None:
        self.refresh(poll=True)
        self.draw()
        while True:
            waiting = self.state is not None and self.state.status != core.CLOSED
            due = self.last_poll + self.every - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, min(1.0, due)))
            if ready:
                data = os.read(self.fd, 1024).decode("utf-8", "replace")
                if not all(self.handle(key) for key in _keys(data)):
                    return
            elif waiting and self.editor is None and due <= 0:
                self.refresh(poll=True)
            if time.monotonic() - self.last_read >= 1.0:
                # what other moderators did, from the store, within a second (keys or not)
                self.refresh(poll=False)
            self.draw()
