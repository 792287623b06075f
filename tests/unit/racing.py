"""Real processes racing: each started with spawn and held at a barrier until all are ready,
so that they reach the store at once.

A loaded machine (two cores shared by a whole test suite) starts and runs them slowly, so
the waits are generous; a process that dies without its result fails the test at once,
naming its exit code, and no process outlives the test."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from multiprocessing.context import SpawnProcess
from typing import Any

#: seconds the racing processes may take in all (they usually take a few)
PATIENCE = 600.0


def race(
    target: Callable[..., None], args_each: Sequence[tuple[Any, ...]], timeout: float = PATIENCE
) -> tuple[list[Any], list[SpawnProcess]]:
    """Run `target(*args, start, out)` in one process for each of `args_each`: `start` is the
    barrier they all wait at, `out` the queue each puts its one result in. Returns the
    results (in the order they came) and the processes, joined."""
    ctx = multiprocessing.get_context("spawn")
    # a process that never reaches the barrier breaks it for the others after `timeout`,
    # rather than leaving them waiting for ever
    start, out = ctx.Barrier(len(args_each), timeout=timeout), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in args_each]
    for p in procs:
        p.start()
    results: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(results) < len(procs):
            try:
                results.append(out.get(timeout=0.5))
                continue
            except queue.Empty:
                pass
            # a process puts its result before it ends, so one that ended with an error
            # code has none to give: the others may wait for it at the barrier
            failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if failed:
                raise AssertionError(
                    f"a racing process died without its result (exit codes {failed});"
                    f" results so far: {results}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(procs) - len(results)} of {len(procs)} racing processes gave no"
                    f" result in {timeout:.0f} s; results so far: {results}"
                )
    finally:
        for p in procs:
            p.join(60 if len(results) == len(procs) else 0)
            if p.is_alive():
                p.kill()
                p.join()
    return results, procs
