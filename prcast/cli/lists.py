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


def _mapping(pairs: list[str]) -> dict[str, str]:
    from prcast.errors import InputError

    out = {}
    for pair in pairs:
        source, eq, column = pair.rpartition("=")
        if not eq or not source.strip() or not column.strip():
            raise InputError(
                f'--map "{pair}": write it as "FILE COLUMN=column", e.g. "E-Mail=email"'
            )
        out[source.strip()] = column.strip().lower()
    return out


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header row (`,`, `;` or tab; UTF-8, a BOM is fine): name, email, mastodon, bluesky, x, outlet, beat, language, tags, opt_out, or names --map gives."
        ),
    ],
    group: Annotated[
        str | None, typer.Option("--group", "-g", help="Add the imported contacts to this group.")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help='A column of the file and the prcast column it holds, e.g. "E-Mail=email" (repeatable). Common English and German names (E-Mail, Medium, Ressort, Sprache, Vorname/Nachname...) are understood without it.',
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import contacts from CSV into lists/contacts.csv, as one atomic change of contacts and group. Contacts already known (same email or handle) are merged, not doubled; each bad row is reported with its line and not imported; columns prcast does not keep are ignored with a warning. Exit 1 when some rows were rejected.

    [bold]Example:[/bold] prcast lists import export.csv --map "E-Mail=email" --map "Medium=outlet" --group tech-press
    """
    from prcast.lists import import_csv

    ws = workspace(ctx)
    result = import_csv(ws.lists_dir, file, group, mapping=_mapping(mapping or []), dry_run=dry_run)
    summary = {
        "added": result.added,
        "merged": result.merged,
        "unchanged": result.unchanged,
        "rejected": len(result.errors),
        "group": group,
        "group_added": result.group_added,
        "dry_run": dry_run,
        "mapped": result.mapped,
        "ignored": result.ignored,
        "errors": [dataclasses.asdict(e) for e in result.errors],
    }
    if as_json:
        print_json(summary)
    else:
        err = err_console()
        if result.ignored:
            err.print(
                f"{location(file, 1)}: columns not imported: {', '.join(result.ignored)}"
                ' (name one with --map "COLUMN=field" to keep it)',
                style="yellow",
                markup=False,
                highlight=False,
            )
        for e in result.errors:
            what = f"{e.field}: " if e.field else ""
            err.print(
                f"{location(file, e.line)}: {what}{e.message}",
                style="red",
                markup=False,
                highlight=False,
            )
        con = console()
        if result.mapped:
            shown = ", ".join(f"{k} -> {v}" for k, v in result.mapped.items())
            con.print(f"columns: {shown}", markup=False, highlight=False)
        con.print(
            ("dry run, nothing written: would be " if dry_run else "")
            + f"{result.added} added, {result.merged} merged, {result.unchanged} unchanged, "
            f"{len(result.errors)} rejected"
            + (
                f"; group {group} {'would gain' if dry_run else 'updated'}"
                + (f" ({result.group_added} new members)" if dry_run else "")
                if group
                else ""
            ),
            markup=False,
        )
    if result.errors:
        raise typer.Exit(int(ExitCode.DELIVERY_FAILED))


#: above this many recipients (or when stdout is not a terminal) `lists show` prints plain lines
TABLE_LIMIT = 500


@app.command("show")
def show(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The group to resolve.")],
    as_json: JsonOpt = False,
) -> None:
    """Resolve a group to its final, de-duplicated recipients and show why each person is in it; suppressed contacts are listed apart and never receive anything. A large group, or one shown into a pipe, is printed one recipient a line (address, name, outlet, why; tab-separated).

    [bold]Example:[/bold] prcast lists show tech-press
    """
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
    con = console()
    if con.is_terminal and len(resolution.recipients) <= TABLE_LIMIT:
        from rich.table import Table

        table = Table(
            title=f"{group}: {len(resolution.recipients)} recipients", title_justify="left"
        )
        for col in ("Name", "Address", "Outlet", "Why"):
            table.add_column(col, overflow="fold")
        for r in resolution.recipients:
            table.add_row(r.contact.name, r.contact.id, r.contact.outlet, "; ".join(r.reasons))
        con.print(table)
        for r in resolution.suppressed:
            con.print(
                f"suppressed: {r.contact.id} ({'; '.join(r.reasons)})",
                style="yellow",
                markup=False,
            )
        return
    # rich lays out a table cell by cell (about a minute for 60,000 rows): plain lines instead
    out = con.file
    lines = [
        f"# {group}: {len(resolution.recipients)} recipients, {len(resolution.suppressed)} suppressed\n"
    ]
    lines += (
        f"{r.contact.id}\t{_plain(r.contact.name)}\t{_plain(r.contact.outlet)}\t{'; '.join(r.reasons)}\n"
        for r in resolution.recipients
    )
    lines += (
        f"suppressed: {r.contact.id} ({'; '.join(r.reasons)})\n" for r in resolution.suppressed
    )
    out.write("".join(lines))
    out.flush()


def _plain(text: str) -> str:
    return text.replace("\t", " ")


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


AddressesArg = Annotated[
    list[str],
    typer.Argument(help="Email addresses or handles (@name, @name@server, name.bsky.social)."),
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _addresses(addresses: list[str]) -> None:
    from prcast.errors import InputError
    from prcast.lists import suppression_address

    for a in addresses:
        try:
            suppression_address(a)
        except ValueError as exc:
            raise InputError(str(exc)) from None


@app.command("suppress")
def suppress(ctx: typer.Context, addresses: AddressesArg, reason: ReasonOpt = "") -> None:
    """Add addresses to the workspace-wide suppression list (lists/suppressed.txt); it wins over every group. Each must be an email address or a handle (exit 2 otherwise); the change is audited.

    [bold]Example:[/bold] prcast lists suppress reporter@example.org --reason "asked by phone"
    """
    from prcast.lists import suppress as add

    _addresses(addresses)
    ws = workspace(ctx)
    new = add(ws.lists_dir, addresses)
    if new:
        ws.audit().append("lists.suppressed", addresses=new, reason=reason)
    console().print(
        f"{len(new)} address(es) suppressed"
        + (f", {len(addresses) - len(new)} already were" if len(new) < len(addresses) else ""),
        markup=False,
    )


@app.command("unsuppress")
def unsuppress(
    ctx: typer.Context,
    addresses: AddressesArg,
    reason: Annotated[
        str,
        typer.Option(
            "--reason", help="Why this person may be written to again (required, audited)."
        ),
    ],
) -> None:
    """Take addresses off the suppression list and clear their contacts' opt-out, with a reason recorded in the audit log. An address that is not suppressed is an error (exit 2).

    [bold]Example:[/bold] prcast lists unsuppress reporter@example.org --reason "subscribed again by email, 2026-11-20"
    """
    from prcast.errors import InputError
    from prcast.lists import unsuppress as take_back

    if not reason.strip():
        raise InputError("--reason must say why (it goes into the audit log)")
    _addresses(addresses)
    ws = workspace(ctx)
    log = ws.audit()

    def record(done: list[str]) -> None:  # durable before the change it announces
        log.append("lists.unsuppressed", addresses=done, reason=reason.strip())

    done = take_back(ws.lists_dir, addresses, announce=record)
    console().print(f"{len(done)} address(es) no longer suppressed", markup=False)


@app.command("remove")
def remove(
    ctx: typer.Context,
    addresses: Annotated[list[str], typer.Argument(help="Email addresses or handles of contacts.")],
    group: Annotated[
        str | None,
        typer.Option("--group", "-g", help="Only take them out of this group's members."),
    ] = None,
) -> None:
    """Remove contacts from lists/contacts.csv and from every group's members (or, with --group, only from that group), as one atomic change. To stop writing to someone, prefer `lists suppress`: a removed contact can be imported again.

    [bold]Example:[/bold] prcast lists remove old@example.org
    """
    from prcast.lists import remove as take_out

    gone = take_out(workspace(ctx).lists_dir, addresses, group)
    where = f"group {group}" if group else "the press list"
    console().print(f"{len(gone)} contact(s) removed from {where}", markup=False)
