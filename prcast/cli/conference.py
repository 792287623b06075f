"""`prcast conference new|announce|open|questions|answer|skip|close|reopen|live`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from prcast.cli.common import console, print_json, workspace
from prcast.errors import DeliveryError

if TYPE_CHECKING:
    from prcast.conference import Conference, Question, Taken
    from prcast.delivery import Outcome
    from prcast.workspace import Workspace

app = typer.Typer(
    help=(
        "Run a press conference or expert chat over a microblog: announce it, take questions in "
        "(mentions, direct messages, replies, the hashtag), answer them as replies, close it, "
        "and report on it afterwards with `prcast report --conference NAME`.\n\n"
        "[bold]Example:[/bold] prcast conference announce -c launch && prcast conference open -c launch"
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
)
ConfOpt = Annotated[
    str | None,
    typer.Option(
        "--conference",
        "-c",
        help="The conference: conferences/NAME.toml (default: the only one there is).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON.")]


def _load(ctx: typer.Context, name: str | None) -> tuple[Workspace, Conference]:
    from prcast import conference as core

    ws = workspace(ctx)
    return ws, core.load(ws, core.resolve_name(ws, name))


def _posted(ws: Workspace, outcome: Outcome, what: str, as_json: bool) -> None:

    store = ws.store()
    try:
        rows = [r for r in store.deliveries(outcome.run_id) if r.part]
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "run": outcome.run_id,
                "ok": outcome.ok,
                "counts": outcome.counts,
                "posts": [
                    {"channel": r.channel, "part": r.part, "status": r.status,
                     "remote_id": r.remote_id, "url": r.url, "error": r.error}
                    for r in rows
                ],
            }
        )  # fmt: skip
    else:
        con = console()
        for r in rows:
            where = r.url or r.remote_id or r.error or ""
            colour = "green" if r.status == "delivered" else "red"
            con.print(
                f"[{colour}]{what} {r.channel} {r.part}/{r.parts} {r.status}[/{colour}] {where}",
                soft_wrap=True,
            )
        if not outcome.new_run and all(r.status == "delivered" for r in rows):
            con.print("Nothing new was posted: this post went out before.")
    if not outcome.ok:
        raise DeliveryError(
            f"{what}: run {outcome.run_id} is incomplete: {outcome.counts}",
            hint=f"`prcast resume {outcome.run_id}` finishes it without posting anything twice",
        )


@app.command("new")
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the conference (its file name).")],
    channel: Annotated[
        str, typer.Option("--channel", help="The Mastodon or Bluesky channel that holds it.")
    ],
    at: Annotated[
        str, typer.Option("--at", help='Start: "2026-12-01 15:00 Europe/Berlin" (one hour long).')
    ],
) -> None:
    """Write conferences/NAME.toml to fill in: title, channels, hashtag, start and end, host, moderators, templates.

    [bold]Example:[/bold] prcast conference new launch --channel masto --at "2026-12-01 15:00 Europe/Berlin"
    """
    from prcast import conference as core
    from prcast.schedule import parse_when

    ws = workspace(ctx)
    start, zone = parse_when(at)
    path = core.scaffold(ws, name, channel, start, zone)
    core.load(ws, name)  # the file it wrote is valid for this workspace
    console().print(f"Wrote {path}: edit it, then `prcast conference announce -c {name}`")


@app.command("announce")
def announce(ctx: typer.Context, conference: ConfOpt = None, as_json: JsonOpt = False) -> None:
    """Post the announcement inviting questions (with the hashtag). Questions count from here on.

    [bold]Example:[/bold] prcast conference announce -c launch
    """
    from prcast import conference as core

    ws, conf = _load(ctx, conference)
    _posted(ws, core.announce(ws, conf), "announcement", as_json)


@app.command("open")
def open_(
    ctx: typer.Context,
    conference: ConfOpt = None,
    early: Annotated[
        bool, typer.Option("--early", help="Open before the start time (needs --reason).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why it opens early (audited).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Post the opening at the start time. Before it, only with --early --reason (audited).

    [bold]Example:[/bold] prcast conference open -c launch
    """
    from prcast import conference as core
    from prcast.errors import InputError

    ws, conf = _load(ctx, conference)
    if early and not (reason and reason.strip()):
        raise InputError('--early needs --reason "why"')
    outcome = core.open_conference(ws, conf, early_reason=reason if early else None)
    _posted(ws, outcome, "opening", as_json)


def _status(q: Question, held: dict[str, Taken]) -> str:
    """open, "open, taken by tom", "answered by tom", "duplicate of Q3", with DMs marked."""
    if q.status == "duplicate":
        shown = f"repeats {q.duplicate_of}"
    elif q.qid in held:
        shown = f"{q.status}, taken by {held[q.qid].moderator}"
    else:
        shown = f"{q.status} by {q.done_by}" if q.done_by else q.status
    return f"{shown}, private (DM)" if q.private else shown


def _queue_table(
    conf: Conference, questions: list[Question], title: str, held: dict[str, Taken]
) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("#", no_wrap=True)
    table.add_column("Asked", no_wrap=True)
    table.add_column("From", overflow="fold")
    table.add_column("Via", no_wrap=True)
    table.add_column("Status", overflow="fold")
    table.add_column("Question", overflow="fold", ratio=1)
    for q in questions:
        table.add_row(
            q.qid,
            f"{conf.local(q.asked_at):%H:%M}",
            escape("@" + q.author),
            q.via,
            escape(_status(q, held)),
            escape(q.text),
        )
    console().print(table)


