"""The benchmark scripts run (with tiny sizes); their figures are measured, not asserted."""

import subprocess
import sys

from tests.conftest import REPO


def test_rate_limited_posting_benchmark_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.rate_limited_posting", "--posts", "12", "--rate", "20"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "theoretical minimum" in result.stdout and "429 answers" in result.stdout
