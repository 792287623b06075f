"""Team mode: several machines share one PostgreSQL database for state, audit and work.

- plan.py: the exact approved plan a worker sends without the workspace's files (the
  rendered posts and recipients are the ledger's rows; the manifest adds the channel
  settings, secrets as `env:` references, the approvals and the release's content hash)
- tasks.py: the procrastinate app and prcast's tasks (scheduled run due, fire a scheduled
  item, run deliveries of a run, conference intake poll, recover stalled jobs)

Team mode is on when a database URL is configured (PRCAST_DATABASE_URL); without one,
nothing changes: SQLite under .prcast/ and the local audit file."""

from __future__ import annotations

import os

from prcast.errors import InputError

DATABASE_ENV = "PRCAST_DATABASE_URL"


def database_url() -> str | None:
    """The team database's URL, or None for one machine (SQLite). An `env:VAR` value names
    the variable holding it, so a password need not sit in a unit file."""
    url = os.environ.get(DATABASE_ENV, "").strip()
    if url.startswith("env:"):
        url = os.environ.get(url[4:], "").strip()
    if not url:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise InputError(
            f"{DATABASE_ENV} must be a postgresql:// URL",
            hint="e.g. export PRCAST_DATABASE_URL=postgresql://prcast@db.example.org/prcast",
        )
    return url


def required_url() -> str:
    url = database_url()
    if url is None:
        raise InputError(
            f"team mode needs a database: {DATABASE_ENV} is not set",
            hint="export PRCAST_DATABASE_URL=postgresql://prcast@db.example.org/prcast "
            "(README: Team mode)",
        )
    return url
