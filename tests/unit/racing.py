"""Real processes racing: each started with spawn and held at a barrier until all are ready,
so that they reach the store at once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing.context import SpawnProcess
from typing import Any


def race(
    target: Callable[..., None], args_each: Sequence[tuple[Any, ...]], timeout: float = 120
) -> tuple[list[Any], list[SpawnProcess]]:
    """Run `target(*args, start, out)` in one process for each of `args_each`: `start` is the
    barrier they all wait at, `out` the queue each puts its one result in. Returns the
    results (in the order they came) and the processes, joined."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(len(args_each)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in args_each]
    for p in procs:
        p.start()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(60)
    return results, procs
