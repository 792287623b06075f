"""Rate-limited posting: N posts to the X API test server that allows R posts a second
(x-rate-limit-* headers, 429 beyond). Prints the wall time against the theoretical minimum
N / R and the number of 429 answers. Goal: ratio <= 1.10, no 429.

    .venv/bin/python -m benchmarks.rate_limited_posting --posts 200 --rate 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def run(posts: int, rate: int, runs: int = 1) -> dict[str, Any]:
    """`runs` runs: the median ratio with min-max, and the 429s of all runs together."""
    from benchmarks.common import Figure

    results = [run_once(posts, rate) for _ in range(runs)]
    ratios = sorted(r["ratio"] for r in results)
    walls = sorted(r["wall"] for r in results)
    return {
        **results[0],
        "runs": runs,
        "ratio": statistics.median(ratios),
        "ratio_figure": Figure(statistics.median(ratios), ratios[0], ratios[-1], runs),
        "wall": statistics.median(walls),
        "wall_figure": Figure(statistics.median(walls), walls[0], walls[-1], runs),
        "429s": sum(r["429s"] for r in results),
    }


def run_once(posts: int, rate: int) -> dict[str, float]:
    from prcast.delivery import prepare, send
    from prcast.workspace import init_workspace
    from tests.servers import ThreadedServer, x_api
    from tests.servers.x_api import XState, create_app

    state = XState(window_limit=rate, window_seconds=1)
    with ThreadedServer(create_app(state)) as url, tempfile.TemporaryDirectory() as tmp:
        ws, _ = init_workspace(Path(tmp) / "ws")
        for name, value in {
            "PRCAST_X_CONSUMER_KEY": x_api.CONSUMER_KEY,
            "PRCAST_X_CONSUMER_SECRET": x_api.CONSUMER_SECRET,
            "PRCAST_X_ACCESS_TOKEN": x_api.ACCESS_TOKEN,
            "PRCAST_X_ACCESS_TOKEN_SECRET": x_api.ACCESS_SECRET,
        }.items():
            os.environ[name] = value
        with open(ws.channels_file, "a", encoding="utf-8") as f:
            f.write(
                f'\n[channels.x]\ntype = "x"\napi_base = "{url}"\n'
                + "".join(f'{k} = "env:PRCAST_X_{k.upper()}"\n'
                          for k in ("consumer_key", "consumer_secret", "access_token", "access_token_secret"))
            )  # fmt: skip
        body = "\n\n".join(
            f"Update {i:04d}: " + "the situation is under control and staff are safe. " * 4
            for i in range(posts)
        )
        (ws.releases_dir / "bench.md").write_text(
            f'+++\ntitle = "Bench"\nchannels = ["x"]\n+++\n{body}\n'
        )
        plan = prepare(ws, "bench")
        assert len(plan.deliveries) >= posts, len(plan.deliveries)
        started = time.perf_counter()
        outcome = send(ws, plan)
        wall = time.perf_counter() - started
        assert outcome.ok, outcome.counts
        sent = len(plan.deliveries)
    minimum = sent / rate
    return {
        "posts": sent,
        "rate": rate,
        "wall": wall,
        "minimum": minimum,
        "ratio": wall / minimum,
        "429s": state.rejected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rate", type=int, default=10, help="posts per second the server allows")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(report(run(args.posts, args.rate, args.runs))))


def report(r: dict[str, Any]) -> list[str]:
    return [
        f"rate-limited posting: {r['posts']:.0f} posts at {r['rate']:.0f}/s, {r['runs']} runs",
        f"  wall time           {r['wall_figure'].show('s', 2)}",
        f"  theoretical minimum {r['minimum']:.2f} s (posts / rate)",
        f"  ratio               {r['ratio_figure'].show('', 3)}  (goal <= 1.10)",
        f"  429 answers         {r['429s']:.0f} in all runs  (goal 0)",
    ]


if __name__ == "__main__":
    main()
