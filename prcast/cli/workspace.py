"""`prcast init`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prcast.cli.common import console


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Annotated[
            Path, typer.Argument(help="Folder for the new workspace (created if missing).")
        ] = Path("."),
        force: Annotated[
            bool, typer.Option("--force", help="Write the example files again.")
        ] = False,
    ) -> None:
        """Create a workspace: channels.toml with a working outbox channel, an example release, lists/, templates/ and the state folder .prcast/.

        [bold]Example:[/bold] prcast init press && cd press && prcast render releases/example.md
        """
        from prcast.workspace import init_workspace

        ws, created = init_workspace(directory, force=force)
        con = console()
        con.print(f"[green]Created workspace[/green] {ws.root}")
        for path in created:
            con.print(f"  {path.relative_to(ws.root)}")
        con.print("Next: [bold]prcast send releases/example.md[/bold] (run inside the workspace)")
