"""Team mode: several machines share one PostgreSQL database for state, audit and work.

- plan.py: the exact approved plan a worker sends without the workspace's files (the
  rendered posts and recipients are the ledger's rows; the manifest adds the channel
  settings, secrets as `env:` references, the approvals and the release's content hash)
- tasks.py: the procrastinate app and prcast's tasks (scheduled run due, fire a scheduled
  item, run deliveries of a run, conference intake poll, recover stalled jobs)

Team mode is on when a database URL is configured (PRCAST_DATABASE_URL); without one,
nothing changes: SQLite under .prcast/ and the local audit file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prcast.errors import InputError
from prcast.workspace import Workspace

if TYPE_CHECKING:
    from prcast.store.database import Database


def database_url() -> str | None:
    """The team database's URL from $PRCAST_DATABASE_URL (its password filled in from an
    `env:NAME` reference), or None."""
    import os

    from prcast.store.database import URL_ENV, resolve_url

    url = os.environ.get(URL_ENV, "").strip()
    return resolve_url(url, URL_ENV) if url else None


def required_url() -> str:
    url = database_url()
    if url is None:
        raise InputError(
            "team mode needs a database: PRCAST_DATABASE_URL is not set",
            hint="export PRCAST_DATABASE_URL=postgresql://prcast@db.example.org/prcast "
            "(README: Team mode)",
        )
    return url


def default_schema() -> str:
    import os

    from prcast.store.database import DEFAULT_SCHEMA, SCHEMA_ENV

    return os.environ.get(SCHEMA_ENV, "").strip() or DEFAULT_SCHEMA


def in_team_mode(ws: Workspace) -> bool:
    """Whether the workspace's state is in a PostgreSQL database (PRCAST_DATABASE_URL or
    its `database` setting): then scheduled items are sent by workers."""
    return ws.database.is_postgres


def team_workspace(root: Path, url: str, schema: str) -> Workspace:
    """A folder of a worker's as a workspace whose state is the team database's `schema`
    (whatever its channels.toml says, which never names a database)."""
    from prcast.store.database import Database

    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root)
    database: Database = Database(url=url, schema=schema, root=root)
    ws.__dict__["database"] = database  # the cached property, chosen here
    return ws
