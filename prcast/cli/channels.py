"""`prcast channels list|test`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from prcast.cli.common import console, print_json, workspace
from prcast.errors import DeliveryError

app = typer.Typer(
    help="What is configured in channels.toml, and whether each channel works.\n\n"
    "[bold]Example:[/bold] prcast channels test",
    rich_markup_mode="rich",
    no_args_is_help=True,
)


@app.command("list")
def list_channels(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the channels as JSON.")] = False,
) -> None:
    """The configured channels with their counting rule, limit (as the server last published it, else channels.toml or the platform default) and the secrets they name, with where each is found (environment, .env, keyring; never its value).

    [bold]Example:[/bold] prcast channels list
    """
    from rich.markup import escape
    from rich.table import Table

    from prcast.limits import cached_limits
    from prcast.render import effective_limits

    ws = workspace(ctx)
    cached = cached_limits(ws)
    rows = []
    for config in ws.config.channels.values():
        limits = effective_limits(config, cached.get(config.name))
        rows.append(
            {
                "name": config.name,
                "type": config.type,
                "rule": config.rule,
                "limit": limits.max_length,
                "limit_from_server": config.name in cached and not config.max_length,
                "target": config.where(),
                "secrets": [
                    {
                        "ref": str(r),
                        "variable": r.variable,
                        "set": source is not None,
                        "source": source,
                    }
                    for r in config.secrets()
                    for source in [r.source()]
                ],
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table()
    for col in ("Channel", "Type", "Counting", "Limit", "Where", "Secrets"):
        table.add_column(col, overflow="fold")
    for r in rows:
        secret_text = ", ".join(
            f"{escape(s['ref'])} " + (f"[green]set ({s['source']})[/green]" if s["set"] else "[red]missing[/red]")
            for s in r["secrets"]  # type: ignore[attr-defined]
        )  # fmt: skip
        limit = f"{r['limit']}{' (server)' if r['limit_from_server'] else ''}"
        table.add_row(
            str(r["name"]), str(r["type"]), str(r["rule"]), limit, str(r["target"]), secret_text
        )
    console().print(table)


@app.command("test")
def test_channels(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Channels to check (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Check each channel's credentials and reachability without posting (verify_credentials, getSession, whoami, users/me), and cache the limits servers publish. One line per channel; exit 1 if any failed.

    [bold]Example:[/bold] prcast channels test press-mastodon
    """
    import asyncio

    from rich.markup import escape

    from prcast.channels import ChannelCheck, check_channel
    from prcast.limits import save_limits

    ws = workspace(ctx)
    configs = [ws.config.channel(n) for n in names] if names else list(ws.config.channels.values())

    async def run_all() -> list[ChannelCheck]:
        return list(
            await asyncio.gather(*(check_channel(c, ws.root, ws.templates_dir) for c in configs))
        )

    results = asyncio.run(run_all())
    save_limits(ws, {r.name: r.limits for r in results if r.limits is not None})
    if as_json:
        print_json([dataclasses.asdict(r) for r in results])
    else:
        con = console()
        for r in results:
            mark = "[green]ok[/green]  " if r.ok else "[red]FAIL[/red]"
            con.print(f"{mark} {escape(r.name)} ({r.type}): {escape(r.detail)}")
    failed = sum(not r.ok for r in results)
    if failed:
        raise DeliveryError(f"{failed} of {len(results)} channel(s) failed the check")
