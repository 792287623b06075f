"""Moving a workspace's state from its SQLite file into a shared database: every table's
rows (runs, the ledger, schedules, conference books) and the audit chain's lines, in one
transaction of the target. Leases and claims stay behind: they belong to the processes of
the machine the state came from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prcast.errors import InputError
from prcast.store import Store
from prcast.store.auditlog import AuditTable, Line
from prcast.store.database import URL_ENV, Database

if TYPE_CHECKING:
    from prcast.workspace import Workspace

#: tables that describe the processes of one machine, or that each database keeps itself
LOCAL = {"schema_version", "meta", "owners", "claims", "conference_claims", "audit_records",
         "audit_head"}  # fmt: skip
#: tables a workspace's work is in: a target holding any of their rows is in use
WORK = ("runs", "publications", "schedules", "conference_state")


@dataclass(frozen=True)
class Imported:
    rows: dict[str, int]
    #: audit records copied, and the chain's length in the target afterwards
    records: int
    chain: int
    #: the target held this workspace's chain already (nothing or only the rest was copied)
    resumed: bool


def _used(store: Store) -> bool:
    return any(store.count_rows(t) for t in WORK) or AuditTable(store).count() > 0


def import_state(source: Store, target: Store, lines: Sequence[Line]) -> Imported:
    """Copy `source`'s rows and the audit chain `lines` (verified by the caller) into
    `target`. A target in use is refused unless it holds this same workspace (its id) and
    a beginning of this same chain: then only what it lacks is copied, so an import that
    was interrupted, or run twice, finishes without copying anything twice."""
    where = str(target.database)
    used = _used(target)
    if used and target.workspace_id() != source.workspace_id():
        raise InputError(
            f"{where} already holds another workspace's state: not importing into it",
            hint="give this workspace a schema of its own (database_schema in channels.toml,"
            " or PRCAST_DATABASE_SCHEMA)",
        )
    table = AuditTable(target)
    have = list(table.lines())
    mine = [line for _, _, line in lines]
    if len(have) > len(mine) and have[: len(mine)] == mine:
        # imported before, and the team has appended since: the file has nothing more
        return Imported({}, 0, len(have), True)
    if have != mine[: len(have)]:
        raise InputError(
            f"{where} holds an audit chain ({len(have)} records) that is not the beginning of"
            " this workspace's log: not importing into it",
            hint="the two logs differ; verify both (prcast audit verify) before anything else",
        )
    rows: dict[str, int] = {}
    with target.transaction():
        target.set_workspace_id(source.workspace_id())
        for name in source.table_names():
            if name in LOCAL:
                continue
            copied = target.insert_rows(name, source.table_rows(name))
            rows[name] = copied
        target.db.reset_serial("schedules", "id")
        rest = list(lines[len(have) :])

        def build(seq: int, prev: str) -> list[Line]:
            if seq != len(have):
                raise InputError(f"{where}: its audit chain grew while importing; try again")
            return rest

        table.append(build)
    return Imported(rows, len(rest), len(have) + len(rest), used)


@dataclass(frozen=True)
class Moved:
    """What `prcast db import` did, and what it checked afterwards."""

    target: str
    imported: Imported
    #: records of the chain in the target that verify, and whether its export begins with
    #: the file byte for byte (is the file, unless the team appended since an earlier import)
    verified: int
    same_bytes: bool
    file_records: int = 0


def import_workspace(ws: Workspace) -> Moved:
    """Import the workspace's SQLite state and audit log file into its configured
    PostgreSQL database, then verify the chain there and compare its export with the file."""
    from prcast.audit import AuditLog, DatabaseAuditLog, verify_lines

    target = ws.database
    if not target.is_postgres:
        raise InputError(
            "no PostgreSQL database is configured for this workspace: nothing to import into",
            hint=f'set {URL_ENV}, or database = "postgresql://USER@HOST/DATABASE" in channels.toml',
        )
    has_log = ws.audit_path.is_file() and ws.audit_path.stat().st_size > 0
    # a log without state (approvers registered, nothing sent yet) is imported on its own:
    # the empty state the import reads from is made beside it
    if not ws.store_path.is_file() and not has_log:
        raise InputError(
            f"{ws.store_path}: no state to import (this workspace never sent anything)",
            hint="prcast db upgrade prepares an empty database",
        )
    log = AuditLog(ws.audit_path)
    log.verify()  # AuditError (exit 3) naming the record: a broken log is not carried over
    data = b""
    if ws.audit_path.is_file():
        data = ws.audit_path.read_bytes()
        data = data[: data.rfind(b"\n") + 1]  # a torn last line is no record
    raw = data.splitlines(keepends=True)
    verify_lines(raw, str(ws.audit_path))
    lines: list[Line] = []
    for line in raw:
        text = line[:-1].decode("utf-8")
        record = json.loads(text)
        lines.append((int(record["seq"]), str(record["hash"]), text))
    source = Store(Database(path=ws.store_path, root=ws.root))
    try:
        store = Store(target)
        try:
            imported = import_state(source, store, lines)
        finally:
            store.close()
    finally:
        source.close()
    ws.__dict__["_imported"] = True  # checked below, by verifying the chain there
    moved = DatabaseAuditLog(ws)
    try:
        verified = moved.verify()
        exported = moved.raw()
        same = exported is not None and exported.read().startswith(data)
    finally:
        moved.close()
    return Moved(str(target), imported, verified.records, same, len(lines))


def check_imported(ws: Workspace, store: Store) -> None:
    """Refuse to use a database while this workspace folder holds state and audit records
    that are not in it: a send from the database would not know what the files say went
    out already. Only a folder with such files costs a look (team machines have none)."""
    log, state = ws.audit_path, ws.store_path
    has_log = log.is_file() and log.stat().st_size > 0
    if not has_log and not state.is_file():
        return
    local_id = ""
    if state.is_file():
        local = Store(Database(path=state, root=ws.root))
        try:
            if any(local.count_rows(t) for t in WORK):
                local_id = local.workspace_id()
        finally:
            local.close()
    missing = has_log and AuditTable(store).count() < log.read_bytes().count(b"\n")
    if missing or (local_id and local_id != store.workspace_id()):
        raise InputError(
            f"this workspace's state and audit log are in {ws.state_dir}, not in the database"
            f" {store.database}: not using it before they are moved there",
            hint="run `prcast db import` once (or unset PRCAST_DATABASE_URL / the database"
            " setting to go on with the files)",
        )
