"""`prcast render`, `prcast send`, `prcast resume`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prcast.cli.common import console, print_json, workspace
from prcast.cli.completion import channel_names, release_names
from prcast.errors import DeliveryError, InputError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from prcast.delivery import Event, Outcome, Plan
    from prcast.render import Rendering
    from prcast.workspace import Workspace

ChannelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--channel",
        "-c",
        help="Only this channel (repeatable). Default: the release's channels, else all.",
        autocompletion=channel_names,
    ),
]
ReleaseArg = Annotated[
    str,
    typer.Argument(help="Release file, or its name under releases/.", autocompletion=release_names),
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
ProcessesOpt = Annotated[
    int | None,
    typer.Option(
        "--processes",
        min=1,
        max=64,
        help="OS processes that send an email channel together (its connections and "
        "max_per_minute are split between them; 1: this process alone). Default: the "
        "channel's `processes`, else the CPU count less one, at most one per connection and "
        "per 500 messages.",
    ),
]


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
            for media in post.media:
                con.print(f"  media: {media.path.name} (alt: {media.alt})", markup=False)
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
        #: deliveries made by this command (a continued run may deliver what an earlier,
        #: stopped attempt did not)
        self.delivered = 0

    def __call__(self, event: Event) -> None:
        if event.kind == "planned":
            self.tasks[event.channel] = self.progress.add_task(event.channel, total=event.total)
            return
        if event.kind == "waiting":
            self.progress.console.print(f"waiting: {event.message}", markup=False)
            return
        if event.kind == "note":  # e.g. a helper process that stopped (its part is taken over)
            self.progress.console.print(event.message, style="yellow", markup=False)
            return
        task = self.tasks.get(event.channel)
        if task is not None:
            self.progress.advance(task)
        if event.kind == "delivered":
            self.delivered += 1
        else:
            self.problems.append(
                f"{event.channel} part {event.part}/{event.parts}: {event.kind}: {event.message}"
            )


def _channel_lines(ws: Workspace, outcome: Outcome, unreachable: dict[str, str]) -> list[str]:
    """One line per channel that failed as a whole: its name, its server, why, and what
    was not sent (the other channels were delivered)."""
    from prcast.secrets import redact
    from prcast.store import DELIVERED, FAILED, IN_DOUBT, SKIPPED

    store_counts: dict[str, dict[str, int]] = {}
    for channel, status in outcome.by_channel:
        store_counts.setdefault(channel, {})
        store_counts[channel][status] = store_counts[channel].get(status, 0) + 1
    lines = []
    for channel, counts in store_counts.items():
        bad = {s: n for s, n in counts.items() if s in (FAILED, IN_DOUBT, SKIPPED)}
        if not bad or counts.get(DELIVERED):
            continue
        config = ws.config.channels.get(channel)
        host = redact(config.where()) if config is not None else ""
        why = unreachable.get(channel) or outcome.channel_errors.get(channel, "")
        what = ", ".join(f"{n} {s}" for s, n in sorted(bad.items()))
        lines.append(f"{channel}{f' ({host})' if host else ''}: not delivered: {why} [{what}]")
    return lines


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


def _finish(
    ws: Workspace,
    outcome: Outcome,
    progress: _Progress | None,
    as_json: bool,
    unreachable: dict[str, str] | None = None,
) -> None:
    from prcast.store import DELIVERED

    failed_channels = _channel_lines(ws, outcome, unreachable or {})
    if as_json:
        print_json(
            {
                "run": outcome.run_id,
                "new_run": outcome.new_run,
                "counts": outcome.counts,
                "ok": outcome.ok,
                "failed_channels": failed_channels,
            }
        )
    else:
        con = console()
        whole = {line.split(" ", 1)[0].rstrip(":") for line in failed_channels}
        if progress:
            for line in progress.problems:
                if line.split(" ", 1)[0] not in whole:
                    con.print(line, style="red", markup=False)
        for line in failed_channels:
            con.print(line, style="red", markup=False)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))
        colour = "green" if outcome.ok else "red"
        con.print(f"[{colour}]Run {outcome.run_id}: {summary}[/{colour}]")
        sent_now = progress is not None and progress.delivered > 0
        all_done = outcome.counts.get(DELIVERED) == sum(outcome.counts.values())
        if not outcome.new_run and all_done and not sent_now:
            con.print("Nothing new was sent: every post of this run was delivered before.")
        con.print(f"Report: [bold]prcast report {outcome.run_id}[/bold]")
    if not outcome.ok:
        raise DeliveryError(
            f"run {outcome.run_id} is incomplete: {outcome.counts}",
            hint=f"see `prcast report {outcome.run_id}`; `prcast resume {outcome.run_id}` retries what failed",
        )


def _confirm(question: str) -> None:
    """Ask before sending; no answer (no terminal, end of input) or "no" is an abort (exit 4)."""
    import sys

    from prcast.errors import AbortedError

    if not sys.stdin.isatty() and not _has_input():
        raise AbortedError(
            "not sent: there is no terminal to confirm on",
            hint="add --yes to send without asking (scripts, cron)",
        )
    try:
        ok = typer.confirm(question, default=False)
    except typer.Abort:
        typer.echo()  # end the question's line
        raise AbortedError(
            "not sent: no answer to the confirmation", hint="add --yes to send without asking"
        ) from None
    if not ok:
        raise AbortedError("not sent: you answered no")


def _has_input() -> bool:
    """Whether standard input (not a terminal) has an answer waiting, e.g. `yes | prcast send`."""
    import select
    import sys

    try:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
    except (OSError, ValueError, TypeError):  # not a real file (a test runner's buffer)
        return True
    return bool(ready)


def _run(sink: _Progress | None, fn: Callable[[Callable[[Event], None]], Outcome]) -> Outcome:
    if sink is None:
        return fn(lambda e: None)
    with sink.progress:
        return fn(sink)


def register(app: typer.Typer) -> None:
    @app.command()
    def render(
        ctx: typer.Context,
        release: ReleaseArg,
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
        release: ReleaseArg,
        channel: ChannelOpt = None,
        to: ToOpt = None,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts, cron).")
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="Plan and show exactly what would go (posts with counts; each email's headers, text and HTML parts; media), send nothing. Works under embargo.",
            ),
        ] = False,
        every: Annotated[
            bool,
            typer.Option(
                "--all",
                help="With --dry-run: show every message, not the first per channel and language.",
            ),
        ] = False,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                help="With --dry-run: write every message to this folder (emails as .eml, posts as .txt).",
            ),
        ] = None,
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
        processes: ProcessesOpt = None,
        new_edition: Annotated[
            bool,
            typer.Option(
                "--new-edition",
                help="Publish the release again as a new edition on every selected channel, even where it was "
                "published before (needs --reason; audited). For an edit after publication.",
            ),
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Send a release to its channels and record every step in the audit log.

        Each post is a publication ("this release, on this channel, to this target, part k") in a ledger: sending again never publishes it twice, whatever channels you select — a wider selection sends only to the new channels. An edit after publication is refused, naming the channels (use --new-edition --reason to publish it again on purpose). Several send/resume/run-due processes on one run share it: each sends what nobody holds and waits for the rest. A large email run is itself sent by several processes (the channel's `processes`, default the CPU count less one; --processes N), its connections split between them. Exit code 0 when all is delivered, 1 when a delivery failed (each failed channel on its own line; the others are delivered), 2 for bad input or a refusal (policy, embargo, an edit after publication), 4 when not confirmed (answered no, or no terminal and no --yes). --dry-run shows exactly what would go, also under embargo.

        [bold]Example:[/bold] prcast send releases/example.md --yes
        """
        from prcast.delivery import new_edition as start_edition
        from prcast.delivery import preflight, prepare
        from prcast.delivery import send as send_plan

        ws = workspace(ctx)
        for flag, wanted in (("--break-embargo", break_embargo), ("--new-edition", new_edition)):
            if wanted and not (reason and reason.strip()):
                raise InputError(f'{flag} needs --reason "...": the reason goes into the audit log')
        override = reason.strip() if break_embargo and reason else None
        unreachable: dict[str, str] = {}
        plan = prepare(
            ws,
            release,
            channel or (),
            to=to or (),
            refresh_limits=True,
            on_unreachable=unreachable.__setitem__,
        )
        if (every or out) and not dry_run:
            raise InputError("--all and --out go with --dry-run")
        preflight(ws, plan, break_embargo=override, new_edition=new_edition, rehearsal=dry_run)
        if not as_json:
            _plan_summary(plan)
        if dry_run:
            from prcast.cli.rehearsal import rehearse

            rehearse(ws, plan, every=every, out=out, as_json=as_json)
            return
        if not yes:
            _confirm(f"Send {len(plan.deliveries)} post(s) now?")
        if new_edition and reason:
            start_edition(ws, plan, reason.strip())
            plan = prepare(ws, release, channel or (), to=to or ())
            preflight(ws, plan, break_embargo=override)
        progress = None if as_json else _Progress()
        outcome = _run(
            progress,
            lambda sink: send_plan(
                ws, plan, sink, resend_in_doubt=resend_in_doubt, checked=True, processes=processes
            ),
        )
        _finish(ws, outcome, progress, as_json, unreachable)

    @app.command()
    def resume(
        ctx: typer.Context,
        run_id: Annotated[
            str | None, typer.Argument(help="Run id (default: the latest run).")
        ] = None,
        resend_in_doubt: ResendOpt = False,
        processes: ProcessesOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Finish an interrupted or failed run: deliver what is not delivered, never twice. Safe beside a running send: it takes only what nobody holds, waits for the rest, and takes over from a process that died.

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
            progress,
            lambda sink: run_deliveries(
                ws, rid, sink, resend_in_doubt=resend_in_doubt, processes=processes
            ),
        )
        _finish(ws, outcome, progress, as_json)
