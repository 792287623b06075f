"""`prcast completion bash|zsh|fish`: print the shell's completion script."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from prcast.workspace import Workspace

#: the environment variable the completion scripts set when they ask prcast for candidates
COMPLETE_VAR = "_PRCAST_COMPLETE"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def script(shell: str) -> str:
    """The completion script for `shell`, calling back `prcast` with $_PRCAST_COMPLETE set."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="prcast", complete_var=COMPLETE_VAR, shell=shell)


def register(app: typer.Typer) -> None:
    @app.command()
    def completion(
        shell: Annotated[Shell, typer.Argument(help="bash, zsh, fish or powershell.")],
    ) -> None:
        """Print the shell completion script for commands, options and channel names. Load it in your shell's start-up file, or let `prcast --install-completion` do that.

        [bold]Example:[/bold] prcast completion bash > ~/.local/share/bash-completion/completions/prcast
        """
        sys.stdout.write(script(shell.value) + "\n")


def _workspace_here() -> Workspace | None:
    from prcast.errors import PrcastError
    from prcast.workspace import find_workspace

    try:
        return find_workspace()
    except PrcastError:
        return None


def channel_names(incomplete: str) -> list[str]:
    """Completion candidates for --channel: the channels of the workspace here."""
    from prcast.errors import PrcastError

    ws = _workspace_here()
    if ws is None:
        return []
    try:
        names = list(ws.config.channels)
    except PrcastError:  # a broken channels.toml completes nothing; commands say why
        return []
    return [n for n in names if n.startswith(incomplete)]


def release_names(incomplete: str) -> list[str]:
    """Completion candidates for a release argument: the names under releases/."""
    ws = _workspace_here()
    if ws is None or not ws.releases_dir.is_dir():
        return []
    names = sorted(p.stem for p in ws.releases_dir.glob("*.md"))
    return [n for n in names if n.startswith(incomplete)]
