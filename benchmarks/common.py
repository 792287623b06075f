"""Shared helpers: repeat a measurement, summarise it, describe the machine."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    median: float
    low: float
    high: float
    runs: int

    def show(self, unit: str, digits: int = 1) -> str:
        return f"{self.median:.{digits}f} {unit} (min {self.low:.{digits}f}, max {self.high:.{digits}f}, {self.runs} runs)"


def measure(fn: Callable[[], float], runs: int) -> Figure:
    """Run `fn` (which returns a figure) `runs` times."""
    values = [fn() for _ in range(runs)]
    return Figure(statistics.median(values), min(values), max(values), runs)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}, {platform.system()}"
