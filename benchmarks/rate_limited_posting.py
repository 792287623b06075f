"""Rate-limited posting: N posts to the X API test server that allows R posts a second
(x-rate-limit-* headers, 429 beyond). Prints the wall time against the theoretical minimum
N / R and the number of 429 answers. Goal: ratio <= 1.10, no 429.

    .venv/bin/python -m benchmarks.rate_limited_posting --posts 200 --rate 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def run(posts: int, rate: int) -> dict[str, float]:
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
    args = parser.parse_args()
    r = run(args.posts, args.rate)
    print(f"rate-limited posting: {r['posts']:.0f} posts at {r['rate']:.0f}/s")
    print(f"  wall time           {r['wall']:.2f} s")
    print(f"  theoretical minimum {r['minimum']:.2f} s (posts / rate)")
    print(f"  ratio               {r['ratio']:.3f}  (goal <= 1.10)")
    print(f"  429 answers         {r['429s']:.0f}  (goal 0)")


if __name__ == "__main__":
    main()
