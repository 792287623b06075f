"""The time prcast acts on: the machine's real clock, always. No environment variable or
option moves it, so nothing can be sent before its embargo by setting one; the one override
is `--break-embargo --reason`, audited. Tests that need another time patch `now` in-process;
a rehearsal of scheduled runs (`prcast run-due --at TIME`) only shows, never delivers."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def now() -> datetime:
    return datetime.now(UTC)


def shown(stamp: str, zone: tzinfo) -> str:
    """A stored time (ISO 8601, UTC) as people read it in `zone`: "2026-11-24 10:02 CET";
    a text that is not a time, as it is."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
