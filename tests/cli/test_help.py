"""Every command teaches: help text with a copy-pasteable example, and it is in the README."""

from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from prcast.cli import app
from tests.conftest import REPO


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]

    def walk(cmd: Any, prefix: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "prcast")
def test_every_command_has_help_with_an_example(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example:" in result.stdout
    assert "prcast " + " ".join(path) in result.stdout.replace("\n", " ")


@pytest.mark.parametrize("path", command_paths()[1:], ids=lambda p: " ".join(p))
def test_every_command_is_documented_in_the_readme(path: list[str]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"prcast {' '.join(path)}" in readme


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("prcast ")
