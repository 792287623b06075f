"""`prcast report`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prcast.cli.common import console, print_json, workspace
from prcast.errors import AuditError, InputError, refused_write
from prcast.fileio import write_output

if TYPE_CHECKING:
    from prcast.workspace import Workspace


class Format(StrEnum):
    text = "text"
    md = "md"
    html = "html"
    json = "json"
    csv = "csv"


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        ctx: typer.Context,
        run_id: Annotated[
            str | None, typer.Argument(help="Run id (default: the latest run).")
        ] = None,
        fmt: Annotated[
            Format, typer.Option("--format", "-f", help="text, md, html, json or csv.")
        ] = Format.text,
        as_json: Annotated[
            bool, typer.Option("--json", help="The same data as JSON (as --format json).")
        ] = False,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write to this file.")
        ] = None,
        release: Annotated[
            str | None,
            typer.Option(
                "--release",
                help="Report on a release across all its runs and editions (its file, or its id).",
            ),
        ] = None,
        language: Annotated[
            str | None,
            typer.Option(
                "--language",
                help="The report's language (de, fr, en ...). Default: the release's language.",
            ),
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
        """A report for the boss: headed by the release title, summary figures first (reached, delivered, failed, in doubt; per channel and per group), a timeline of the run, links to every published post, approvals, the embargo and any override with user and reason, errors grouped by cause with counts, times in the workspace's time zone, in the release's language. Built only from the audit log and the state store, and says whether the audit chain verified.

        Formats: text (default), md, html (one page, SVG timeline, no JavaScript), json (--json), csv (one row per delivery: run, edition, channel, target, part, status, time, error, url).

        [bold]Example:[/bold] prcast report --format html -o report.html

        [bold]Example:[/bold] prcast report --release releases/example.md --format csv -o example.csv

        [bold]Example:[/bold] prcast report --conference launch --format html -o launch.html
        """
        from prcast import report as core

        ws = workspace(ctx)
        if as_json:
            fmt = Format.json
        if conference is not None:
            _conference(ws, conference, fmt, output, public)
            return
        if list_runs_:
            runs = core.list_runs(ws)
            if fmt is Format.json:
                print_json([r.__dict__ for r in runs])
            else:
                from prcast.cli.review import _local

                zone, _ = core.workspace_zone(ws)
                for r in runs:
                    when = _local(r.updated_at, zone)
                    typer.echo(f"{r.id}  {r.status:<10}  {when}  {r.release_id}")
            return
        if release is not None and run_id is not None:
            raise InputError("give a run id or --release, not both")
        rep = core.build_report(ws, run_id, release=release, language=language)
        if fmt is Format.json:
            text = core.to_json(rep)
        elif fmt is Format.csv:
            text = core.to_csv(rep)
        elif fmt is Format.html:
            text = core.to_html(rep, ws.templates_dir)
        elif fmt is Format.md:
            text = core.to_markdown(rep, ws.templates_dir)
        else:
            text = core.to_text(rep, ws.templates_dir)
        _emit(text, output)
        if not rep.audit_ok:  # the report is still written, and says so; a script sees exit 3
            raise AuditError(rep.audit_message)


def _emit(text: str, output: Path | None) -> None:
    """The report to `output`, or to standard output."""
    if output:
        try:
            write_output(output, text)
        except OSError as exc:
            full = refused_write(exc)  # a full disk: exit 1, as for every other write
            if full is not None:
                raise full from None
            raise InputError(
                f"cannot write the report: {exc.strerror or exc}", path=output
            ) from None
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
