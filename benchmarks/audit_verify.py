"""Audit verification: `prcast audit verify` over a log of 1,000,000 records against the
ceiling, hashlib's SHA-256 over the same bytes in the same process; and durable appends
per second.

    .venv/bin/python -m benchmarks.audit_verify --records 1000000 --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import measure, timed


def write_log(path: Path, records: int) -> None:
    """A valid chained log, written without fsync (the setup is not what is measured)."""
    from prcast.audit import GENESIS, canonical, record_hash

    prev = GENESIS
    with open(path, "w", encoding="utf-8") as f:
        for seq in range(1, records + 1):
            rec: dict[str, Any] = {"seq": seq, "ts": "2026-11-23T09:00:00.000000+00:00", "type": "delivery.succeeded",
                                   "run": "run-0123456789ab", "key": f"{seq:032x}", "channel": "press-mail",
                                   "target": f"j{seq}@outlet.example", "part": 1, "prev": prev}  # fmt: skip
            rec["hash"] = prev = record_hash(rec)
            f.write(canonical(rec) + "\n")


def run(records: int, runs: int, appends: int = 300) -> dict[str, Any]:
    from prcast.audit import AuditLog

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.jsonl"
        write_log(path, records)
        size = path.stat().st_size

        def ceiling() -> float:
            def hash_all() -> None:
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for line in f:
                        h.update(line)

            return records / timed(hash_all)

        def verify() -> float:
            return records / timed(lambda: AuditLog(path).verify())

        def durable_appends() -> float:
            log = AuditLog(Path(tmp) / "appends.jsonl")
            return appends / timed(lambda: [log.append("bench", n=i) for i in range(appends)])

        def batched_appends(batch: int = 50) -> float:
            log = AuditLog(Path(tmp) / "batched.jsonl")
            groups = [
                [("bench", {"n": i}) for i in range(k, k + batch)] for k in range(0, appends, batch)
            ]
            return appends / timed(lambda: [log.append_many(g) for g in groups])

        c, v = measure(ceiling, runs), measure(verify, runs)
        a, b = measure(durable_appends, runs), measure(batched_appends, runs)
    return {
        "batched": b,
        "records": records,
        "bytes": size,
        "ceiling": c,
        "verify": v,
        "ratio": v.median / c.median,
        "appends": a,
    }


def report(r: dict[str, Any]) -> list[str]:
    return [
        f"audit verification of {r['records']:,} records ({r['bytes'] / 1e6:.0f} MB), records/second:",
        f"  ceiling, hashlib SHA-256 over the same lines: {r['ceiling'].show('rec/s', 0)}",
        f"  prcast audit verify:                          {r['verify'].show('rec/s', 0)}",
        f"  ratio {r['ratio']:.2f} (goal >= 0.5)",
        f"  durable appends (fsync each, no batching):    {r['appends'].show('appends/s', 0)}",
        f"  durable appends in batches of 50 (one fsync): {r['batched'].show('appends/s', 0)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(report(run(args.records, args.runs))))


if __name__ == "__main__":
    main()
