"""Start-up: whole-process time of a cold `prcast --help` and `prcast render` on a small
release, against `toot --help` on the same machine (median of >= 10 runs).

    .venv/bin/python -m benchmarks.startup --runs 10
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import measure, timed

BIN = Path(sys.executable).parent


def run(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([BIN / "prcast", "init", f"{tmp}/ws"], check=True, capture_output=True)

        def whole(*cmd: object) -> float:
            return timed(
                lambda: subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
            )

        helps = measure(lambda: whole(BIN / "prcast", "--help"), runs)
        render = measure(
            lambda: whole(BIN / "prcast", "--workspace", f"{tmp}/ws", "render", "example"), runs
        )
        toot = measure(lambda: whole(BIN / "toot", "--help"), runs)
    return {"help": helps, "render": render, "toot": toot, "ratio": helps.median / toot.median}


def report(r: dict[str, Any]) -> list[str]:
    ms = 1000.0
    return [
        "start-up, whole process (milliseconds):",
        f"  prcast --help:          {r['help'].median * ms:.0f} ms (min {r['help'].low * ms:.0f}, max {r['help'].high * ms:.0f})",
        f"  prcast render (small):  {r['render'].median * ms:.0f} ms (min {r['render'].low * ms:.0f}, max {r['render'].high * ms:.0f})",
        f"  toot --help:            {r['toot'].median * ms:.0f} ms (min {r['toot'].low * ms:.0f}, max {r['toot'].high * ms:.0f})",
        f"  prcast --help / toot --help = {r['ratio']:.2f} (goal <= 1.0)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    print("\n".join(report(run(parser.parse_args().runs))))


if __name__ == "__main__":
    main()
