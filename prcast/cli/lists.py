"""`prcast lists import|show|groups|suppress`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from prcast.cli.common import console, err_console, print_json, workspace
from prcast.errors import ExitCode, location

app = typer.Typer(
    help="Press lists: contacts, recipient groups and opt-outs, kept centrally in lists/.\n\n"
    "[bold]Example:[/bold] prcast lists import journalists.csv --group tech-press",
    rich_markup_mode="rich",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON.")]


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header row: name, email, mastodon, bluesky, x, outlet, beat, language, tags, opt_out."
        ),
    ],
    group: Annotated[
        str | None, typer.Option("--group", "-g", help="Add the imported contacts to this group.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import contacts from CSV into lists/contacts.csv. Contacts already known (same email or handle) are merged, not doubled; each bad row is reported with its line and not imported. Exit 1 when some rows were rejected.

    [bold]Example:[/bold] prcast lists import journalists.csv --group tech-press
    """
    from prcast.lists import import_csv

    ws = workspace(ctx)
    result = import_csv(ws.lists_dir, file, group)
    summary = {
        "added": result.added,
        "merged": result.merged,
        "unchanged": result.unchanged,
        "rejected": len(result.errors),
        "group": group,
        "errors": [dataclasses.asdict(e) for e in result.errors],
    }
    if as_json:
        print_json(summary)
    else:
        err = err_console()
        for e in result.errors:
            what = f"{e.field}: " if e.field else ""
            err.print(
                f"{location(file, e.line)}: {what}{e.message}",
                style="red",
                markup=False,
                highlight=False,
            )
        con = console()
        con.print(
            f"{result.added} added, {result.merged} merged, {result.unchanged} unchanged, "
            f"{len(result.errors)} rejected" + (f"; group {group} updated" if group else ""),
            markup=False,
        )
    if result.errors:
        raise typer.Exit(int(ExitCode.DELIVERY_FAILED))


@app.command("show")
def show(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The group to resolve.")],
    as_json: JsonOpt = False,
) -> None:
    """Resolve a group to its final, de-duplicated recipients and show why each person is in it; suppressed contacts are listed apart and never receive anything.

    [bold]Example:[/bold] prcast lists show tech-press
    """
    from rich.table import Table

    from prcast.lists import PressList

    resolution = PressList(workspace(ctx).lists_dir).resolve(group)
    if as_json:
        print_json(
            {
                "group": group,
                "recipients": [
                    {**dataclasses.asdict(r.contact), "reasons": r.reasons}
                    for r in resolution.recipients
                ],
                "suppressed": [
                    {**dataclasses.asdict(r.contact), "reasons": r.reasons}
                    for r in resolution.suppressed
                ],
            }
        )
        return
    table = Table(title=f"{group}: {len(resolution.recipients)} recipients", title_justify="left")
    for col in ("Name", "Address", "Outlet", "Why"):
        table.add_column(col, overflow="fold")
    for r in resolution.recipients:
        table.add_row(r.contact.name, r.contact.id, r.contact.outlet, "; ".join(r.reasons))
    con = console()
    con.print(table)
    for r in resolution.suppressed:
        con.print(
            f"suppressed: {r.contact.id} ({'; '.join(r.reasons)})", style="yellow", markup=False
        )


@app.command("groups")
def groups(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the groups in lists/groups.toml with their size.

    [bold]Example:[/bold] prcast lists groups
    """
    from prcast.lists import PressList

    press = PressList(workspace(ctx).lists_dir)
    rows = []
    for name, spec in press.groups.items():
        res = press.resolve(name)
        rows.append({"group": name, "description": spec.description, "recipients": len(res.recipients),
                     "suppressed": len(res.suppressed)})  # fmt: skip
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console().print(
            f"{r['group']}: {r['recipients']} recipients, {r['suppressed']} suppressed  {r['description']}",
            markup=False,
        )


@app.command("suppress")
def suppress(
    ctx: typer.Context,
    addresses: Annotated[
        list[str],
        typer.Argument(help="Email addresses or handles that must never receive anything."),
    ],
) -> None:
    """Add addresses to the workspace-wide suppression list (lists/suppressed.txt); it wins over every group.

    [bold]Example:[/bold] prcast lists suppress reporter@example.org
    """
    from prcast.lists import PressList

    press = PressList(workspace(ctx).lists_dir)
    press.add_suppressed(addresses)
    console().print(f"{len(addresses)} address(es) suppressed", markup=False)
