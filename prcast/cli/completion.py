"""`prcast completion bash|zsh|fish`: print the shell's completion script."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

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
