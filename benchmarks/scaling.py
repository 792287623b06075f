"""Scaling: render + split for 1, 10, 100 and 1,000 releases x 4 channels (outbox, Mastodon,
Bluesky, X): time per release should stay flat (linear growth) and memory bounded.

    .venv/bin/python -m benchmarks.scaling
"""

from __future__ import annotations

import argparse
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.common import timed


def run(sizes: list[int], runs: int = 5) -> list[dict[str, Any]]:
    """Per size: the median time of `runs` runs (min-max), then one more run under
    tracemalloc for the peak memory (tracemalloc slows Python down: it is not timed)."""
    import statistics

    from benchmarks.common import Figure
    from prcast.config import BlueskyConfig, MastodonConfig, OutboxConfig, XConfig
    from prcast.release import load_release
    from prcast.render import render_release
    from prcast.secrets import SecretRef

    channels = [OutboxConfig(name="room"), MastodonConfig(name="m", instance="https://m.example", token=SecretRef("T")),
                BlueskyConfig(name="b", handle="p.example", app_password=SecretRef("T")), XConfig(name="x")]  # fmt: skip
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        made = 0

        def releases(n: int) -> list[Path]:
            """n new releases, each with a text of its own: no run or release profits from
            lengths measured (and cached) for another."""
            nonlocal made
            made += 1
            paths = []
            for i in range(n):
                body = (f"Example Corp opens repair workshop {made}-{i} in Leipzig with forty new jobs. "
                        * 12 + "\n\n") * 3  # fmt: skip
                p = Path(tmp) / f"r{made}-{i}.md"
                p.write_text(
                    f'+++\ntitle = "Release {i}"\nhashtags = ["news"]\n+++\n{body}Item {i}: https://press.example.org/{i}\n'
                )
                paths.append(p)
            return paths

        def work(paths: list[Path]) -> object:
            return [render_release(load_release(p), channels, None) for p in paths]

        for n in sizes:
            times = []
            for _ in range(runs):
                paths = releases(n)
                times.append(timed(lambda paths=paths: work(paths)))
            times.sort()
            tracemalloc.start()
            work(releases(n))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            seconds = statistics.median(times)
            out.append(
                {
                    "releases": n,
                    "seconds": seconds,
                    "figure": Figure(seconds, times[0], times[-1], runs),
                    "per_release_ms": seconds / n * 1000,
                    "peak_mb": peak / 1e6,
                }
            )
    return out


def report(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["scaling, render + split x 4 channels:"]
    for r in rows:
        lines.append(
            f"  {r['releases']:>5} releases: {r['figure'].show('s', 3)}, {r['per_release_ms']:.1f} ms/release, peak {r['peak_mb']:.1f} MB"
        )
    growth = rows[-1]["per_release_ms"] / rows[1]["per_release_ms"] if len(rows) > 1 else 1.0
    lines.append(
        f"  time per release at {rows[-1]['releases']} vs {rows[1]['releases']}: x{growth:.2f} (linear growth: about x1)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(report(run([int(s) for s in args.sizes.split(",")], args.runs))))


if __name__ == "__main__":
    main()
