"""`prcast render`, `prcast send`, `prcast resume`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from prcast.cli.common import console, print_json, workspace
from prcast.errors import DeliveryError, InputError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from prcast.delivery import Event, Outcome, Plan
    from prcast.render import Rendering

ChannelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--channel",
        "-c",
        help="Only this channel (repeatable). Default: the release's channels, else all.",
    ),
]
ResendOpt = Annotated[
    bool,
    typer.Option("--resend-in-doubt", help="Send again posts whose earlier attempt got no answer."),
]
ToOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--to", help="Send to this press-list group (repeatable) instead of the release's audience."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON instead of panels.")]


def _length_style(length: int, limit: int) -> str:
    if length > limit:
        return "bold red"
    return "yellow" if length > 0.9 * limit else "green"


def _show_renderings(renderings: list[Rendering]) -> None:
    from rich.panel import Panel
    from rich.text import Text

    from prcast.text import count

    con = console()
    for r in renderings:
        ch = r.channel
        limit = r.posts[0].limit if r.posts else ch.limit
        targets = list(dict.fromkeys(p.target for p in r.posts))
        shown = [p for p in r.posts if p.target == targets[0]] if targets else []
        head = Text(f"{ch.name} ({ch.type}, {ch.rule} counting, limit {limit}) ", style="bold")
        if len(shown) > 1:
            head.append(
                f"whole text {count(ch.rule, r.text)}/{limit}: over the limit, ", style="red"
            )
            head.append(f"split into a thread of {len(shown)}", style="bold")
        con.print(head)
        if ch.audience_only and shown:
            first = shown[0]
            group = f" (group {first.group})" if first.group else ""
            con.print(f"to {', '.join(first.recipients)}{group}", markup=False)
            if first.subject:
                con.print(f"Subject: {first.subject}", markup=False)
        for post in shown:
            body = Text(post.text)
            if post.length > post.limit:
                body.stylize("on red", post.limit)
            subtitle = Text(
                f"{post.length}/{post.limit}", style=_length_style(post.length, post.limit)
            )
            con.print(
                Panel(
                    body, title=f"part {post.index}/{post.total}", subtitle=subtitle, expand=False
                )
            )
        if len(targets) > 1:
            con.print(
                f"... and {len(targets) - 1} more {'messages' if ch.type == 'email' else 'batches'}"
            )
        for e in r.excluded[:20]:
            con.print(
                f"not sent to {e.recipient} ({e.group}): {e.reason}", style="yellow", markup=False
            )
        if len(r.excluded) > 20:
            con.print(f"... and {len(r.excluded) - 20} more not sent to", style="yellow")


def _renderings_json(renderings: list[Rendering]) -> list[dict[str, object]]:
    from prcast.text.counting import BLUESKY_MAX_BYTES

    return [
        {
            "channel": r.channel.name,
            "type": r.channel.type,
            "rule": r.channel.rule,
            "limit": r.posts[0].limit if r.posts else r.channel.limit,
            "template": r.template,
            "posts": [
                {
                    "part": p.index,
                    "parts": p.total,
                    "text": p.text,
                    "length": p.length,  # as the platform counts it (the channel's rule)
                    **(
                        {"bytes": len(p.text.encode("utf-8")), "max_bytes": BLUESKY_MAX_BYTES}
                        if r.channel.rule == "bluesky"
                        else {}
                    ),
                    "target": p.target,
                    "group": p.group,
                    "recipients": list(p.recipients),
                    "subject": p.subject,
                }
                for p in r.posts
            ],
            "excluded": [dataclasses.asdict(e) for e in r.excluded],
        }
        for r in renderings
    ]


class _Progress:
    """A rich progress bar per channel, fed by delivery events."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(),
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.problems: list[str] = []

    def __call__(self, event: Event) -> None:
        if event.kind == "planned":
            self.tasks[event.channel] = self.progress.add_task(event.channel, total=event.total)
            return
        task = self.tasks.get(event.channel)
        if task is not None:
            self.progress.advance(task)
        if event.kind != "delivered":
            self.problems.append(
                f"{event.channel} part {event.part}/{event.parts}: {event.kind}: {event.message}"
            )


def _plan_summary(plan: Plan) -> None:
    from rich.table import Table

    console().print(f"[bold]{plan.release.title}[/bold]\nrun {plan.run_id}")
    table = Table()
    table.add_column("Channel")
    table.add_column("Type")
    table.add_column("Posts", justify="right")
    table.add_column("Recipients", justify="right")
    table.add_column("Not sent to", justify="right")
    for r in plan.renderings:
        people = len({p.target for p in r.posts}) if r.channel.audience_only else 0
        reached = sum(len(p.recipients) for p in r.posts if p.index == 1) if people else 0
        table.add_row(
            r.channel.name,
            r.channel.type,
            str(len(r.posts)),
            str(reached or ""),
            str(len(r.excluded) or ""),
        )
    console().print(table)


