"""The state store: every SQL statement prcast runs, behind one class.

SQLite in WAL mode under .prcast/ is the embedded default; a team's PostgreSQL database
(`database.py` chooses, `dialect.py` runs the same SQL on either) holds each workspace in a
schema of its own. The schema is versioned (`migrations.py`); opening a store upgrades an
older database. What is stored:

- runs, and the publication ledger: one row per "release R, edition e, on channel C, to
  target T, part k" (its `identity`), whatever run or channel selection planned it; each run
  lists the publications it covers (`run_items`);
- owners (a process that may send, alive while it renews its lease) and claims (a thread's
  parts, claimed together by one owner, in one compare-and-set);
- the schedule queue and the conference question book.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prcast.store.database import Database
from prcast.store.dialect import Connection
from prcast.store.migrations import LATEST, MIGRATIONS

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
#: statuses after which the world may have seen the text
PUBLISHED = {DELIVERED, ATTEMPTING, IN_DOUBT}


def now() -> str:
    return stamp(datetime.now(UTC))


def stamp(moment: datetime) -> str:
    """The one text form of a time in the store: UTC, microseconds (sorts as it compares)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


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
    #: the publication this row is: release, edition, channel, target, part
    identity: str = ""
    #: the key of the thread's first part: the unit of a claim
    chain: str = ""
    content_sha256: str = ""
    #: when it was delivered (the ledger's "when did they get it")
    published_at: str | None = None


@dataclass(frozen=True)
class RunRow:
    id: str
    release_id: str
    release_path: str
    release_sha256: str
    created_at: str
    updated_at: str
    status: str
    release_key: str = ""


@dataclass(frozen=True)
class Conflict:
    """A publication the world may have seen whose planned text is now different."""

    channel: str
    target: str
    part: int
    status: str
    published_at: str | None
    run_id: str


@dataclass(frozen=True)
class Owner:
    """A process that may hold claims: who it is, where, and until when it is alive."""

    id: str
    host: str
    boot: str
    pid: int
    pid_start: str
    command: str
    started_at: str
    lease_until: str


@dataclass(frozen=True)
class Holder:
    """A claim and the process holding it."""

    chain: str
    run_id: str
    since: str
    owner: Owner


def _table(name: str) -> str:
    """A table or column name to put into SQL, checked."""
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"bad SQL name {name!r}")
    return name


def _delivery(
    r: Any, run_id: str | None = None, seq: int | None = None, posts: dict[Any, Any] | None = None
) -> DeliveryRow:
    """A publications row as a DeliveryRow. `posts`: the posts decoded before (a chain read
    again as it is claimed reuses its post; one edited meanwhile is decoded afresh)."""
    raw = r["post"]
    if posts is None:
        post = json.loads(raw)
    else:
        # by the publication and its text's hash: the text itself is not kept (a 100k run's
        # posts would be held twice), and a post edited meanwhile is read afresh
        seen = (r["key"], len(raw), hash(raw))
        if (post := posts.get(seen)) is None:
            post = posts[seen] = json.loads(raw)
    return DeliveryRow(
        key=r["key"],
        run_id=run_id or r["run_id"],
        seq=seq if seq is not None else 0,
        channel=r["channel"],
        target=r["target"],
        part=r["part"],
        parts=r["parts"],
        parent_key=r["parent_key"],
        post=post,
        status=r["status"],
        remote_id=r["remote_id"],
        url=r["url"],
        error=r["error"],
        attempts=r["attempts"],
        updated_at=r["updated_at"],
        receipt=json.loads(r["receipt"]) if r["receipt"] else None,
        grp=r["grp"],
        identity=r["identity"],
        chain=r["chain"],
        content_sha256=r["content_sha256"],
        published_at=r["published_at"],
    )


def _holder(r: Any) -> Holder:
    """A claim (or schedule item) row joined with its owner's row, which may be gone."""
    owner = Owner(
        r["id"] or "", r["host"] or "", r["boot"] or "", r["pid"] or 0, r["pid_start"] or "",
        r["command"] or "", r["started_at"] or "", r["lease_until"] or "",
    )  # fmt: skip
    return Holder(str(r["held"]), r["run_id"] or "", r["since"] or "", owner)


def _conflicts(rows: Sequence[DeliveryRow], known: dict[str, DeliveryRow]) -> list[Conflict]:
    return [
        Conflict(r.channel, r.target, r.part, old.status, old.published_at, old.run_id)
        for r in rows
        if (old := known.get(r.identity)) is not None
        and old.status in PUBLISHED
        and old.content_sha256 != r.content_sha256
    ]


