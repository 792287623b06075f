"""`prcast schedule add|list|cancel`, `prcast run-due`, `prcast scheduler`."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Annotated

import typer

from prcast.cli.common import console, print_json, workspace
from prcast.errors import DeliveryError

if TYPE_CHECKING:
    from datetime import datetime

    from prcast.delivery import Plan
    from prcast.schedule import Fired, Item
    from prcast.workspace import Workspace

app = typer.Typer(
    help="Queue timed and embargoed runs; `prcast run-due` (cron) or `prcast scheduler` (daemon) send them.\n\n"
    '[bold]Example:[/bold] prcast schedule add releases/example.md --at "2026-12-01 09:30 Europe/Berlin"',
    rich_markup_mode="rich",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON.")]


def _row(item: Item) -> dict[str, object]:
    return {
        "id": item.id, "release": item.release, "due_utc": item.due_at.isoformat(),
        "due_local": item.local_due.isoformat(), "zone": item.zone, "channels": list(item.channels),
        "to": list(item.audience), "missed": item.missed, "status": item.status, "run": item.run_id,
        "detail": item.detail,
    }  # fmt: skip


@app.command("add")
def add(
    ctx: typer.Context,
    release: Annotated[str, typer.Argument(help="Release file, or its name under releases/.")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help='When: "2026-12-01 09:30 Europe/Berlin", ISO 8601 with an offset, or "2026-12-01 09:30" in the workspace\'s timezone. Default: the release\'s embargo.',
        ),
    ] = None,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", "-c", help="Only this channel (repeatable).")
    ] = None,
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Send to this press-list group (repeatable).")
    ] = None,
    missed: Annotated[
        str | None,
        typer.Option(
            "--missed",
            help="If the machine was off at the due time: late (send late, the default) or skip (skip and report). Given explicitly, a time already past is accepted.",
        ),
    ] = None,
    now_if_past: Annotated[
        bool,
        typer.Option(
            "--now-if-past", help="Accept a time already past: the next run-due sends it."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Queue a release for a set time (stored in UTC, shown in the zone given). The release is checked now (policy, lengths) and again when it runs. A time already past is refused (exit 2) unless --now-if-past or --missed says what to do.

    In team mode (PRCAST_DATABASE_URL, or `database` in channels.toml) the release is rendered and checked now (policy, approvals, ledger) and the exact plan is stored in the database; any `prcast worker` sends it at the due time, without the workspace's files.

    [bold]Example:[/bold] prcast schedule add releases/example.md --at "2026-12-01 09:30 Europe/Berlin" --missed skip
    """
    from prcast.delivery import prepare
    from prcast.errors import InputError
    from prcast.schedule import Schedule, parse_when

    ws = workspace(ctx)
    if missed not in (None, "late", "skip"):
        raise InputError(f'--missed must be "late" or "skip", not "{missed}"')
    plan = prepare(ws, release, channel or (), to=to or ())
    if at is None:
        if plan.release.embargo is None:
            raise InputError(
                "the release has no embargo: say when with --at", path=plan.release.path
            )
        due, zone = plan.release.embargo.astimezone(UTC), ws.config.timezone
    else:
        due, zone = parse_when(_zoned(at, ws.config.timezone))
    _refuse_past(at, due, ws.timezone, explicit=now_if_past or missed is not None)
    rel = (
        str(plan.release.path.relative_to(ws.root))
        if plan.release.path.is_relative_to(ws.root)
        else str(plan.release.path)
    )
    from prcast.team import in_team_mode

    if in_team_mode(ws):
        item = _add_team(
            ws, plan, rel, due, zone, list(channel or ()), list(to or ()), missed or "late"
        )
    else:
        schedule = Schedule(ws)
        try:
            item = schedule.add(
                rel, due, zone, list(channel or ()), list(to or ()), missed or "late"
            )
        finally:
            schedule.close()
    if as_json:
        print_json(_row(item))
    else:
        console().print(
            f"scheduled #{item.id}: {item.release} at {item.local_due:%Y-%m-%d %H:%M %Z} ({item.due_at:%Y-%m-%d %H:%M} UTC)",
            markup=False,
        )


#: how far in the past a due time may lie and still count as "now"
PAST_GRACE_SECONDS = 60


def _zoned(at: str, timezone: str) -> str:
    """A time written without a zone ("2026-12-01 09:30") is in the workspace's timezone."""

    try:
        naive = datetime.fromisoformat(at.strip()).tzinfo is None
    except ValueError:
        return at
    return f"{at.strip()} {timezone}" if naive else at


def _refuse_past(at: str | None, due: datetime, zone: tzinfo, explicit: bool) -> None:
    """A due time already past would go out on the next run-due: only when asked for."""
    from datetime import timedelta

    from prcast import clock
    from prcast.errors import InputError

    now = clock.now()
    if explicit or due >= now - timedelta(seconds=PAST_GRACE_SECONDS):
        return
    what = f'--at "{at}"' if at is not None else "the release's embargo"
    raise InputError(
        f"{what} is in the past: {due.astimezone(zone):%Y-%m-%d %H:%M %Z} "
        f"(now {now.astimezone(zone):%Y-%m-%d %H:%M %Z}): not scheduled",
        hint="give a later time, or --now-if-past to have the next run-due send it",
    )


def _add_team(
    ws: Workspace, plan: Plan, rel: str, due: datetime, zone: str, channels: list[str],
    audience: list[str], missed: str,
) -> Item:  # fmt: skip
    """Team mode: the checked plan goes into the team database with the item, and a job
    waits there for its due time; any `prcast worker` sends it."""
    from prcast.schedule import add_team

    return add_team(ws, plan, rel, due, zone, channels, audience, missed)


