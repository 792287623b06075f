"""The state store's schema, as an ordered list of migrations.

A database records the version it is at (`schema_version`); opening it applies every later
migration in one transaction each. Version 1 is the schema prcast 0.1 wrote (runs,
deliveries keyed per run, schedules, conference tables); a database from before versioning
is recognised as version 1. Version 2 turns deliveries into the publication ledger: one row
per "release R, channel C, target T, part k", shared by every run that plans it, with
claims held by leased owners.

SQL here is portable: `?` placeholders (the dialect translates them), `ON CONFLICT`, no
`INSERT OR ...`, no `rowid`. Type names that differ between SQLite and PostgreSQL are
written as `{serial}` and filled in by the dialect."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prcast.store.dialect import Connection

V1 = [
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        release_id TEXT NOT NULL,
        release_path TEXT NOT NULL,
        release_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        status TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS deliveries (
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
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_run ON deliveries(run_id, seq)",
    """CREATE TABLE IF NOT EXISTS schedules (
        id {serial},
        release TEXT NOT NULL,
        due_at TEXT NOT NULL,
        zone TEXT NOT NULL,
        channels TEXT NOT NULL,
        audience TEXT NOT NULL,
        missed TEXT NOT NULL,
        status TEXT NOT NULL,
        run_id TEXT,
        detail TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS conference_state (
        name TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        announced_at TEXT,
        opened_at TEXT,
        closed_at TEXT,
        next_qid INTEGER NOT NULL DEFAULT 1
    )""",
    """CREATE TABLE IF NOT EXISTS conference_posts (
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        qid TEXT NOT NULL DEFAULT '',
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (name, kind, qid, run_id)
    )""",
    """CREATE TABLE IF NOT EXISTS conference_questions (
        name TEXT NOT NULL,
        qid TEXT NOT NULL,
        channel TEXT NOT NULL,
        remote_id TEXT NOT NULL,
        author TEXT NOT NULL,
        author_name TEXT NOT NULL,
        text TEXT NOT NULL,
        url TEXT,
        asked_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        via TEXT NOT NULL,
        private INTEGER NOT NULL,
        extra TEXT NOT NULL,
        status TEXT NOT NULL,
        duplicate_of TEXT,
        reason TEXT,
        audited INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (name, qid),
        UNIQUE (name, channel, remote_id)
    )""",
    """CREATE TABLE IF NOT EXISTS conference_cursors (
        name TEXT NOT NULL,
        channel TEXT NOT NULL,
        source TEXT NOT NULL,
        cursor TEXT NOT NULL,
        PRIMARY KEY (name, channel, source)
    )""",
]

V2 = [
    # facts about this database: its workspace's random id, part of every publication key
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # the ledger: one row per publication, whatever run planned it
    """CREATE TABLE publications (
        key TEXT PRIMARY KEY,
        identity TEXT NOT NULL UNIQUE,
        release_key TEXT NOT NULL,
        edition INTEGER NOT NULL,
        chain TEXT NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        part INTEGER NOT NULL,
        parts INTEGER NOT NULL,
        parent_key TEXT,
        post TEXT NOT NULL,
        content_sha256 TEXT NOT NULL,
        status TEXT NOT NULL,
        remote_id TEXT,
        url TEXT,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        receipt TEXT,
        grp TEXT NOT NULL DEFAULT '',
        run_id TEXT NOT NULL,
        published_at TEXT
    )""",
    "CREATE INDEX publications_chain ON publications(chain, part)",
    "CREATE INDEX publications_channel ON publications(channel, status, updated_at)",
    "CREATE INDEX publications_release ON publications(release_key, edition)",
    # which publications each run covers, in the run's order
    """CREATE TABLE run_items (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    )""",
    "CREATE INDEX run_items_seq ON run_items(run_id, seq)",
    # a process that may hold claims, alive while its lease is renewed
    """CREATE TABLE owners (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        boot TEXT NOT NULL,
        pid INTEGER NOT NULL,
        pid_start TEXT NOT NULL,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        lease_until TEXT NOT NULL
    )""",
    # a thread's parts (a chain) are claimed together
    """CREATE TABLE claims (
        chain TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        since TEXT NOT NULL
    )""",
    "CREATE INDEX claims_owner ON claims(owner)",
    # a release published again on purpose as a new edition
    """CREATE TABLE editions (
        release_key TEXT PRIMARY KEY,
        edition INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "ALTER TABLE runs ADD COLUMN release_key TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE schedules ADD COLUMN owner TEXT",
    "ALTER TABLE conference_questions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
    "UPDATE conference_questions SET seq = CAST(SUBSTR(qid, 2) AS INTEGER)",
]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: the parts of a post (as stored) that someone receiving it sees
CONTENT_FIELDS = (
    "title", "text", "subject", "html", "links", "hashtags", "media", "content_warning",
    "language", "recipients", "recipient_name", "reply_to",
)  # fmt: skip


def content_digest(post: dict[str, Any]) -> str:
    """The SHA-256 of what a post shows (not when it was planned or how it was counted):
    a publication whose digest changed after it went out was edited."""
    shown = {k: post.get(k) for k in CONTENT_FIELDS}
    return sha(json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def publication_identity(
    workspace: str, release_key: str, edition: int, channel: str, target: str, part: int
) -> str:
    """What the world sees: this release (edition), on this channel, to this target, this
    part, of this workspace. It is also the idempotency key the services see, so the
    workspace's random id is part of it: two workspaces (two clients of an agency) posting
    `releases/launch.md` to one account must not look like repeats of each other."""
    text = f"{workspace}\x00{release_key}\x00{edition}\x00{channel}\x00{target}\x00{part}"
    return sha(text)[:32]


def release_key_of(path: str, workspace_root: Path) -> str:
    """A release's key when its front matter names no `id`: its path in the workspace."""
    p = Path(path)
    try:
        return p.resolve().relative_to(workspace_root.resolve()).as_posix()
    except (ValueError, OSError):
        pass
    # a workspace that moved since: the longest tail of the old path that exists here
    for parent in reversed(p.parents):
        tail = p.relative_to(parent)
        if tail.parts and (workspace_root / tail).is_file():
            return tail.as_posix()
    return p.as_posix()


def _ledger_from_v1(db: Connection, workspace_root: Path) -> None:
    """Carry version 1's per-run deliveries into the ledger. A delivery keeps its key (the
    idempotency key the services saw); the same publication planned by two runs (possible
    before the ledger) becomes one row, the delivered one if either was."""
    runs = {r["id"]: dict(r) for r in db.execute("SELECT * FROM runs").fetchall()}
    workspace = str(db.execute("SELECT value FROM meta WHERE name = 'workspace_id'").fetchone()[0])
    keys: dict[str, str] = {}
    for run in runs.values():
        conference = str(run["release_id"]).startswith("conference-")
        rkey = (
            run["release_id"] if conference else release_key_of(run["release_path"], workspace_root)
        )
        db.execute("UPDATE runs SET release_key = ? WHERE id = ?", (rkey, run["id"]))
        run["release_key"] = rkey
    rows = db.execute("SELECT * FROM deliveries ORDER BY run_id, seq").fetchall()
    first: dict[tuple[str, str, str], str] = {}  # (run, channel, target) -> key of part 1
    for r in rows:
        if r["part"] <= 1:
            first[(r["run_id"], r["channel"], r["target"])] = r["key"]
    rank = {"delivered": 0, "attempting": 1, "in-doubt": 1}
    chosen: dict[str, Any] = {}
    for r in rows:
        owner = runs.get(r["run_id"])
        if owner is None:
            continue
        identity = publication_identity(
            workspace, owner["release_key"], 1, r["channel"], r["target"], r["part"]
        )
        best = chosen.get(identity)
        if best is None or rank.get(r["status"], 2) < rank.get(best["status"], 2):
            chosen[identity] = r
    for identity, r in chosen.items():
        post = json.loads(r["post"])
        published = r["updated_at"] if r["status"] == "delivered" else None
        db.execute(
            "INSERT INTO publications (key, identity, release_key, edition, chain, channel, target,"
            " part, parts, parent_key, post, content_sha256, status, remote_id, url, error, attempts,"
            " updated_at, receipt, grp, run_id, published_at)"
            " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r["key"], identity, runs[r["run_id"]]["release_key"],
             first.get((r["run_id"], r["channel"], r["target"]), r["key"]), r["channel"],
             r["target"], r["part"], r["parts"], r["parent_key"], r["post"],
             content_digest(post), r["status"], r["remote_id"], r["url"], r["error"],
             r["attempts"], r["updated_at"], r["receipt"], r["grp"], r["run_id"], published),
        )  # fmt: skip
        keys[identity] = r["key"]
    for r in rows:
        owner = runs.get(r["run_id"])
        if owner is None:
            continue
        identity = publication_identity(
            workspace, owner["release_key"], 1, r["channel"], r["target"], r["part"]
        )
        db.execute(
            "INSERT INTO run_items (run_id, key, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (r["run_id"], keys[identity], r["seq"]),
        )
    db.execute("DROP TABLE deliveries")


Step = Callable[[Connection, Path], None]


def _statements(statements: list[str]) -> Step:
    def apply(db: Connection, workspace_root: Path) -> None:
        for statement in statements:
            db.execute(statement.replace("{serial}", db.serial))

    return apply


def _v2(db: Connection, workspace_root: Path) -> None:
    import uuid

    _statements(V2)(db, workspace_root)
    db.execute("INSERT INTO meta (name, value) VALUES ('workspace_id', ?)", (uuid.uuid4().hex,))
    _ledger_from_v1(db, workspace_root)


V3 = [
    # a conference question taken by a moderator (a screen or a command) while they work on
    # it: one owner at a time, its lease kept alive by the owner's heartbeat (owners table)
    """CREATE TABLE conference_claims (
        name TEXT NOT NULL,
        qid TEXT NOT NULL,
        owner TEXT NOT NULL,
        moderator TEXT NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (name, qid)
    )""",
    "CREATE INDEX conference_claims_owner ON conference_claims(owner)",
    # who answered or skipped a question, to name them when another moderator tries too
    "ALTER TABLE conference_questions ADD COLUMN done_by TEXT",
    # how often a closed conference was opened again: each closing after it is a post of its own
    "ALTER TABLE conference_state ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0",
]


V4 = [
    # the audit chain, for a workspace whose log lives in the database (a team's PostgreSQL):
    # each record's canonical JSON line, and the head that appenders lock to take turns
    """CREATE TABLE audit_records (
        seq BIGINT PRIMARY KEY,
        hash TEXT NOT NULL,
        line TEXT NOT NULL
    )""",
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')",
]


V5 = [
    # team mode: the approved plan a worker sends without the workspace (prcast/team/plan.py);
    # IF NOT EXISTS: a database of prcast before this migration made it on first use
    """CREATE TABLE IF NOT EXISTS team_plans (
        run_id TEXT PRIMARY KEY,
        manifest TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    # the signed checkpoints of the audit chain in the database, as the signed notes the
    # machines wrote (one per size and signing key): every machine's checkpoints in one place
    """CREATE TABLE audit_checkpoints (
        size BIGINT NOT NULL,
        key_name TEXT NOT NULL,
        key_id TEXT NOT NULL,
        note TEXT NOT NULL,
        host TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        PRIMARY KEY (size, key_name, key_id)
    )""",
    # the verifier keys the team's machines sign checkpoints with, published by each machine
    # when it starts (a worker) or signs (a workspace): which machine, since when
    """CREATE TABLE team_keys (
        vkey TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        host TEXT NOT NULL,
        first_seen TEXT NOT NULL
    )""",
]


#: migration n brings a database from version n-1 to n
MIGRATIONS: list[Step] = [
    _statements(V1), _v2, _statements(V3), _statements(V4), _statements(V5),
]  # fmt: skip
LATEST = len(MIGRATIONS)
