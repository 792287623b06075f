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
    #: the chain in the target verifies, and exported it is byte for byte the file
    verified: int
    same_bytes: bool


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
    if not ws.store_path.is_file():
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
        store = ws.store()
        try:
            imported = import_state(source, store, lines)
        finally:
            store.close()
    finally:
        source.close()
    moved = DatabaseAuditLog(ws)
    try:
        verified = moved.verify()
        exported = moved.raw()
        same = exported is not None and exported.read() == data
    finally:
        moved.close()
    return Moved(str(target), imported, verified.records, same)