def _finish(outcome: Outcome, progress: _Progress | None, as_json: bool) -> None:
    from prcast.store import DELIVERED

    if as_json:
        print_json(
            {
                "run": outcome.run_id,
                "new_run": outcome.new_run,
                "counts": outcome.counts,
                "ok": outcome.ok,
            }
        )
    else:
        con = console()
        if progress:
            for line in progress.problems:
                con.print(f"[red]{line}[/red]", markup=True)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))
        colour = "green" if outcome.ok else "red"
        con.print(f"[{colour}]Run {outcome.run_id}: {summary}[/{colour}]")
        if not outcome.new_run and outcome.counts.get(DELIVERED) == sum(outcome.counts.values()):
            con.print("Nothing new was sent: every post of this run was delivered before.")
        con.print(f"Report: [bold]prcast report {outcome.run_id}[/bold]")
    if not outcome.ok:
        raise DeliveryError(
            f"run {outcome.run_id} is incomplete: {outcome.counts}",
            hint=f"see `prcast report {outcome.run_id}`; `prcast resume {outcome.run_id}` retries what failed",
        )


def _run(sink: _Progress | None, fn: Callable[[Callable[[Event], None]], Outcome]) -> Outcome:
    if sink is None:
        return fn(lambda e: None)
    with sink.progress:
        return fn(sink)


def register(app: typer.Typer) -> None:
    @app.command()
    def render(
        ctx: typer.Context,
        release: Annotated[str, typer.Argument(help="Release file, or its name under releases/.")],
        channel: ChannelOpt = None,
        to: ToOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Preview every channel's posts with platform-accurate counts (count/limit). Over-long text is shown as the numbered thread that would be sent. Nothing is sent.

        [bold]Example:[/bold] prcast render releases/example.md --channel press-room
        """
        from prcast.delivery import prepare

        plan = prepare(workspace(ctx), release, channel or (), to=to or ())
        if as_json:
            print_json(
                {
                    "release": plan.release.id,
                    "run": plan.run_id,
                    "channels": _renderings_json(list(plan.renderings)),
                }
            )
        else:
            _show_renderings(list(plan.renderings))

    @app.command()
    def send(
        ctx: typer.Context,
        release: Annotated[str, typer.Argument(help="Release file, or its name under releases/.")],
        channel: ChannelOpt = None,
        to: ToOpt = None,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts, cron).")
        ] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Plan and show, send nothing.")
        ] = False,
        resend_in_doubt: ResendOpt = False,
        break_embargo: Annotated[
            bool,
            typer.Option(
                "--break-embargo",
                help="Send before the release's embargo (needs --reason; audited).",
            ),
        ] = False,
        reason: Annotated[
            str | None,
            typer.Option("--reason", help="Why the embargo is broken (goes into the audit log)."),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Send a release to its channels and record every step in the audit log.

        Sending the same release again continues the same run: what was delivered is never sent twice. Exit code 0 when all is delivered, 1 when a delivery failed, 2 for bad input.

        [bold]Example:[/bold] prcast send releases/example.md --yes
        """
        from prcast.delivery import preflight, prepare
        from prcast.delivery import send as send_plan

        ws = workspace(ctx)
        if break_embargo and not (reason and reason.strip()):
            raise InputError(
                '--break-embargo needs --reason "...": the reason goes into the audit log'
            )
        override = reason.strip() if break_embargo and reason else None
        plan = prepare(ws, release, channel or (), to=to or (), refresh_limits=True)
        preflight(ws, plan, break_embargo=override)
        if not as_json:
            _plan_summary(plan)
        if dry_run:
            if as_json:
                print_json(
                    {
                        "run": plan.run_id,
                        "dry_run": True,
                        "channels": _renderings_json(list(plan.renderings)),
                    }
                )
            else:
                console().print("Dry run: nothing was sent.")
            return
        if not yes:
            typer.confirm(f"Send {len(plan.deliveries)} post(s) now?", abort=True)
        progress = None if as_json else _Progress()
        outcome = _run(
            progress,
            lambda sink: send_plan(ws, plan, sink, resend_in_doubt=resend_in_doubt, checked=True),
        )
        _finish(outcome, progress, as_json)

    @app.command()
    def resume(
        ctx: typer.Context,
        run_id: Annotated[
            str | None, typer.Argument(help="Run id (default: the latest run).")
        ] = None,
        resend_in_doubt: ResendOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Finish an interrupted or failed run: deliver what is not delivered, never twice.

        [bold]Example:[/bold] prcast resume run-3f2a9c1d0e4b
        """
        from prcast.delivery import run_deliveries
        from prcast.report import list_runs

        ws = workspace(ctx)
        if run_id is None:
            runs = list_runs(ws)
            if not runs:
                from prcast.errors import InputError

                raise InputError(
                    "no runs yet in this workspace", hint="prcast send RELEASE starts one"
                )
            run_id = runs[0].id
        rid = run_id
        progress = None if as_json else _Progress()
        outcome = _run(
            progress, lambda sink: run_deliveries(ws, rid, sink, resend_in_doubt=resend_in_doubt)
        )
        _finish(outcome, progress, as_json)
