"""The README's two commands, run as a new user would: in a fresh copy of the repository."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import feedparser
import pytest

from tests.conftest import REPO


def quickstart_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- quickstart -->", 1)[1].split("<!-- /quickstart -->", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("```")]


def test_quick_start_has_exactly_two_commands() -> None:
    assert quickstart_commands() == ["bash scripts/demo", "bash scripts/test"]


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip()
        and not line.lstrip().startswith("#")
        and not re.match(r"(set|cd) ", line.strip())
    ]
    assert commands == [f"exec {quickstart_commands()[1]}"]


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as a clone would have them, without .venv or any state."""
    dest = tmp_path_factory.mktemp("fresh") / "prcast"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def run_demo(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRCAST_", "VIRTUAL_ENV"))}
    env["PIP_CACHE_DIR"] = str(Path.home().parent / "pip-cache")
    cmd = quickstart_commands()[0]
    return subprocess.run(
        ["bash", "-c", cmd], cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )


def test_demo_command_on_a_fresh_copy_delivers_the_example_to_the_outbox(fresh_copy: Path) -> None:
    first = run_demo(fresh_copy)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (
        "Example Corp opens its new repair workshop in Leipzig\nDelivery report: run-"
        in first.stdout
    )
    assert "1 delivered" in first.stdout
    assert "audit chain verified" in first.stdout
    outbox = fresh_copy / "demo-workspace" / "outbox"
    feed = feedparser.parse((outbox / "feed.xml").read_bytes())
    assert not feed.bozo and len(feed.entries) == 1
    assert feed.entries[0].title == "Example Corp opens its new repair workshop in Leipzig"

    second = run_demo(fresh_copy)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Nothing new was sent" in second.stdout
    assert len(list((outbox / "posts").glob("*.json"))) == 1
