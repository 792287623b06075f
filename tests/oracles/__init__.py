"""The platforms' own text code as test oracles: twitter-text (X) and @atproto/api
(Bluesky), installed from npm into the test cache and asked through one long-lived Node
process (a JSON line in, a JSON line out), so thousands of texts cost one round trip."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent
# captured at import, before the hermetic fixture points HOME at a temporary folder
ORIGINAL_ENV = dict(os.environ)
CACHE = Path(
    os.environ.get("PRCAST_TEST_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "prcast-tests"
)


def install() -> Path:
    """The oracle's npm packages, installed once into a cache folder keyed by the content of
    package.json and oracle.mjs (the same scheme as the test servers'). Fails loudly: a
    differential test without its oracle is no test."""
    files = sorted(p for p in SOURCE.iterdir() if p.suffix in (".json", ".mjs"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    target = CACHE / f"oracles-{digest}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "oracles.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".ready").exists():
            return target
        building = CACHE / f"oracles-{digest}.building"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        for f in files:
            shutil.copy2(f, building / f.name)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=building, env=ORIGINAL_ENV, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        (target / ".ready").touch()
        return target


class Oracle:
    """One Node process running oracle.mjs; `ask(op, texts)` answers for every text."""

    def __init__(self) -> None:
        home = install()
        self.process = subprocess.Popen(
            ["node", str(home / "oracle.mjs")],
            cwd=home,
            env=ORIGINAL_ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="surrogatepass",
        )

    def ask(self, op: str, texts: list[str]) -> list[Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, "texts": texts}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the oracle stopped (exit code {self.process.poll()})")
        answers: list[Any] = json.loads(line)
        return answers

    def x(self, texts: list[str]) -> list[dict[str, Any]]:
        """twitter-text's parseTweet: weighted length and validity."""
        return self.ask("x", texts)

    def bluesky(self, texts: list[str]) -> list[dict[str, Any]]:
        """@atproto/api: graphemes, UTF-8 bytes, lexicon validity, detectFacets."""
        return self.ask("bluesky", texts)

    def x_entities(self, texts: list[str]) -> list[dict[str, Any]]:
        """twitter-text's URLs, mentions and hashtags, as code point ranges."""
        return self.ask("x_entities", texts)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=10)
