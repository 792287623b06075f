"""The wheel carries the shipped templates and the scaffold, and works without the repository."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_ships_templates_and_runs_from_an_installed_copy(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = dist.glob("prcast-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "templates").rglob("*.j2"):
        assert f"prcast/templates/{template.relative_to(REPO / 'templates')}" in names
    assert "prcast/templates/scaffold/channels.toml" in names
    assert "prcast/templates/scaffold/example.md" in names

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def prcast(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "prcast", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import prcast; print(prcast.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    assert prcast("init", "ws").returncode == 0
    assert (work / "ws" / "channels.toml").read_text() == (REPO / "channels.toml").read_text()
    sent = prcast("--workspace", "ws", "send", "example", "--yes")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "1 delivered" in sent.stdout
