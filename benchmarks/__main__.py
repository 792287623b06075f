"""Run every benchmark in one run and write benchmarks/RESULTS.md.

.venv/bin/python -m benchmarks            # the sizes the goals name (about 20 minutes)
.venv/bin/python -m benchmarks --quick    # small sizes, to see that everything runs
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from benchmarks import audit_verify, email_fanout, peers, rate_limited_posting, scaling, startup
from benchmarks.common import machine


def verdict(met: bool, why: str) -> str:
    return ("**Met.** " if met else "**Not met.** ") + why


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "RESULTS.md")
    quick = parser.parse_args().quick
    args = parser.parse_args()
    runs = 1 if quick else 5
    sections: list[tuple[str, list[str], str]] = []

    fan = email_fanout.run(300 if quick else 10_000, runs)
    sections.append(
        (
            "Email fan-out",
            email_fanout.report(fan),
            verdict(
                fan["vs_ceiling"] >= 0.8 and fan["vs_naive"] >= 5,
                "prcast pays per message for what the baselines skip: personalised rendering, two fsynced audit "
                "records and a SQLite update before and after each message (profiled with pyinstrument: MIME "
                "building and the audit fsyncs dominate). On loopback a new connection costs little, so the naive "
                "loop is no real baseline here. Batching audit records (group commit) is the next step.",
            ),
        )
    )
    rate = rate_limited_posting.run(60 if quick else 200, 10)
    sections.append(
        (
            "Rate-limited posting",
            [
                f"{rate['posts']:.0f} posts at {rate['rate']:.0f}/s: wall {rate['wall']:.2f} s, theoretical minimum "
                f"{rate['minimum']:.2f} s, ratio {rate['ratio']:.3f}, 429 answers {rate['429s']:.0f}"
            ],
            verdict(
                rate["ratio"] <= 1.10 and rate["429s"] == 0,
                "prcast paces from the server's rate-limit headers and spreads what is left of each window.",
            ),
        )
    )
    peer = peers.run(30 if quick else 300, runs)
    sections.append(
        (
            "Posting against peers",
            peers.report(peer),
            verdict(
                peer["vs_mastodon_py"] >= 1 and peer["vs_toot"] >= 1,
                "prcast beats a process-per-post CLI by far, but a bare Mastodon.py loop does no durable bookkeeping: "
                "prcast fsyncs an audit record before and after every post so that a crash can never double or lose one.",
            ),
        )
    )
    audit = audit_verify.run(50_000 if quick else 1_000_000, runs)
    sections.append(
        (
            "Audit verification",
            audit_verify.report(audit),
            verdict(
                audit["ratio"] >= 0.5,
                "verification parses each record's JSON, re-serialises it canonically and hashes it twice "
                "(its own hash and the chain): pure Python per record against one C hash over the bytes. "
                "A faster path (hash the raw line, parse only the fields needed) is the next step.",
            ),
        )
    )
    start = startup.run(3 if quick else 10)
    sections.append(
        (
            "Start-up",
            startup.report(start),
            verdict(start["ratio"] <= 1.0, "the CLI imports its commands' modules lazily."),
        )
    )
    scale = scaling.run([1, 10, 50] if quick else [1, 10, 100, 1000])
    growth = scale[-1]["per_release_ms"] / scale[1]["per_release_ms"]
    sections.append(
        (
            "Scaling",
            scaling.report(scale),
            verdict(
                growth <= 1.5,
                "time per release stays flat from 10 to the largest size (the first size pays one-off imports).",
            ),
        )
    )

    out = [f"# Benchmark results\n\nMeasured {datetime.date.today().isoformat()} in one run of "
           f"`python -m benchmarks{' --quick' if quick else ''}` on {machine()}. Each figure is the median "
           f"of {runs} runs with min-max, beside its baseline measured in the same run.\n"]  # fmt: skip
    for title, lines, judgement in sections:
        out.append(f"## {title}\n\n```\n" + "\n".join(lines) + f"\n```\n\n{judgement}\n")
    args.output.write_text("\n".join(out), encoding="utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
