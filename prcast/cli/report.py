"""`prcast report`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prcast.cli.common import console, print_json, workspace
from prcast.errors import AuditError

if TYPE_CHECKING:
    from prcast.workspace import Workspace


class Format(StrEnum):
    text = "text"
    md = "md"
    html = "html"
    json = "json"


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        ctx: typer.Context,
        run_id: Annotated[
            str | None, typer.Argument(help="Run id (default: the latest run).")
        ] = None,
        fmt: Annotated[
            Format, typer.Option("--format", "-f", help="text, md, html or json.")
        ] = Format.text,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write to this file.")
        ] = None,
        list_runs_: Annotated[bool, typer.Option("--list", help="List the runs instead.")] = False,
        conference: Annotated[
            str | None,
            typer.Option(
                "--conference",
                help="Report on a conference instead: transcript, response times, unanswered questions, timeline (HTML).",
            ),
        ] = None,
        public: Annotated[
            bool | None,
            typer.Option(
                "--public/--include-private",
                help="With --conference: leave out (or keep, marked private) the questions sent by "
                "direct message and their answers. Default: left out of md and html, which are "
                "meant for publication; kept in text and json.",
            ),
        ] = None,
    ) -> None:
        """What went where, when, with which remote ids and URLs; failures with reasons. Built only from the audit log and the state store, and says whether the audit chain verified.

        [bold]Example:[/bold] prcast report --format html -o report.html

        [bold]Example:[/bold] prcast report --conference launch --format html -o launch.html
        """
        from prcast import report as core

        ws = workspace(ctx)
        if conference is not None:
            _conference(ws, conference, fmt, output, public)
            return
        if list_runs_:
            runs = core.list_runs(ws)
            if fmt is Format.json:
                print_json([r.__dict__ for r in runs])
            else:
                for r in runs:
                    console().print(f"{r.id}  {r.status:<10}  {r.updated_at[:19]}  {r.release_id}")
            return
        rep = core.build_report(ws, run_id)
        if fmt is Format.text and output is None:
            _print_text(rep)
            return
        if fmt is Format.json:
            import json

            text = json.dumps(rep.as_dict(), ensure_ascii=False, indent=2) + "\n"
        elif fmt is Format.html:
            text = core.to_html(rep)
        else:
            text = core.to_markdown(rep)
        _emit(text, output)


def _emit(text: str, output: Path | None) -> None:
    """The report to `output`, or to standard output."""
    if output:
        output.write_text(text, encoding="utf-8")
        console().print(f"Report written to {output}")
    else:
        typer.echo(text, nl=False)


def _conference(
    ws: Workspace, name: str, fmt: Format, output: Path | None, public: bool | None
) -> None:
    import json

    from prcast import conference
    from prcast.conference import report as conference_report

    conf = conference.load(ws, conference.resolve_name(ws, name))
    if public is None:  # private questions stay out of what is meant for publication
        public = fmt in (Format.md, Format.html)
    rep = conference_report.build(ws, conf, public=public)
    if fmt is Format.json:
        text = json.dumps(rep.as_dict(), ensure_ascii=False, indent=2) + "\n"
    elif fmt is Format.html:
        text = conference_report.to_html(rep, ws.templates_dir)
    elif fmt is Format.md:
        text = conference_report.to_markdown(rep, ws.templates_dir)
    else:
        text = conference_report.to_text(rep, ws.templates_dir)
    _emit(text, output)
    if not rep.audit_ok:
        raise AuditError(rep.audit_message)


def _print_text(rep: object) -> None:
    from rich.markup import escape
    from rich.table import Table

    from prcast.report import IN_DOUBT_ADVICE, STATUSES, Report

    assert isinstance(rep, Report)
    run = rep.run
    con = console()
    con.print(f"[bold]Delivery report: {run.release_id}[/bold]  run {run.id} ({run.status})")
    con.print(f"Release {run.release_path}")
    con.print(f"Planned {run.created_at[:19]} UTC, last activity {run.updated_at[:19]} UTC")
    # only the columns this run needs, so the table fits an 80-column terminal
    show_target = any(r.target != "public" for r in rep.rows)
    show_error = any(r.error for r in rep.rows)
    table = Table()
    table.add_column("Channel", overflow="fold")
    if show_target:
        table.add_column("Target", overflow="fold")
    table.add_column("Part")
    table.add_column("Status")
    table.add_column("Sent (UTC)", no_wrap=True)
    table.add_column("Remote id / URL", overflow="fold")
    if show_error:
        table.add_column("Error", overflow="fold")
    for r in rep.rows:
        style = {"delivered": "green", "failed": "red", "in-doubt": "yellow"}.get(r.status, "")
        cells = [r.channel] + ([r.target] if show_target else [])
        cells += [
            f"{r.part}/{r.parts}",
            f"[{style}]{r.status}[/{style}]" if style else r.status,
            (r.finished_at or "")[11:19],
            escape(r.url or r.remote_id or ""),
        ]
        if show_error:
            cells.append(escape(r.error or ""))
        table.add_row(*cells)
    con.print(table)
    if rep.groups:
        groups = Table(title="Per group", title_justify="left")
        groups.add_column("Group")
        shown = [s for s in STATUSES if any(c.get(s) for c in rep.groups.values())]
        for status in shown:
            groups.add_column(status, justify="right")
        for group, counts in rep.groups.items():
            groups.add_row(group, *(str(counts.get(s, 0)) for s in shown))
        con.print(groups)
    for r in rep.failed:
        con.print(
            f"{r.status}: {r.channel} -> {r.target}: {r.error or ''}", style="red", markup=False
        )
    if rep.in_doubt:
        con.print(f"{len(rep.in_doubt)} in doubt:", style="bold yellow")
        for r in rep.in_doubt:
            con.print(
                f"  {r.channel} -> {r.target} (part {r.part}/{r.parts})",
                style="yellow",
                markup=False,
            )
        con.print(IN_DOUBT_ADVICE.format(run=run.id), style="yellow", markup=False)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(rep.counts.items()))
    con.print(f"Deliveries: {summary}")
    if rep.scheduled:
        sch = rep.scheduled
        con.print(f"Scheduled #{sch['schedule']}: due {sch['due'][:19]} UTC, fired {sch['fired'][:19]} UTC "
                  f"({sch['delay_seconds']:+.1f} s), first send {str(sch.get('first_send', '-'))[:19]}", markup=False)  # fmt: skip
    con.print(("[green]" if rep.audit_ok else "[bold red]") + rep.audit_message)
    if rep.checkpoint:
        con.print(
            f"Audit checkpoint (verifier key {rep.checkpoint[1]}):", markup=False, soft_wrap=True
        )
        con.print(rep.checkpoint[0].rstrip("\n"), markup=False, soft_wrap=True)