_RUN_COLUMNS = (
    "id, release_id, release_path, release_sha256, created_at, updated_at, status, release_key"
)
_PUB_COLUMNS = (
    "key, identity, release_key, edition, chain, channel, target, part, parts, parent_key, post,"
    " content_sha256, status, remote_id, url, error, attempts, updated_at, receipt, grp, run_id,"
    " published_at"
)


class Store:
    """Run, ledger, claim, schedule and conference state. Each method is one committed
    transaction unless called inside `transaction()`."""

    def __init__(self, where: Path | Database, db: Connection | None = None) -> None:
        """Open (and upgrade) the store: an SQLite file by its path, or any `Database`."""
        self.database = where if isinstance(where, Database) else Database(path=where)
        self.db: Connection = db or self.database.connect()
        #: posts decoded by `deliveries` and `chains` (shared between rows, never changed)
        self._posts: dict[Any, Any] = {}
        try:
            self._migrate()
        except BaseException:
            self.db.close()
            raise

    # --- schema --------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Apply the migrations this database lacks. One transaction, under the schema's
        migration lock: two processes upgrading at once apply each step once."""
        if self.db.has_table("schema_version") and self.version() == LATEST:
            return  # the common case, without taking the lock
        with self.db.transaction(exclusive=False):
            self.db.lock("migrate")
            self.db.prepare()
            self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = self.version()
            if version > LATEST:
                from prcast.errors import InputError

                raise InputError(
                    f"the database {self.database} is at schema version {version}; this prcast"
                    f" knows versions up to {LATEST}",
                    hint="upgrade prcast on this machine (pip install -U prcast)",
                )
            if version == 0 and self.db.has_table("runs"):
                version = 1  # written by prcast 0.1, before versioning; its tables may be partial
                MIGRATIONS[0](self.db, self.workspace_root)
            for number in range(version + 1, LATEST + 1):
                MIGRATIONS[number - 1](self.db, self.workspace_root)
            if version < LATEST:
                self.db.execute("DELETE FROM schema_version")
                self.db.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST,))

    @property
    def workspace_root(self) -> Path:
        return self.database.workspace_root

    @property
    def path(self) -> Path:
        """The SQLite file (for a PostgreSQL store: the workspace's would-be file)."""
        return self.database.path or self.workspace_root / ".prcast" / "state.db"

    def version(self) -> int:
        row = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        self.db.close()

    # --- whole tables (moving a workspace to another database) ----------------------------

    def table_names(self) -> list[str]:
        return self.db.table_names()

    def count_rows(self, table: str) -> int:
        row = self.db.execute(f"SELECT COUNT(*) FROM {_table(table)}").fetchone()
        return int(row[0])

    def table_rows(self, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A table's column names and all its rows."""
        cur = self.db.execute(f"SELECT * FROM {_table(table)}")
        rows = cur.fetchall()
        names = self.db.columns(table)
        return names, [tuple(r[n] for n in names) for r in rows]

    def insert_rows(self, table: str, data: tuple[list[str], list[tuple[Any, ...]]]) -> int:
        """Insert rows (keeping those the table has by its key); how many were new."""
        names, rows = data
        before = self.count_rows(table)
        self.db.executemany(
            f"INSERT INTO {_table(table)} ({', '.join(_table(n) for n in names)})"
            f" VALUES ({', '.join('?' * len(names))}) ON CONFLICT DO NOTHING",
            rows,
        )
        return self.count_rows(table) - before

    def set_workspace_id(self, workspace_id: str) -> None:
        """Take over another database's workspace id (publication keys are made with it)."""
        self.db.execute("UPDATE meta SET value = ? WHERE name = 'workspace_id'", (workspace_id,))

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        with self.db.transaction():
            yield self

    # --- runs and the ledger -------------------------------------------------------------

    def run(self, run_id: str) -> RunRow | None:
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRow(**dict(row)) if row else None

    def runs(self) -> list[RunRow]:
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY updated_at DESC"
        ).fetchall()
        return [RunRow(**dict(r)) for r in rows]

    def latest_run(self) -> RunRow | None:
        row = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY updated_at DESC LIMIT 1"
        ).fetchone()
        return RunRow(**dict(row)) if row else None

    def set_run_status(self, run_id: str, status: str) -> None:
        self.db.execute(
            "UPDATE runs SET status = ?, updated_at = ? WHERE id = ?", (status, now(), run_id)
        )

    def workspace_id(self) -> str:
        """This workspace's random id (made with the database), part of every key."""
        row = self.db.execute("SELECT value FROM meta WHERE name = 'workspace_id'").fetchone()
        return str(row["value"])

    def edition(self, release_key: str) -> int:
        row = self.db.execute(
            "SELECT edition FROM editions WHERE release_key = ?", (release_key,)
        ).fetchone()
        return int(row["edition"]) if row else 1

    def new_edition(self, release_key: str) -> int:
        """Start the release's next edition: it is published afresh wherever it is sent."""
        with self.db.transaction():
            edition = self.edition(release_key) + 1
            self.db.execute(
                "INSERT INTO editions (release_key, edition, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (release_key) DO UPDATE SET edition = excluded.edition,"
                " updated_at = excluded.updated_at",
                (release_key, edition, now()),
            )
        return edition

    def published(self, identities: Sequence[str]) -> dict[str, DeliveryRow]:
        """The ledger's rows for these publication identities (those it has)."""
        out: dict[str, DeliveryRow] = {}
        for start in range(0, len(identities), 500):
            chunk = list(identities[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            for r in self.db.execute(
                f"SELECT {_PUB_COLUMNS} FROM publications WHERE identity IN ({marks})", chunk
            ):
                out[r["identity"]] = _delivery(r)
        return out

    def conflicts(self, rows: Sequence[DeliveryRow]) -> list[Conflict]:
        """The planned rows whose publication went out before with another text."""
        return _conflicts(rows, self.published([r.identity for r in rows]))

    def record_run(
        self, run: RunRow, rows: Sequence[DeliveryRow], edition: int
    ) -> tuple[bool, list[Conflict]]:
        """Record a planned run against the ledger, in one transaction: a publication the
        ledger has is shared, not planned again; one not yet seen by anyone whose text changed
        takes the new text. Returns (whether the run is new, the conflicts): a publication
        the world may have seen (delivered, attempted, in doubt) whose text changed is a
        conflict, and then nothing is recorded."""
        with self.db.transaction():
            known = self.published([r.identity for r in rows])
            conflicts = _conflicts(rows, known)
            if conflicts:
                return False, conflicts
            new = self.run(run.id) is None
            if new:
                self.db.execute(
                    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.id, run.release_id, run.release_path, run.release_sha256,
                     run.created_at, run.updated_at, run.status, run.release_key),
                )  # fmt: skip
            fresh = [r for r in rows if r.identity not in known]
            self.db.executemany(
                f"INSERT INTO publications ({_PUB_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, 0, ?, NULL, ?, ?, NULL)",
                [
                    (r.key, r.identity, run.release_key, edition, r.chain, r.channel, r.target,
                     r.part, r.parts, r.parent_key, json.dumps(r.post, ensure_ascii=False),
                     r.content_sha256, r.status, r.error, r.updated_at, r.grp, run.id)
                    for r in fresh
                ],
            )  # fmt: skip
            changed = [
                r
                for r in rows
                if (old := known.get(r.identity)) is not None
                and old.status not in PUBLISHED
                and (old.content_sha256 != r.content_sha256 or old.post != r.post)
                and old.status not in SETTLED
            ]
            self.db.executemany(
                "UPDATE publications SET post = ?, content_sha256 = ?, parts = ?, updated_at = ?"
                " WHERE key = ? AND status NOT IN (?, ?, ?)",
                [
                    (json.dumps(r.post, ensure_ascii=False), r.content_sha256, r.parts, r.updated_at,
                     known[r.identity].key, DELIVERED, ATTEMPTING, IN_DOUBT)
                    for r in changed
                ],
            )  # fmt: skip
            self.db.executemany(
                "INSERT INTO run_items (run_id, key, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    (run.id, known[r.identity].key if r.identity in known else r.key, r.seq)
                    for r in rows
                ],
            )
        return new, []

    def deliveries(self, run_id: str) -> list[DeliveryRow]:
        """The publications a run covers, in the run's order."""
        cols = ", ".join(f"p.{c.strip()}" for c in _PUB_COLUMNS.split(","))
        rows = self.db.execute(
            f"SELECT {cols}, i.seq AS item_seq FROM run_items i JOIN publications p ON p.key = i.key"
            " WHERE i.run_id = ? ORDER BY i.seq",
            (run_id,),
        ).fetchall()
        self._posts = {}  # a run's posts at a time (a long-lived store does not grow)
        return [_delivery(r, run_id, r["item_seq"], self._posts) for r in rows]

    def outcomes(self, run_id: str) -> list[tuple[str, str, str | None]]:
        """(channel, status, error) of each publication a run covers, in the run's order:
        what a run's outcome counts, without decoding every post."""
        rows = self.db.execute(
            "SELECT p.channel, p.status, p.error FROM run_items i JOIN publications p"
            " ON p.key = i.key WHERE i.run_id = ? ORDER BY i.seq",
            (run_id,),
        ).fetchall()
        return [(r["channel"], r["status"], r["error"]) for r in rows]

    def chain(self, chain: str, run_id: str = "") -> list[DeliveryRow]:
        """A thread's parts as they are now, in part order."""
        rows = self.db.execute(
            f"SELECT {_PUB_COLUMNS} FROM publications WHERE chain = ? ORDER BY part", (chain,)
        ).fetchall()
        return [_delivery(r, run_id or None) for r in rows]

    def chains(self, chains: Sequence[str], run_id: str = "") -> dict[str, list[DeliveryRow]]:
        """Several threads' parts as they are now, each in part order (one query per 500)."""
        if len(self._posts) > 200_000:
            self._posts = {}  # bounded in a store that lives across runs (a worker)
        out: dict[str, list[DeliveryRow]] = {}
        for start in range(0, len(chains), 500):
            chunk = list(chains[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT {_PUB_COLUMNS} FROM publications WHERE chain IN ({marks})"
                " ORDER BY chain, part",
                chunk,
            ).fetchall()
            for r in rows:
                out.setdefault(r["chain"], []).append(
                    _delivery(r, run_id or None, None, self._posts)
                )
        return out

    def mark_delivered(
        self, answers: Sequence[tuple[str, str | None, str | None, dict[str, str] | None]]
    ) -> None:
        """(key, remote id, url, receipt) of deliveries answered: delivered, as
        `update_delivery(key, DELIVERED, ...)` does for one."""
        at = now()
        self.db.executemany(
            "UPDATE publications SET status = ?, remote_id = COALESCE(?, remote_id),"
            " url = COALESCE(?, url), error = NULL, updated_at = ?,"
            " receipt = COALESCE(?, receipt), published_at = COALESCE(published_at, ?)"
            " WHERE key = ?",
            [(DELIVERED, remote_id, url, at, json.dumps(receipt) if receipt else None, at, key)
             for key, remote_id, url, receipt in answers],
        )  # fmt: skip

    def begin_attempt(self, key: str, chain: str, owner: str, content_sha256: str, at: str) -> bool:
        """planned -> attempting, only for the owner holding the chain's claim with a live
        lease, and only for the text it was claimed with: the compare-and-set that makes
        every request leave from exactly one process."""
        cur = self.db.execute(
            "UPDATE publications SET status = ?, attempts = attempts + 1, updated_at = ?"
            " WHERE key = ? AND content_sha256 = ? AND status NOT IN (?, ?, ?)"
            " AND EXISTS (SELECT 1 FROM claims c JOIN owners o ON o.id = c.owner"
            "  WHERE c.chain = ? AND c.owner = ? AND o.lease_until > ?)",
            (
                ATTEMPTING,
                at,
                key,
                content_sha256,
                DELIVERED,
                SUPPRESSED,
                UNADDRESSED,
                chain,
                owner,
                at,
            ),
        )
        return cur.rowcount == 1

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
        at = now()
        self.db.execute(
            "UPDATE publications SET status = ?, remote_id = COALESCE(?, remote_id),"
            " url = COALESCE(?, url), error = ?, attempts = attempts + ?, updated_at = ?,"
            " receipt = COALESCE(?, receipt),"
            " published_at = CASE WHEN ? = 'delivered' THEN COALESCE(published_at, ?) ELSE published_at END"
            " WHERE key = ?",
            (status, remote_id, url, error, 1 if attempt else 0, at,
             json.dumps(receipt) if receipt else None, status, at, key),
        )  # fmt: skip

    def delivered_since(self, channel: str, since: str) -> int:
        """Posts delivered on `channel` since the time `since` (for the frequency cap)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM publications WHERE channel = ? AND status = ? AND published_at >= ?",
            (channel, DELIVERED, since),
        ).fetchone()
        return int(row[0])

    # --- owners and claims ---------------------------------------------------------------

    def register_owner(self, owner: Owner) -> None:
        self.db.execute(
            "INSERT INTO owners (id, host, boot, pid, pid_start, command, started_at, lease_until)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (owner.id, owner.host, owner.boot, owner.pid, owner.pid_start, owner.command,
             owner.started_at, owner.lease_until),
        )  # fmt: skip

    def renew_owner(self, owner_id: str, until: str) -> None:
        """Extend an owner's lease. An owner that renews after its lease ran out keeps only
        the claims nobody took in the meantime: a claim changes hands by compare-and-set."""
        self.db.execute("UPDATE owners SET lease_until = ? WHERE id = ?", (until, owner_id))

    def expire_owner(self, owner_id: str) -> None:
        """End an owner's lease now (its process is known to be dead)."""
        self.db.execute("UPDATE owners SET lease_until = ? WHERE id = ?", ("", owner_id))

    def drop_owner(self, owner_id: str) -> None:
        """An owner that stops: its claims go back, its row goes."""
        with self.db.transaction():
            # its claims' rows locked in chain order first, the order every claim and release
            # takes them in: a runner claiming meanwhile waits, never deadlocks (PostgreSQL)
            self.db.execute(
                "SELECT chain FROM claims WHERE owner = ? ORDER BY chain" + self.db.for_update,
                (owner_id,),
            ).fetchall()
            self.db.execute("DELETE FROM claims WHERE owner = ?", (owner_id,))
            self.db.execute("DELETE FROM owners WHERE id = ?", (owner_id,))

    def claim(self, run_id: str, owner_id: str, chains: Sequence[str]) -> list[str]:
        """Claim chains for an owner: each one free, or held by an owner whose lease ran
        out. One transaction; returns the chains won. Chains are taken in their sorted order,
        as `release` and `drop_owner` let go of them: on PostgreSQL a claim meeting a row another
        owner is releasing waits for it, and two such waits never form a deadlock."""
        won = []
        at = now()
        with self.db.transaction(exclusive=False):
            for chain in sorted(chains):
                if not self.db.try_lock(f"claim:{chain}"):
                    continue  # another owner is claiming it right now: skip, as SKIP LOCKED does
                cur = self.db.execute(
                    "INSERT INTO claims (chain, run_id, owner, since) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (chain) DO UPDATE SET run_id = excluded.run_id,"
                    " owner = excluded.owner, since = excluded.since"
                    " WHERE claims.owner NOT IN (SELECT id FROM owners WHERE lease_until > ?)",
                    (chain, run_id, owner_id, at, at),
                )
                if cur.rowcount == 1:
                    won.append(chain)
        return won

    def release(self, owner_id: str, chains: Sequence[str]) -> None:
        """Let go of chains, in their sorted order (see `claim`)."""
        self.db.executemany(
            "DELETE FROM claims WHERE chain = ? AND owner = ?",
            [(c, owner_id) for c in sorted(chains)],
        )

    _OWNER = "o.id, o.host, o.boot, o.pid, o.pid_start, o.command, o.started_at, o.lease_until"

    def holders(self, chains: Sequence[str] | None = None, run_id: str = "") -> list[Holder]:
        """Who holds which claims (of these chains, or of a run), with the owner's lease."""
        sql = (
            f"SELECT c.chain AS held, c.run_id, c.since, {self._OWNER} FROM claims c"
            " LEFT JOIN owners o ON o.id = c.owner"
        )
        if chains is None:
            rows = self.db.execute(f"{sql} WHERE c.run_id = ?", (run_id,)).fetchall()
        else:
            rows = []
            for start in range(0, len(chains), 500):
                chunk = list(chains[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                rows += self.db.execute(f"{sql} WHERE c.chain IN ({marks})", chunk).fetchall()
        return [_holder(r) for r in rows]

    # --- the schedule queue --------------------------------------------------------------

    _SCHEDULE = (
        "id, release, due_at, zone, channels, audience, missed, status, run_id, detail,"
        " created_at, started_at, finished_at, owner"
    )

    def add_schedule(
        self, release: str, due_at: str, zone: str, channels: list[str], audience: list[str],
        missed: str,
    ) -> int:  # fmt: skip
        row = self.db.execute(
            "INSERT INTO schedules (release, due_at, zone, channels, audience, missed, status,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?) RETURNING id",
            (release, due_at, zone, json.dumps(channels), json.dumps(audience), missed, now()),
        ).fetchone()
        return int(row["id"])

    def schedule(self, item_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT {self._SCHEDULE} FROM schedules WHERE id = ?", (item_id,)
        ).fetchone()
        return dict(row) if row else None

    def schedules(self, everything: bool = False) -> list[dict[str, Any]]:
        where = "" if everything else "WHERE status IN ('pending', 'running')"
        rows = self.db.execute(
            f"SELECT {self._SCHEDULE} FROM schedules {where} ORDER BY due_at, id"
        ).fetchall()
        return [dict(r) for r in rows]

    def cancel_schedule(self, item_id: int) -> bool:
        cur = self.db.execute(
            "UPDATE schedules SET status = 'cancelled' WHERE id = ? AND status = 'pending'",
            (item_id,),
        )
        return cur.rowcount == 1

    def claim_due(self, owner_id: str, due_by: str) -> list[int]:
        """Take every item due by `due_by` for an owner, and every item left running by an
        owner whose lease ran out, each in one compare-and-set."""
        at = now()
        with self.db.transaction(exclusive=False):
            ids = [
                int(r["id"])
                for r in self.db.execute(
                    "SELECT id FROM schedules WHERE (status = 'pending' AND due_at <= ?)"
                    " OR (status = 'running' AND (owner IS NULL OR owner NOT IN"
                    "  (SELECT id FROM owners WHERE lease_until > ?))) ORDER BY due_at, id"
                    + self.db.skip_locked,
                    (due_by, at),
                )
            ]
            won = []
            for item_id in ids:
                cur = self.db.execute(
                    "UPDATE schedules SET status = 'running', owner = ?, started_at = ?"
                    " WHERE id = ? AND ((status = 'pending' AND due_at <= ?) OR (status = 'running'"
                    " AND (owner IS NULL OR owner NOT IN (SELECT id FROM owners WHERE lease_until > ?))))",
                    (owner_id, at, item_id, due_by, at),
                )
                if cur.rowcount == 1:
                    won.append(item_id)
        return won

    def schedule_holders(self) -> list[Holder]:
        """The owners of running schedule items."""
        rows = self.db.execute(
            f"SELECT s.id AS held, '' AS run_id, s.started_at AS since, {self._OWNER}"
            " FROM schedules s JOIN owners o ON o.id = s.owner WHERE s.status = 'running'"
        ).fetchall()
        return [_holder(r) for r in rows]

    def set_schedule_run(self, item_id: int, run_id: str) -> None:
        self.db.execute("UPDATE schedules SET run_id = ? WHERE id = ?", (run_id, item_id))

    def finish_schedule(
        self, item_id: int, owner_id: str, status: str, run_id: str | None, detail: str | None
    ) -> bool:
        cur = self.db.execute(
            "UPDATE schedules SET status = ?, run_id = COALESCE(?, run_id), detail = ?,"
            " finished_at = ? WHERE id = ? AND owner = ?",
            (status, run_id, detail, now(), item_id, owner_id),
        )
        return cur.rowcount == 1

    def next_due(self) -> str | None:
        row = self.db.execute(
            "SELECT MIN(due_at) FROM schedules WHERE status = 'pending'"
        ).fetchone()
        return str(row[0]) if row and row[0] else None

    # --- the conference question book ----------------------------------------------------

    _QUESTION = (
        "name, qid, channel, remote_id, author, author_name, text, url, asked_at, received_at,"
        " via, private, extra, status, duplicate_of, reason, audited, seq, done_by"
    )

    def conference_open_book(self, name: str, status: str) -> None:
        self.db.execute(
            "INSERT INTO conference_state (name, status) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (name, status),
        )

    def conference_state(self, name: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT status, announced_at, opened_at, closed_at, reopened FROM conference_state"
            " WHERE name = ?",
            (name,),
        ).fetchone()
        return dict(row)

    def conference_set_state(self, name: str, status: str, column: str, at: str) -> None:
        if column not in ("announced_at", "opened_at", "closed_at"):
            raise ValueError(column)
        self.db.execute(
            f"UPDATE conference_state SET status = ?, {column} = COALESCE({column}, ?) WHERE name = ?",
            (status, at, name),
        )

    def conference_questions(self, name: str, statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
        sql = f"SELECT {self._QUESTION} FROM conference_questions WHERE name = ?"
        args: list[Any] = [name]
        if statuses:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            args += statuses
        return [dict(r) for r in self.db.execute(sql + " ORDER BY asked_at, seq", args)]

    def conference_question(self, name: str, qid: str) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT {self._QUESTION} FROM conference_questions WHERE name = ? AND qid = ?",
            (name, qid),
        ).fetchone()
        return dict(row) if row else None

    def conference_has(self, name: str, channel: str, remote_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM conference_questions WHERE name = ? AND channel = ? AND remote_id = ?",
            (name, channel, remote_id),
        ).fetchone()
        return row is not None

    def conference_next_number(self, name: str) -> int:
        """The next question number (call inside a transaction)."""
        (number,) = self.db.execute(
            "UPDATE conference_state SET next_qid = next_qid + 1 WHERE name = ?"
            " RETURNING next_qid - 1",
            (name,),
        ).fetchone()
        return int(number)

    def conference_add_question(self, q: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO conference_questions (name, qid, channel, remote_id, author, author_name,"
            " text, url, asked_at, received_at, via, private, extra, status, duplicate_of, seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (q["name"], q["qid"], q["channel"], q["remote_id"], q["author"], q["author_name"],
             q["text"], q["url"], q["asked_at"], q["received_at"], q["via"], int(q["private"]),
             q["extra"], q["status"], q["duplicate_of"], q["seq"]),
        )  # fmt: skip

    def conference_set_cursor(self, name: str, channel: str, source: str, cursor: str) -> None:
        self.db.execute(
            "INSERT INTO conference_cursors (name, channel, source, cursor) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name, channel, source) DO UPDATE SET cursor = excluded.cursor",
            (name, channel, source, cursor),
        )

    def conference_cursors(self, name: str, channel: str) -> dict[str, str]:
        rows = self.db.execute(
            "SELECT source, cursor FROM conference_cursors WHERE name = ? AND channel = ?",
            (name, channel),
        ).fetchall()
        return {r["source"]: r["cursor"] for r in rows}

    def conference_set_status(self, name: str, qid: str, status: str, reason: str | None) -> None:
        self.db.execute(
            "UPDATE conference_questions SET status = ?, reason = ? WHERE name = ? AND qid = ?",
            (status, reason, name, qid),
        )

    def conference_unaudited(self, name: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT {self._QUESTION} FROM conference_questions WHERE name = ? AND audited = 0"
            " ORDER BY seq",
            (name,),
        ).fetchall()
        return [dict(r) for r in rows]

    def conference_mark_audited(self, name: str, qids: Sequence[str]) -> None:
        self.db.executemany(
            "UPDATE conference_questions SET audited = 1 WHERE name = ? AND qid = ?",
            [(name, q) for q in qids],
        )

    def conference_add_post(self, name: str, kind: str, qid: str, run_id: str) -> None:
        self.db.execute(
            "INSERT INTO conference_posts (name, kind, qid, run_id, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (name, kind, qid, run_id, now()),
        )

    def conference_posts(
        self, name: str, kind: str | None = None, qid: str = ""
    ) -> list[dict[str, Any]]:
        if kind is None:
            rows = self.db.execute(
                "SELECT kind, qid, run_id FROM conference_posts WHERE name = ? ORDER BY created_at",
                (name,),
            )
        else:
            rows = self.db.execute(
                "SELECT kind, qid, run_id FROM conference_posts WHERE name = ? AND kind = ?"
                " AND qid = ? ORDER BY created_at",
                (name, kind, qid),
            )
        return [dict(r) for r in rows]

    def conference_change_status(
        self,
        name: str,
        qid: str,
        status: str,
        reason: str | None,
        unless: Sequence[str],
        by: str | None = None,
    ) -> bool:
        """Set a question's status (and who set it) unless it is in one of `unless`
        (compare-and-set): True when this call changed it, False when it was in one of
        them already."""
        marks = ", ".join("?" * len(unless))
        cur = self.db.execute(
            "UPDATE conference_questions SET status = ?, reason = ?,"
            " done_by = COALESCE(?, done_by) WHERE name = ? AND qid = ?"
            + (f" AND status NOT IN ({marks})" if unless else ""),
            (status, reason, by, name, qid, *unless),
        )
        return cur.rowcount == 1

    def conference_question_by_remote(
        self, name: str, channel: str, remote_id: str
    ) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT {self._QUESTION} FROM conference_questions"
            " WHERE name = ? AND channel = ? AND remote_id = ?",
            (name, channel, remote_id),
        ).fetchone()
        return dict(row) if row else None

    def conference_set_via(self, name: str, qid: str, via: str) -> None:
        """Record the routes a question came by (a route seen by a later poll is added)."""
        self.db.execute(
            "UPDATE conference_questions SET via = ? WHERE name = ? AND qid = ?", (via, name, qid)
        )

    def conference_reopen(self, name: str, status: str) -> bool:
        """A closed conference open again: its closing time cleared. True if it was closed."""
        cur = self.db.execute(
            "UPDATE conference_state SET status = ?, closed_at = NULL, reopened = reopened + 1"
            " WHERE name = ? AND status = 'closed'",
            (status, name),
        )
        return cur.rowcount == 1

    def conference_claim(self, name: str, qid: str, owner_id: str, moderator: str, at: str) -> bool:
        """Take a question for an owner (compare-and-set): free, held by this owner already,
        or held by an owner whose lease ran out. True when this owner holds it now."""
        cur = self.db.execute(
            "INSERT INTO conference_claims (name, qid, owner, moderator, since)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, qid) DO UPDATE SET"
            " owner = excluded.owner, moderator = excluded.moderator, since = excluded.since"
            " WHERE conference_claims.owner = excluded.owner"
            " OR conference_claims.owner NOT IN (SELECT id FROM owners WHERE lease_until > ?)",
            (name, qid, owner_id, moderator, at, at),
        )
        return cur.rowcount == 1

    def conference_unclaim(self, name: str, qid: str, owner_id: str) -> None:
        self.db.execute(
            "DELETE FROM conference_claims WHERE name = ? AND qid = ? AND owner = ?",
            (name, qid, owner_id),
        )

    def conference_claims(self, name: str) -> list[tuple[Holder, str]]:
        """Who holds which question of a conference (the owner's row may be gone), with the
        moderator's name."""
        rows = self.db.execute(
            f"SELECT c.qid AS held, '' AS run_id, c.since, c.moderator, {self._OWNER}"
            " FROM conference_claims c LEFT JOIN owners o ON o.id = c.owner WHERE c.name = ?",
            (name,),
        ).fetchall()
        return [(_holder(r), str(r["moderator"])) for r in rows]

    # --- team mode (prcast/team): the approved plans workers send without the workspace ---

    def save_team_plan(self, run_id: str, manifest: str) -> None:
        """Keep what a worker needs besides the ledger to send run `run_id` (JSON)."""
        self.db.execute(
            "INSERT INTO team_plans (run_id, manifest, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET manifest = excluded.manifest",
            (run_id, manifest, now()),
        )

    def team_plan(self, run_id: str) -> str | None:
        row = self.db.execute(
            "SELECT manifest FROM team_plans WHERE run_id = ?", (run_id,)
        ).fetchone()
        return str(row["manifest"]) if row else None

    def publish_team_key(self, vkey: str, name: str, host: str) -> None:
        """Publish a machine's audit verifier key (kept as first seen)."""
        self.db.execute(
            "INSERT INTO team_keys (vkey, name, host, first_seen) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (vkey) DO NOTHING",
            (vkey, name, host, now()),
        )

    def team_keys(self) -> list[dict[str, str]]:
        """The published verifier keys: vkey, name, host, first_seen (oldest first)."""
        rows = self.db.execute(
            "SELECT vkey, name, host, first_seen FROM team_keys ORDER BY first_seen, vkey"
        ).fetchall()
        return [{k: str(r[k]) for k in ("vkey", "name", "host", "first_seen")} for r in rows]

    def claim_schedule_item(self, item_id: int, owner_id: str, due_by: str) -> str | None:
        """Take one schedule item for an owner in one compare-and-set: pending and due, or
        left running by an owner whose lease ran out. Returns its status before (pending or
        running), or None when it is not this owner's to run."""
        at = now()
        with self.db.transaction():
            row = self.db.execute(
                "SELECT status FROM schedules WHERE id = ?", (item_id,)
            ).fetchone()
            cur = self.db.execute(
                "UPDATE schedules SET status = 'running', owner = ?,"
                " started_at = COALESCE(started_at, ?) WHERE id = ? AND ((status = 'pending'"
                " AND due_at <= ?) OR (status = 'running' AND (owner IS NULL OR owner NOT IN"
                " (SELECT id FROM owners WHERE lease_until > ?))))",
                (owner_id, at, item_id, due_by, at),
            )
            return str(row["status"]) if row and cur.rowcount == 1 else None

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold this database's lock `name` for the block: one holder at a time, across
        processes and machines (team mode: creating the job queue's tables once)."""
        with self.db.transaction(exclusive=False):
            self.db.lock(name)
            yield
