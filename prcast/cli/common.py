"""What every command shares: settings, the workspace, consoles, error printing."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from prcast.errors import PrcastError
from prcast.secrets import redact
from prcast.workspace import Workspace, find_workspace


@dataclass
class Settings:
    workspace: Path | None = None
    debug: bool = False


def workspace(ctx: typer.Context) -> Workspace:
    settings = ctx.find_object(Settings) or Settings()
    return find_workspace(settings.workspace)


def console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def err_console() -> Console:
    return Console(file=sys.stderr, highlight=False)


def print_error(exc: PrcastError) -> None:
    con = err_console()
    con.print(
        f"[bold red]error:[/bold red] {escape(redact(exc.message))}",
        markup=True,
        soft_wrap=True,
        emoji=False,
    )
    if exc.hint:
        con.print(f"[dim]hint:[/dim] {escape(redact(exc.hint))}", soft_wrap=True, emoji=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
