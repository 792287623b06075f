"""Press lists at agency scale: `lists import` of N contacts into a group, resolving that
N-member group, `send --dry-run` to it (an email channel), for 1k, 10k and 100k contacts.

Each figure stands beside a baseline measured in the same run over the same file:
csv.DictReader reading it (import, resolve) and a bare loop formatting one line per
recipient (dry run). Time per contact should stay flat from 1k to 100k (linear growth).

    .venv/bin/python -m benchmarks.lists
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, machine

BEATS = ("tech", "business", "politics", "science", "culture")


def write_export(path: Path, n: int) -> None:
    """A media-database export: German header, `;`, a BOM, a quoted multi-line address
    column and a column prcast does not keep."""
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(
            ["Name", "E-Mail", "Mastodon", "Medium", "Ressort", "Sprache", "Tags", "Adresse"]
        )
        for i in range(n):
            w.writerow([f"Journalist {i}", f"j{i}@outlet{i % 997}.example",
                        f"@j{i}@social{i % 13}.example" if i % 5 == 0 else "", f"Outlet {i % 997}",
                        BEATS[i % 5], "de" if i % 3 else "en", "weekly;print" if i % 4 == 0 else "daily",
                        f"Street {i}\n{10000 + i % 89999} City"])  # fmt: skip


def _baseline_read(path: Path) -> int:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return sum(1 for _ in csv.DictReader(f, delimiter=";"))


def _email_workspace(root: Path) -> Any:
    from prcast.workspace import init_workspace

    ws, _ = init_workspace(root)
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write('\n[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = 2525\ntls = "none"\n'
                'from_address = "Press <press@example.org>"\n')  # fmt: skip
    (ws.releases_dir / "bench.md").write_text(
        '+++\ntitle = "Repair workshop opens"\nchannels = ["mail"]\naudience = ["press"]\n+++\n'
        "Example Corp opens a repair workshop in Leipzig with forty new jobs.\n",
        encoding="utf-8",
    )
    return ws


def _prcast(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "prcast", "--workspace", str(root), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def _peak(fn: Any) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def _figure(values: list[float]) -> Figure:
    values = sorted(values)
    return Figure(values[len(values) // 2], values[0], values[-1], len(values))


def run(sizes: list[int], runs: int = 3) -> list[dict[str, Any]]:
    """Per size: `runs` fresh imports, resolutions and dry runs as real `prcast` processes
    (median, min-max), the baselines, and the peak memory of import and resolve in-process."""
    from prcast.lists import PressList, import_csv

    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "export.csv"
            write_export(export, n)
            base = _figure([_timed_read(export) for _ in range(runs)])
            imports, shows, dries = [], [], []
            for r in range(runs):
                root = Path(tmp) / f"ws{r}"
                ws = _email_workspace(root)
                imports.append(_prcast(root, "lists", "import", str(export), "--group", "press"))
                shows.append(_prcast(root, "lists", "show", "press"))
                dries.append(
                    _prcast(root, "send", str(root / "releases" / "bench.md"), "--dry-run")
                )
            again = _prcast(root, "lists", "import", str(export), "--group", "press")
            start = time.perf_counter()
            resolved = PressList(ws.lists_dir).resolve("press")
            resolve_in_process = time.perf_counter() - start
            assert len(resolved.recipients) == n, len(resolved.recipients)
            lines = _figure([_timed_lines(resolved) for _ in range(runs)])
            fresh = Path(tmp) / "mem"
            import_peak = _peak(lambda f=fresh, e=export: import_csv(f, e, "press"))
            resolve_peak = _peak(lambda f=fresh: PressList(f).resolve("press"))
            startup = _figure([_prcast(root, "--version") for _ in range(runs)])
            rows.append({
                "contacts": n, "bytes": export.stat().st_size, "baseline_read": base,
                "import": _figure(imports), "reimport": again, "show": _figure(shows),
                "dry_run": _figure(dries), "resolve_in_process": resolve_in_process,
                "baseline_lines": lines, "startup": startup,
                "import_peak_mb": import_peak, "resolve_peak_mb": resolve_peak,
            })  # fmt: skip
    return rows


def _timed_read(path: Path) -> float:
    start = time.perf_counter()
    _baseline_read(path)
    return time.perf_counter() - start


def _timed_lines(resolved: Any) -> float:
    """A bare loop writing one line per recipient: the least a dry run can do."""
    start = time.perf_counter()
    with open(os.devnull, "w") as f:
        f.write("".join(f"mail\t{r.contact.email}\tplanned\n" for r in resolved.recipients))
    return time.perf_counter() - start


def report(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "press lists (real `prcast` processes; interpreter start-up included, shown apart):",
        "  | contacts | CSV | `lists import --group` | `lists show` (resolve + print) | `send --dry-run` | "
        "re-import | csv.DictReader over the file | resolve in-process | peak memory import / resolve |",
        "  |---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        n = r["contacts"]
        b = r["baseline_read"].median
        lines.append(
            f"  | {n:,} | {r['bytes'] / 1e6:.1f} MB | {r['import'].median:.2f} s (x{r['import'].median / b:.0f} of the read) "
            f"| {r['show'].median:.2f} s | {r['dry_run'].median:.2f} s | {r['reimport']:.2f} s "
            f"| {b:.3f} s | {r['resolve_in_process']:.3f} s | {r['import_peak_mb']:.0f} / {r['resolve_peak_mb']:.0f} MB |"
        )
    lines.append(f"  prcast start-up (`prcast --version`): {rows[0]['startup'].median:.2f} s; "
                 f"a bare loop printing one line per recipient at {rows[-1]['contacts']:,}: "
                 f"{rows[-1]['baseline_lines'].median:.3f} s")  # fmt: skip
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        for key, what in (
            ("import", "import"),
            ("show", "lists show"),
            ("dry_run", "send --dry-run"),
        ):
            a = (first[key].median - first["startup"].median) / first["contacts"]
            z = (last[key].median - last["startup"].median) / last["contacts"]
            lines.append(
                f"  {what}: time per contact (start-up subtracted) at {last['contacts']:,} vs "
                f"{first['contacts']:,}: x{z / a:.2f} (linear growth: about x1 or less)"
            )
        z = last["resolve_in_process"] / last["contacts"]
        a = first["resolve_in_process"] / first["contacts"]
        lines.append(f"  resolve in-process per contact: x{z / a:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    print("\n".join(report(run([int(s) for s in args.sizes.split(",")], args.runs))))


if __name__ == "__main__":
    main()