@app.command("list")
def list_(
    ctx: typer.Context,
    everything: Annotated[
        bool, typer.Option("--all", help="Also items that ran, failed, were skipped or cancelled.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The queue: due time in its zone and in UTC, status and run.

    [bold]Example:[/bold] prcast schedule list --all
    """
    from prcast.schedule import Schedule

    schedule = Schedule(workspace(ctx))
    try:
        items = schedule.items(everything)
    finally:
        schedule.close()
    if as_json:
        print_json([_row(i) for i in items])
        return
    for i in items:
        run = f" run {i.run_id}" if i.run_id else ""
        console().print(
            f"#{i.id} {i.status:<10} {i.local_due:%Y-%m-%d %H:%M %Z}  {i.release}{run}  {i.detail or ''}",
            markup=False,
        )


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(help="The item's number (prcast schedule list).")],
) -> None:
    """Cancel a pending item.

    [bold]Example:[/bold] prcast schedule cancel 3
    """
    from prcast.schedule import Schedule

    schedule = Schedule(workspace(ctx))
    try:
        schedule.cancel(item_id)
    finally:
        schedule.close()
    console().print(f"cancelled #{item_id}", markup=False)


def _print_fired(f: Fired) -> None:
    console().print(
        f"#{f.item.id} {f.item.release}: {f.status}{' run ' + f.run_id if f.run_id else ''} {f.detail}",
        markup=False,
    )


def _run_due_team(ws: Workspace, as_json: bool) -> None:
    """Team mode: leave a job for every due item; the workers (prcast worker) send them."""
    from prcast.schedule import enqueue_due_team

    items = enqueue_due_team(ws)
    if as_json:
        print_json({"enqueued": items})
        return
    for item_id in items:
        console().print(f"#{item_id} handed to the workers", markup=False)
    console().print(
        f"{len(items)} due item(s) handed to the workers (prcast worker); "
        "prcast schedule list --all shows how they went",
        markup=False,
    )


def register(root: typer.Typer) -> None:
    @root.command("run-due")
    def run_due(
        ctx: typer.Context,
        at: Annotated[
            str | None,
            typer.Option(
                "--at",
                help='Rehearse: show what would fire at this time ("2026-12-01 09:30 Europe/Berlin", or without a zone in the workspace\'s timezone), deliver nothing.',
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Send every scheduled item that is due now (the machine's real clock), then exit: for cron or a systemd timer. Exit 1 if an item failed or is incomplete. Several run-due processes (or machines on one database) never run an item twice: each item is claimed by one process, whose lease is renewed while it runs. In team mode (PRCAST_DATABASE_URL set) it hands the due items to the workers (prcast worker) and exits.

        [bold]Example:[/bold] prcast --workspace /srv/press run-due

        [bold]Rehearsal:[/bold] prcast run-due --at "2026-12-01 09:30 Europe/Berlin" (nothing is sent)
        """
        from prcast.schedule import parse_when, rehearse
        from prcast.schedule import run_due as run

        ws = workspace(ctx)
        if at is not None:
            moment, _ = parse_when(_zoned(at, ws.config.timezone))
            items = rehearse(ws, moment)
            if as_json:
                print_json(
                    {"rehearsal_at": moment.isoformat(), "would_fire": [_row(i) for i in items]}
                )
                return
            for i in items:
                console().print(
                    f"would fire #{i.id} {i.release} (due {i.local_due:%Y-%m-%d %H:%M %Z})",
                    markup=False,
                )
            console().print(
                f"Rehearsal for {moment:%Y-%m-%d %H:%M} UTC: {len(items)} item(s) would fire; nothing was sent.",
                markup=False,
            )
            return
        from prcast.team import in_team_mode

        if in_team_mode(ws):
            _run_due_team(ws, as_json)
            return
        fired_all: list[Fired] = []

        def show(f: Fired) -> None:
            fired_all.append(f)
            if not as_json:
                _print_fired(f)

        fired = run(ws, show)
        if as_json:
            print_json(
                [
                    {**_row(f.item), "fired": f.status, "run": f.run_id, "detail": f.detail}
                    for f in fired_all
                ]
            )
        bad = [f for f in fired if f.status in ("failed", "incomplete")]
        if bad:
            raise DeliveryError(
                f"{len(bad)} scheduled item(s) did not complete", hint="prcast schedule list --all"
            )

    @root.command("scheduler")
    def scheduler(
        ctx: typer.Context,
        poll: Annotated[
            float, typer.Option("--poll", help="Look at the queue at least every so many seconds.")
        ] = 30.0,
    ) -> None:
        """Run as a daemon: sleep until the next item is due, send it, repeat. SIGTERM or Ctrl-C stops it cleanly after the item in hand. In team mode (PRCAST_DATABASE_URL set) it runs a prcast worker.

        [bold]Example:[/bold] prcast --workspace /srv/press scheduler
        """
        import signal

        from prcast.schedule import serve

        ws = workspace(ctx)
        from prcast.team import in_team_mode

        if in_team_mode(ws):
            from prcast.cli.worker import run_worker

            console().print(
                "team mode: running a prcast worker (prcast worker --help)", markup=False
            )
            run_worker(None, 1, None)
            return
        stopping = {"now": False}

        def stop(signum: int, frame: object) -> None:
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        console().print(f"scheduler running for {ws.root}", markup=False)
        serve(ws, lambda: stopping["now"], poll, _print_fired)
        console().print("scheduler stopped", markup=False)
