"""`prcast approver init|add|list|show`: approvers' keys for signed approvals."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from prcast.cli.common import console, err_console, print_json, workspace

app = typer.Typer(
    help="Approvers' keys: each approver signs approvals with their own key; the workspace lists the keys that count.\n\n"
    '[bold]Example:[/bold] prcast approver init --name "Jana Example"',
    rich_markup_mode="rich",
    no_args_is_help=True,
)


@app.command()
def init(
    name: Annotated[str, typer.Option("--name", help="Your name, as approvals will show it.")],
) -> None:
    """Create your approver key (in your config folder, never in a workspace) and print its verifier key, for the workspace's approvers.toml.

    [bold]Example:[/bold] prcast approver init --name "Jana Example"
    """
    from prcast import approvals

    key = approvals.create_key(name)
    err_console().print(f"created your approver key {key.path}", markup=False)
    console().print(
        f"Have it added to each workspace whose releases you approve:\n"
        f'  prcast approver add --name "{name}" {key.verifier.vkey}',
        markup=False,
        soft_wrap=True,
    )


@app.command()
def show(
    as_: Annotated[
        str | None, typer.Option("--as", help="Which of your approver keys (when several).")
    ] = None,
) -> None:
    """Print the verifier key of your approver key.

    [bold]Example:[/bold] prcast approver show
    """
    from prcast import approvals

    sys.stdout.write(approvals.own_key(as_).verifier.vkey + "\n")


@app.command()
def add(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The approver's verifier key (NAME+ID+KEY).")],
    name: Annotated[str, typer.Option("--name", help="The approver's name.")],
) -> None:
    """Register an approver: add their verifier key to approvers.toml (recorded in the audit log).

    [bold]Example:[/bold] prcast approver add --name "Jana Example" jana-example+1a2b3c4d+AQ...
    """
    from prcast import approvals

    ws = workspace(ctx)
    log = ws.audit()

    def record(new: approvals.Approver) -> None:  # durable before the key counts
        log.append("approver.added", name=new.name, key=new.key.vkey)

    approver = approvals.register(ws.root, name, key, announce=record)
    console().print(f"registered {approver.name} ({approver.key.name})", markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print data as JSON.")] = False,
) -> None:
    """List the approvers registered in approvers.toml and their keys.

    [bold]Example:[/bold] prcast approver list
    """
    from prcast import approvals

    found = approvals.load_approvers(workspace(ctx).root)
    if as_json:
        print_json([{"name": a.name, "key": a.key.vkey} for a in found])
        return
    for a in found:
        console().print(f"{a.name}: {a.key.vkey}", markup=False, soft_wrap=True)
    if not found:
        console().print("no approvers registered (approvers.toml)", markup=False)
