"""Posting against peers: 300 posts (one thread) to the Mastodon-API test server
(mastodon-mock) with prcast (`prcast send`, one process), with Mastodon.py (a Python loop)
and with the `toot` CLI (one process per post, as a script would call it). Same server,
same texts. Prints posts/second and the ratios.

    .venv/bin/python -m benchmarks.peers --posts 300 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import measure, timed

BIN = Path(sys.executable).parent
TOKEN = "alice_token"


def texts(posts: int) -> list[str]:
    return [
        f"Update {i:03d}: the plant is safe and every member of staff is accounted for."
        for i in range(1, posts + 1)
    ]


def run(posts: int, runs: int, toot_runs: int | None = None) -> dict[str, Any]:
    from mastodon import Mastodon
    from mastodon_mock.testing.server import MockServer

    lines = texts(posts)
    with MockServer() as server, tempfile.TemporaryDirectory() as tmp:
        base = server.base_url

        def with_prcast() -> float:
            ws = Path(tempfile.mkdtemp(dir=tmp)) / "ws"
            subprocess.run([BIN / "prcast", "init", str(ws)], check=True, capture_output=True)
            with open(ws / "channels.toml", "a", encoding="utf-8") as f:
                f.write(f'\n[channels.masto]\ntype = "mastodon"\ninstance = "{base}"\n'
                        'token = "env:PRCAST_MASTODON_TOKEN"\nmax_length = 100\n')  # fmt: skip
            body = "\n\n".join(lines)
            (ws / "releases" / "bench.md").write_text(
                f'+++\ntitle = "Statement"\nchannels = ["masto"]\n+++\n{body}\n'
            )
            env = {**os.environ, "PRCAST_MASTODON_TOKEN": TOKEN}
            cmd = [str(BIN / "prcast"), "--workspace", str(ws), "send", "bench", "--yes", "--json"]
            return posts / timed(
                lambda: subprocess.run(cmd, check=True, capture_output=True, env=env)
            )

        def with_mastodon_py() -> float:
            api = Mastodon(access_token=TOKEN, api_base_url=base)

            def loop() -> None:
                parent = None
                for text in lines:
                    parent = api.status_post(text, in_reply_to_id=parent)["id"]

            return posts / timed(loop)

        config = Path(tmp) / "toot-config"
        instance = base.split("//", 1)[1]
        (config / "toot").mkdir(parents=True)
        (config / "toot" / "config.json").write_text(json.dumps({
            "apps": {instance: {"instance": instance, "base_url": base, "client_id": "bench", "client_secret": "bench"}},
            "users": {f"alice@{instance}": {"instance": instance, "username": "alice", "access_token": TOKEN}},
            "active_user": f"alice@{instance}",
        }))  # fmt: skip
        toot_env = {**os.environ, "XDG_CONFIG_HOME": str(config)}

        def with_toot() -> float:
            def loop() -> None:
                parent: str | None = None
                for text in lines:
                    cmd = [str(BIN / "toot"), "post", text] + (
                        ["--reply-to", parent] if parent else []
                    )
                    out = subprocess.run(
                        cmd, check=True, capture_output=True, text=True, env=toot_env
                    ).stdout
                    parent = out.strip().rsplit("/", 1)[-1]

            return posts / timed(loop)

        p, m, t = (
            measure(with_prcast, runs),
            measure(with_mastodon_py, runs),
            measure(with_toot, toot_runs or runs),
        )
    return {"posts": posts, "prcast": p, "mastodon_py": m, "toot": t,
            "vs_mastodon_py": p.median / m.median, "vs_toot": p.median / t.median}  # fmt: skip


def report(r: dict[str, Any]) -> list[str]:
    return [
        f"posting against peers, {r['posts']} posts as one thread to mastodon-mock (posts/second):",
        f"  prcast send (one process):      {r['prcast'].show('posts/s')}",
        f"  Mastodon.py (Python loop):      {r['mastodon_py'].show('posts/s')}",
        f"  toot CLI (a process per post):  {r['toot'].show('posts/s')}",
        f"  prcast/Mastodon.py = {r['vs_mastodon_py']:.2f}   prcast/toot = {r['vs_toot']:.2f}   (goal: prcast fastest)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(report(run(args.posts, args.runs))))


if __name__ == "__main__":
    main()
