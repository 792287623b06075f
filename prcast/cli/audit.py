"""`prcast audit verify|show|export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from prcast.cli.common import console, print_json, workspace

app = typer.Typer(
    help="Prove and read the hash-chained audit log.\n\n[bold]Example:[/bold] prcast audit verify",
    rich_markup_mode="rich",
    no_args_is_help=True,
)


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check every record's hash and the chain. Exit 0 when intact, 3 naming the first bad record.

    [bold]Example:[/bold] prcast audit verify
    """
    from prcast.audit import AuditLog

    ws = workspace(ctx)
    result = AuditLog(ws.audit_path).verify()
    console().print(
        f"[green]audit log intact[/green]: {result.records} records, head {result.head[:16]}…"
    )


@app.command()
def show(
    ctx: typer.Context,
    run: Annotated[str | None, typer.Option("--run", help="Only records of this run.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the records as a JSON array.")
    ] = False,
    last: Annotated[int | None, typer.Option("--last", help="Only the last N records.")] = None,
) -> None:
    """Show audit records, oldest first.

    [bold]Example:[/bold] prcast audit show --run run-3f2a9c1d0e4b --json
    """
    from rich.table import Table

    from prcast.audit import AuditLog

    records = [
        r
        for r in AuditLog(workspace(ctx).audit_path).records()
        if run is None or r.get("run") == run
    ]
    if last is not None:
        records = records[-last:]
    if as_json:
        print_json(records)
        return
    table = Table()
    for col in ("#", "time (UTC)", "type", "run", "channel", "part", "detail"):
        table.add_column(col)
    for r in records:
        detail = r.get("url") or r.get("reason") or r.get("release") or ""
        table.add_row(
            str(r["seq"]),
            r["ts"][:19],
            r["type"],
            r.get("run", ""),
            r.get("channel", ""),
            str(r.get("part", "")),
            str(detail),
        )
    console().print(table)


@app.command()
def export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Export the audit log as JSON Lines (verified first).

    [bold]Example:[/bold] prcast audit export -o audit-2026-11.jsonl
    """
    from prcast.audit import AuditLog, canonical

    log = AuditLog(workspace(ctx).audit_path)
    log.verify()
    lines = "".join(canonical(r) + "\n" for r in log.records())
    if output:
        output.write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
