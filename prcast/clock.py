"""The time prcast acts on: the machine's real clock, always. No environment variable or
option moves it, so nothing can be sent before its embargo by setting one; the one override
is `--break-embargo --reason`, audited. Tests that need another time patch `now` in-process;
a rehearsal of scheduled runs (`prcast run-due --at TIME`) only shows, never delivers."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
