"""Shared fixtures. Every test runs in its own temporary folder and home: nothing real is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from prcast.cli import app
from prcast.workspace import Workspace, init_workspace

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))  # signing keys, checkpoints
    for name in ("PRCAST_SIGNING_KEY", "PRCAST_APPROVER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PRCAST_WORKSPACE", raising=False)
    for name in ("PRCAST_DATABASE_URL", "PRCAST_DATABASE_SCHEMA"):  # a developer's own database
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace, _ = init_workspace(tmp_path / "ws")
    return workspace


Invoke = Callable[..., Result]


@pytest.fixture
def cli(ws: Workspace) -> Invoke:
    """Run prcast in the workspace `ws` through Typer's CliRunner."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["--workspace", str(ws.root), *args], input=input)

    return invoke


def outbox_entries(ws: Workspace) -> list[Path]:
    posts = ws.root / "outbox" / "posts"
    return sorted(posts.glob("*.json")) if posts.is_dir() else []
