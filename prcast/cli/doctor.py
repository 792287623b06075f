"""`prcast doctor`."""

from __future__ import annotations

from typing import Annotated

import typer

from prcast.cli.common import console, print_json, workspace

_MARKS = {"ok": "[green]ok  [/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        ctx: typer.Context,
        offline: Annotated[
            bool, typer.Option("--offline", help="Do not contact the channels' servers.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    ) -> None:
        """Check the workspace end to end without posting anything: channels.toml parses, templates compile, releases render, secrets are found (names only, never values), each channel answers its credentials check and publishes its limits, lists and policy load, the audit chain verifies, the clock is sane. One line per check (ok, warn, FAIL). Exit 0 when nothing failed (warnings allowed), 1 a channel failed its check, 2 something in the workspace is broken, 3 the audit log does not verify.

        [bold]Example:[/bold] prcast doctor
        """
        from rich.markup import escape

        from prcast.doctor import diagnose, exit_code

        ws = workspace(ctx)
        checks = []
        con = console()
        for check in diagnose(ws, reach=not offline):
            checks.append(check)
            if not as_json:
                con.print(f"{_MARKS[check.status]} {escape(check.name)}: {escape(check.detail)}")
        code = exit_code(checks)
        if as_json:
            print_json({"workspace": str(ws.root), "ok": code == 0, "exit_code": code,
                        "checks": [c.as_dict() for c in checks]})  # fmt: skip
        if code:
            raise typer.Exit(code)
