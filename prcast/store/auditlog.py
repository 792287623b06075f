"""The audit chain in the database: the records' lines in seq order and one head row.

Used when a workspace keeps its state in PostgreSQL, so that every machine of a team
appends to one chain. An append locks the head row (SELECT ... FOR UPDATE) for its
transaction: appenders on several machines take turns, each continuing the chain from the
head the previous one left, and the records are committed (durable) before the append
returns. The lines are the same canonical JSON the file log holds (prcast/audit.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prcast.store import Store, now

#: (seq, hash, line) of one record
Line = tuple[int, str, str]


class AuditTable:
    """The `audit_records` and `audit_head` tables of one workspace's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last record (0 and the genesis hash when there is none)."""
        row = self.db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return int(row["seq"]), str(row["hash"])

    def append(self, build: Callable[[int, str], Sequence[Line]]) -> list[Line]:
        """Append the records `build(seq, hash)` makes after the head, in one transaction
        holding the head row: no other appender can continue from the same head."""
        with self.db.transaction(exclusive=False):
            row = self.db.execute(
                "SELECT seq, hash FROM audit_head WHERE id = 1" + self.db.for_update
            ).fetchone()
            lines = list(build(int(row["seq"]), str(row["hash"])))
            if not lines:
                return []
            self.db.executemany(
                "INSERT INTO audit_records (seq, hash, line) VALUES (?, ?, ?)", lines
            )
            seq, hash, _ = lines[-1]
            self.db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, hash))
        return lines

    def lines(self, after: int = 0, batch: int = 5000) -> Iterator[str]:
        """Every record's line after seq `after`, in order, read in batches."""
        while True:
            rows = self.db.execute(
                "SELECT seq, line FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, batch),
            ).fetchall()
            for r in rows:
                yield str(r["line"])
            if len(rows) < batch:
                return
            after = int(rows[-1]["seq"])

    def add_checkpoint(self, size: int, key_name: str, key_id: str, note: str, host: str) -> None:
        """Keep a signed checkpoint note (one per size and key: signing again adds nothing)."""
        self.db.execute(
            "INSERT INTO audit_checkpoints (size, key_name, key_id, note, host, signed_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (size, key_name, key_id) DO NOTHING",
            (size, key_name, key_id, note, host, now()),
        )

    def checkpoints(self) -> list[dict[str, str | int]]:
        """Every kept checkpoint: size, key_name, key_id, note, host, signed_at (by size)."""
        rows = self.db.execute(
            "SELECT size, key_name, key_id, note, host, signed_at FROM audit_checkpoints"
            " ORDER BY size, key_name, key_id"
        ).fetchall()
        return [
            {"size": int(r["size"]), **{k: str(r[k]) for k in
             ("key_name", "key_id", "note", "host", "signed_at")}}
            for r in rows
        ]  # fmt: skip

    def count(self) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM audit_records").fetchone()
        return int(row[0])

    def close(self) -> None:
        self.store.close()
