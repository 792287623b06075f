"""The benchmark scripts run (with tiny sizes); their figures are measured, not asserted."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPTS = [
    (
        "rate_limited_posting",
        ["--posts", "12", "--rate", "20", "--runs", "1"],
        "theoretical minimum",
    ),
    ("email_fanout", ["--recipients", "20", "--runs", "1"], "(c)/(a)"),
    ("audit_verify", ["--records", "500", "--runs", "1"], "prcast audit verify"),
    ("startup", ["--runs", "1"], "toot --help"),
    ("scaling", ["--sizes", "1,2", "--runs", "1"], "time per release"),
    ("peers", ["--posts", "3", "--runs", "1"], "prcast/Mastodon.py"),
    ("lists", ["--sizes", "20,200", "--runs", "1"], "time per contact"),
    ("workers", ["--recipients", "20", "--workers", "1,2"], "ratio to one worker"),
]


@pytest.mark.parametrize(("script", "args", "expected"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_benchmark_script_runs(script: str, args: list[str], expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