def _question_json(q: Question, held: dict[str, Taken]) -> dict[str, object]:
    return {
        "done_by": q.done_by, "taken_by": held[q.qid].moderator if q.qid in held else None,
        "qid": q.qid, "channel": q.channel, "remote_id": q.remote_id, "author": q.author,
        "author_name": q.author_name, "text": q.text, "url": q.url,
        "asked_at": q.asked_at.isoformat(), "via": q.via, "private": q.private,
        "status": q.status, "duplicate_of": q.duplicate_of, "reason": q.reason,
    }  # fmt: skip


@app.command("questions")
def questions(
    ctx: typer.Context,
    conference: ConfOpt = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also answered, skipped and repeated questions.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep taking questions in until it closes.")
    ] = False,
    every: Annotated[
        float, typer.Option("--every", help="Seconds between polls with --follow.", min=1)
    ] = 15.0,
    no_poll: Annotated[
        bool, typer.Option("--no-poll", help="Show the queue without asking the service.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Take in the questions sent since the last poll (mentions, direct messages, replies to the conference's posts, the hashtag), then show the queue.

    Questions count from the announcement (or the opening) on; a question asked twice by the same person is set aside as a repeat. Restarting never loses or repeats a question: the position on each service is kept in the state store.

    [bold]Example:[/bold] prcast conference questions -c launch --follow
    """
    from prcast import conference as core

    ws, conf = _load(ctx, conference)
    con = console()
    while True:
        if not no_poll:
            intake = core.poll(ws, conf)
            for channel, problem in intake.problems.items():
                con.print(f"[yellow]{channel}: not read this time: {problem}[/yellow]")
            if follow and not as_json:
                for q in intake.new:
                    con.print(f"{q.qid} {conf.local(q.asked_at):%H:%M} @{q.author} ({q.via}): {q.text}",
                              markup=False, soft_wrap=True)  # fmt: skip
        if not follow:
            break
        with core.Book(ws, conf) as book:
            if book.state().status == core.CLOSED:
                break
        time.sleep(every)
    with core.Book(ws, conf) as book:
        listed = book.questions() if show_all else book.questions(core.OPEN)
        state = book.state()
        held = core.taken(book)
    if as_json:
        print_json([_question_json(q, held) for q in listed])
        return
    if follow:
        return
    title = f"{conf.title}: {len(listed)} {'questions' if show_all else 'open'} ({state.status}, {core.time_left(conf, state)})"
    _queue_table(conf, listed, title, held)


@app.command("answer")
def answer(
    ctx: typer.Context,
    qid: Annotated[str, typer.Argument(help="The question: Q7 (or 7).")],
    text: Annotated[
        str | None,
        typer.Argument(help="The answer. Without it, $EDITOR opens (the question is shown there)."),
    ] = None,
    conference: ConfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post the answer as a reply to the question, threaded when longer than the channel allows. A question sent by direct message is answered by direct message.

    Answering the same question again with the same text finishes the first attempt instead of posting twice.

    [bold]Example:[/bold] prcast conference answer Q7 "Yes: from 1 December, in every school."
    """
    from prcast import conference as core
    from prcast.errors import InputError

    ws, conf = _load(ctx, conference)
    if text is None:
        with core.Book(ws, conf) as book:
            q = book.question(qid)
        import click

        edited = click.edit(
            f"\n# Answer to {q.qid} from @{q.author}:\n# {q.text}\n# Lines starting with # are dropped.\n"
        )
        text = "\n".join(line for line in (edited or "").splitlines() if not line.startswith("#"))
        if not text.strip():
            raise InputError("the answer is empty: nothing was posted")
    outcome = core.answer(ws, conf, qid, text)
    _posted(ws, outcome, f"answer to {qid.upper()}", as_json)


@app.command("skip")
def skip(
    ctx: typer.Context,
    qid: Annotated[str, typer.Argument(help="The question: Q7 (or 7).")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is not answered (audited).")],
    conference: ConfOpt = None,
) -> None:
    """Set a question aside without answering it, with the reason (shown in the report).

    [bold]Example:[/bold] prcast conference skip Q9 --reason "off topic"
    """
    from prcast import conference as core

    ws, conf = _load(ctx, conference)
    q = core.skip(ws, conf, qid, reason)
    console().print(f"{q.qid} skipped: {q.reason}", markup=False)


@app.command("close")
def close(ctx: typer.Context, conference: ConfOpt = None, as_json: JsonOpt = False) -> None:
    """Take the last questions in, post the closing and stop the intake.

    [bold]Example:[/bold] prcast conference close -c launch && prcast report --conference launch
    """
    from prcast import conference as core

    ws, conf = _load(ctx, conference)
    _posted(ws, core.close_conference(ws, conf), "closing", as_json)


@app.command("reopen")
def reopen(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why it opens again (audited).")],
    conference: ConfOpt = None,
) -> None:
    """Open a closed conference again: after the closing post nothing changes (no answer, skip or intake) except through this, audited with the reason. Close it again with `close`.

    [bold]Example:[/bold] prcast conference reopen -c launch --reason "Q12 was skipped by mistake"
    """
    from prcast import conference as core

    ws, conf = _load(ctx, conference)
    state = core.reopen(ws, conf, reason)
    console().print(f'conference "{conf.name}" is {state.status} again: {reason}', markup=False)


@app.command("live")
def live(
    ctx: typer.Context,
    conference: ConfOpt = None,
    every: Annotated[
        float, typer.Option("--every", help="Seconds between polls for new questions.", min=1)
    ] = 15.0,
) -> None:
    """The moderator's screen: the queue, answered and open counts, the time left. Pick a question with the arrow keys (or j/k), answer it with Enter (an inline editor counts characters against the limit) or e ($EDITOR), skip it with s, quit with q. Fits an 80x24 terminal, works over SSH.

    [bold]Example:[/bold] prcast conference live -c launch
    """
    from prcast.cli.live import Moderator

    ws, conf = _load(ctx, conference)
    Moderator(ws, conf, every=every).run()
