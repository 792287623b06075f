"""The embedded state store: SQLite in WAL mode under .prcast/."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    release_id TEXT NOT NULL,
    release_path TEXT NOT NULL,
    release_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    part INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    parent_key TEXT,
    post TEXT NOT NULL,
    status TEXT NOT NULL,
    remote_id TEXT,
    url TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    receipt TEXT,
    grp TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deliveries_run ON deliveries(run_id, seq);
"""

PLANNED, ATTEMPTING, DELIVERED, FAILED, IN_DOUBT, SKIPPED = (
    "planned",
    "attempting",
    "delivered",
    "failed",
    "in-doubt",
    "skipped",
)
#: audience members never sent to: on the suppression list, or no address for the channel
SUPPRESSED, UNADDRESSED = "suppressed", "no-address"
#: statuses a run is finished with and that need nothing more
SETTLED = {DELIVERED, SUPPRESSED, UNADDRESSED}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class DeliveryRow:
    key: str
    run_id: str
    seq: int
    channel: str
    target: str
    part: int
    parts: int
    parent_key: str | None
    post: dict[str, Any]
    status: str
    remote_id: str | None
    url: str | None
    error: str | None
    attempts: int
    updated_at: str
    #: what a reply needs besides the remote id (JSON object), e.g. Bluesky's cid
    receipt: dict[str, str] | None = None
    #: the audience group a recipient was addressed through
    grp: str = ""


@dataclass(frozen=True)
class RunRow:
    id: str
    release_id: str
    release_path: str
    release_sha256: str
    created_at: str
    updated_at: str
    status: str


class Store:
    """Run and delivery state. Every write is its own committed transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def run(self, run_id: str) -> RunRow | None:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRow(**dict(row)) if row else None

    def runs(self) -> list[RunRow]:
        rows = self.db.execute("SELECT * FROM runs ORDER BY updated_at DESC").fetchall()
        return [RunRow(**dict(r)) for r in rows]

    def delivered_since(self, channel: str, since: str, exclude_run: str = "") -> int:
        """Posts delivered on `channel` since the ISO time `since` (for the frequency cap)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE channel = ? AND status = 'delivered'"
            " AND updated_at >= ? AND run_id != ?",
            (channel, since, exclude_run),
        ).fetchone()
        return int(row[0])

    def latest_run(self) -> RunRow | None:
        runs = self.runs()
        return runs[0] if runs else None

    def insert_run(self, run: RunRow, deliveries: list[DeliveryRow]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.release_id,
                    run.release_path,
                    run.release_sha256,
                    run.created_at,
                    run.updated_at,
                    run.status,
                ),
            )
            db.executemany(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                [
                    (
                        d.key,
                        d.run_id,
                        d.seq,
                        d.channel,
                        d.target,
                        d.part,
                        d.parts,
                        d.parent_key,
                        json.dumps(d.post, ensure_ascii=False),
                        d.status,
                        d.remote_id,
                        d.url,
                        d.error,
                        d.attempts,
                        d.updated_at,
                        d.grp,
                    )
                    for d in deliveries
                ],
            )

    def set_run_status(self, run_id: str, status: str) -> None:
        self.db.execute(
            "UPDATE runs SET status = ?, updated_at = ? WHERE id = ?", (status, now(), run_id)
        )

    def deliveries(self, run_id: str) -> list[DeliveryRow]:
        rows = self.db.execute(
            "SELECT * FROM deliveries WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
        return [
            DeliveryRow(
                **{
                    **dict(r),
                    "post": json.loads(r["post"]),
                    "receipt": json.loads(r["receipt"]) if r["receipt"] else None,
                }
            )
            for r in rows
        ]

    def update_delivery(
        self,
        key: str,
        status: str,
        *,
        remote_id: str | None = None,
        url: str | None = None,
        error: str | None = None,
        attempt: bool = False,
        receipt: dict[str, str] | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE deliveries SET status = ?, remote_id = COALESCE(?, remote_id), url = COALESCE(?, url),"
            " error = ?, attempts = attempts + ?, updated_at = ?, receipt = COALESCE(?, receipt)"
            " WHERE key = ?",
            (
                status,
                remote_id,
                url,
                error,
                1 if attempt else 0,
                now(),
                json.dumps(receipt) if receipt else None,
                key,
            ),
        )
