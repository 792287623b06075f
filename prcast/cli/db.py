"""`prcast db upgrade|status|import`: the state database (SQLite, or a team's PostgreSQL)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from prcast.cli.common import console, print_json, workspace

app = typer.Typer(
    help=(
        "The state database: the workspace's SQLite file, or a PostgreSQL database a team"
        ' shares (PRCAST_DATABASE_URL, or database = "postgresql://…" in channels.toml).\n\n'
        "[bold]Example:[/bold] PRCAST_DATABASE_URL=postgresql://prcast@db.example.org/press"
        " prcast db import"
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _facts(ws: Any) -> dict[str, Any]:
    from prcast.store import Store
    from prcast.store.migrations import LATEST

    database = ws.database
    store = Store(database)  # also for a database that the workspace's files are not in yet
    try:
        counts = {
            t: store.count_rows(t)
            for t in ("runs", "publications", "schedules", "team_plans", "team_keys")
        }
        version = store.version()
    finally:
        store.close()
    return {
        "backend": "postgresql" if database.is_postgres else "sqlite",
        "database": str(database),
        "schema": database.schema if database.is_postgres else None,
        "version": version,
        "latest": LATEST,
        **counts,
    }


@app.command()
def upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Bring the database's schema up to this prcast's version (each machine's prcast also
    does it when it opens the store; two at once apply each step once). On PostgreSQL it
    also creates the job queue's tables (procrastinate's schema) the workers use, under the
    lock the workers take, so the database is ready before the first worker starts.

    [bold]Example:[/bold] PRCAST_DATABASE_URL=postgresql://prcast@db.example.org/press prcast db upgrade
    """
    ws = workspace(ctx)
    facts = _facts(ws)
    queue = None
    if ws.database.is_postgres:
        from prcast.team.tasks import prepare_app

        app, created = prepare_app(ws.database.url)
        app.close()
        queue = "created" if created else "present"
    facts["job_queue"] = queue
    if as_json:
        print_json(facts)
        return
    console().print(
        f"{facts['database']}: schema version {facts['version']} (the latest)", markup=False
    )
    if queue is not None:
        console().print(
            "the workers' job queue (procrastinate's tables): "
            + ("created" if queue == "created" else "already there"),
            markup=False,
        )


@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Which database the workspace uses (the password never shown), its schema version and
    what it holds.

    [bold]Example:[/bold] prcast db status --json
    """
    facts = _facts(workspace(ctx))
    if as_json:
        print_json(facts)
        return
    out = console()
    out.print(f"{facts['backend']}: {facts['database']}", markup=False)
    out.print(
        f"schema version {facts['version']} of {facts['latest']}; {facts['runs']} runs,"
        f" {facts['publications']} publications, {facts['schedules']} schedule items,"
        f" {facts['team_plans']} stored plans, {facts['team_keys']} team audit keys",
        markup=False,
    )


@app.command("import")
def import_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Copy this workspace's SQLite state (.prcast/state.db) and audit log (.prcast/audit.jsonl)
    into its PostgreSQL database, then verify the chain there and check that its export is
    the file byte for byte; the log's latest signed checkpoint and your verifier key are
    kept there for the team's `audit verify`. A database holding another workspace, or another chain, is
    refused; importing again copies only what is missing. Exit 3 when the log is broken.

    [bold]Example:[/bold] PRCAST_DATABASE_URL=postgresql://prcast@db.example.org/press prcast db import
    """
    from prcast.errors import AuditError
    from prcast.store.transfer import import_workspace

    ws = workspace(ctx)
    moved = import_workspace(ws)
    done = moved.imported
    if moved.verified != done.chain or not moved.same_bytes:
        raise AuditError(
            f"{moved.target}: the imported audit chain does not match the file"
            f" ({moved.verified} records verify of {done.chain})",
            hint="prcast audit verify",
        )
    from prcast.checkpoint import seal
    from prcast.errors import PrcastError

    try:  # the file log's latest checkpoint and this machine's key, for the team to check
        seal(ws)
    except PrcastError as exc:
        from prcast.cli.common import err_console

        err_console().print(
            f"warning: the audit checkpoint was not shared in the database: {exc}",
            style="yellow", markup=False, soft_wrap=True,
        )  # fmt: skip
    if as_json:
        print_json(
            {"database": moved.target, "rows": done.rows, "records": done.records,
             "chain": done.chain, "resumed": done.resumed, "verified": moved.verified}
        )  # fmt: skip
        return
    rows = sum(done.rows.values())
    again = (
        " (it held this workspace already: only what it lacked was copied)" if done.resumed else ""
    )
    console().print(
        f"imported into {moved.target}: {rows} rows, {done.records} audit records{again};"
        f" the chain of {done.chain} records verifies there, its first {moved.file_records}"
        " exported are the file, byte for byte",
        markup=False,
    )
