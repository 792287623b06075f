"""What every command shares: settings, the workspace, consoles, error printing."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import typer
from rich.console import Console
from rich.markup import escape

from prcast.errors import PrcastError
from prcast.secrets import redact, redact_data
from prcast.workspace import Workspace, find_workspace


@dataclass
class Settings:
    workspace: Path | None = None
    debug: bool = False


def workspace(ctx: typer.Context) -> Workspace:
    settings = ctx.find_object(Settings) or Settings()
    return find_workspace(settings.workspace)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts every known secret (in any encoding) before writing."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"


def _redacting(stream: TextIO) -> TextIO:
    return cast(TextIO, RedactingStream(stream))


#: the width rich lays out for when the output is not a terminal (a pipe, a file): wide
#: enough that no value is wrapped or cut; tables take their natural width
PIPE_WIDTH = 100_000


def _console(stream: TextIO) -> Console:
    """Wrapped to the width of a terminal; into a pipe or file, never wrapped or cut."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        return Console(file=_redacting(stream), highlight=False, soft_wrap=False)
    return Console(file=_redacting(stream), highlight=False, soft_wrap=True, width=PIPE_WIDTH)


def console() -> Console:
    """Standard output for people (scripts use --json)."""
    return _console(sys.stdout)


def err_console() -> Console:
    return _console(sys.stderr)


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
    text = json.dumps(redact_data(data), ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(redact(text) + "\n")
