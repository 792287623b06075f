"""The audit log: append-only JSON Lines, hash-chained, each record durable before the action it announces.

Each line is the canonical JSON of a record. A record holds `seq`, `ts`,
`type`, its data, `prev` (the hash of the record before it) and `hash` (the
SHA-256 of its own canonical JSON without `hash`). Changing any byte of a
record therefore breaks that record's own hash, and verification names it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from prcast.errors import AuditError, StorageError, storage_reason
from prcast.fileio import write_all
from prcast.secrets import any_known as any_secret_known
from prcast.secrets import redact
from prcast.userdir import log_dir

if TYPE_CHECKING:
    from prcast.workspace import Workspace

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    """The one JSON form that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


_HASH_MEMBER = re.compile(rb'"hash":"([0-9a-f]{64})"')
_SEQ_MEMBER = re.compile(rb'[{,]"seq":([0-9]+)[,}]')
_PREV_MEMBER = re.compile(rb'[{,]"prev":"([0-9a-f]{64})"[,}]')


def _verified_line(raw: bytes, number: int, prev: str) -> str | None:
    """The record's own hash if the line verifies by its raw bytes, else None (the caller
    then parses it to say exactly what is wrong). A line is the canonical JSON the hash was
    taken over plus its "hash" member, so hashing the line without that member checks
    every other byte of it."""
    if not raw.endswith(b"\n"):
        return None
    line = raw[:-1]
    m = _HASH_MEMBER.search(line)
    if m is None:
        return None
    start, end = m.span()
    if line[start - 1 : start] == b",":
        body = line[: start - 1] + line[end:]
    elif line[end : end + 1] == b",":
        body = line[:start] + line[end + 1 :]
    else:
        return None
    own = m.group(1)
    if hashlib.sha256(body).hexdigest().encode() != own:
        return None
    seq, chained = _SEQ_MEMBER.search(line), _PREV_MEMBER.search(line)
    if (
        seq is None
        or chained is None
        or int(seq.group(1)) != number
        or chained.group(1) != prev.encode()
    ):
        return None
    return own.decode()


#: a long-running process (a run of many deliveries, the scheduler, a live conference) signs
#: a checkpoint after this many of its records, or this many seconds with records unsigned
CHECKPOINT_RECORDS = 10_000
CHECKPOINT_SECONDS = 300.0


@dataclass(frozen=True)
class Verified:
    records: int
    head: str
    #: bytes of a torn last line (a crash mid-append) that was left out
    torn: int = 0


#: audit logs (absolute paths) this process appended to: the CLI signs a checkpoint of each
#: before it exits
appended: set[Path] = set()


def head_path(log: Path) -> Path:
    """Where this account keeps the last record its prcast wrote to `log` (outside the
    workspace): records after it were written by something else."""
    return log_dir(log) / "head.json"


def written_heads(log: Path) -> list[tuple[int, str]]:
    """(seq, hash) of the last record this account's prcast wrote to `log`, and, while an
    append is under way (or was killed mid-way), of the last record it is writing."""
    try:
        return _heads_of(head_path(log).read_bytes())
    except OSError:
        return []


def _heads_of(raw: bytes) -> list[tuple[int, str]]:
    try:
        data = json.loads(raw)
        heads = [(int(data["seq"]), str(data["hash"]))]
        if data.get("pending"):
            heads.append((int(data["pending"][0]), str(data["pending"][1])))
        return heads
    except (ValueError, KeyError, TypeError, IndexError):
        return []


def written_head(log: Path) -> tuple[int, str] | None:
    """(seq, hash) of the last record this account's prcast wrote to `log`, if known."""
    heads = written_heads(log)
    return heads[0] if heads else None


#: the head note is written in place, padded to this size, so a note is one small write
#: (no temporary file and rename per append: an append is on the hot path of every send)
_HEAD_SIZE = 512


class _HeadNote:
    """The last record this account's prcast wrote to one log (and the one it is about to
    write): an append notes its records before writing them, so a process killed at any
    point leaves records this account recognises as its own."""

    def __init__(self, log: Path) -> None:
        self.path = head_path(log)
        self.file: Any = None
        #: the length of what this object last wrote (-1: not known)
        self.size = -1

    def read(self) -> list[tuple[int, str]]:
        """What `written_heads` says, read through the note's open file when there is one:
        with several processes appending to one log (a run sent by several processes) it
        is read at nearly every append, and finding its path costs more than reading it."""
        try:
            if self.file is None:
                return _heads_of(self.path.read_bytes())
            return _heads_of(os.pread(self.file.fileno(), 2 * _HEAD_SIZE, 0))
        except OSError:
            return []

    def write(self, seq: int, hash: str, pending: tuple[int, str] | None = None) -> None:
        data = {"seq": seq, "hash": hash, "pending": list(pending) if pending else None}
        payload = json.dumps(data).encode("utf-8").ljust(_HEAD_SIZE)
        try:
            if self.file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self.file = open(fd, "r+b", buffering=0)  # noqa: SIM115 - kept open
            os.pwrite(self.file.fileno(), payload, 0)  # one call: it runs twice an append
            if len(payload) != self.size:
                self.file.truncate(len(payload))
                self.size = len(payload)
        except OSError:  # a read-only home costs this check, not the append
            self.file = None
            self.size = -1


def _unexpected_tail(heads: list[tuple[int, str]], seq: int, last: str) -> dict[str, Any] | None:
    """What differs between the log's tail and the last record this account wrote: records
    appended by someone else (another account, or a hand), or records gone."""
    if not heads or (seq, last) in heads:
        return None
    mine = heads[0]
    if seq > mine[0]:
        return {"after": mine[0], "first": mine[0] + 1, "last": seq,
                "found": "records appended by something other than this account's prcast"}  # fmt: skip
    if seq < mine[0]:
        return {"after": mine[0], "first": seq + 1, "last": mine[0],
                "found": "records this account wrote are missing"}  # fmt: skip
    return {"after": mine[0], "first": seq, "last": seq,
            "found": "the last record this account wrote was replaced"}  # fmt: skip


class AuditLog:
    """The workspace's audit log file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None
        self._resolved = path.resolve()
        self._note = _HeadNote(path)
        #: (size, mtime_ns, inode, seq, hash) after this object's last append: while the file
        #: is still exactly as this object left it, the next append need not read its tail
        self._known: tuple[int, int, int, int, str] | None = None
        #: bytes of a torn last line the last `records()` or `verify()` left out
        self.torn = 0
        #: records this object appended since it last signed a checkpoint, and when that was
        self._unsigned = 0
        self._signed_at = time.monotonic()

    def _open(self) -> Any:
        """The log file, kept open across appends; opened again if it was replaced."""
        if self._file is not None:
            try:
                same = os.stat(self.path).st_ino == os.fstat(self._file.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                self.close()
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")  # noqa: SIM115 - kept open across appends
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._known = None

    def _tail(self, f: Any) -> tuple[int, str, int]:
        """(last seq, last hash, length of the intact prefix) of the open file."""
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return 0, GENESIS, 0
        chunk = 1 << 16
        while True:
            start = max(0, size - chunk)
            f.seek(start)
            data = f.read(size - start)
            end = data.rfind(b"\n")
            if end == -1 and start > 0:
                chunk *= 4
                continue
            intact = start + end + 1 if end >= 0 else 0
            if intact == 0:
                return 0, GENESIS, 0
            prev_nl = data.rfind(b"\n", 0, end)
            if prev_nl == -1 and start > 0:
                chunk *= 4
                continue
            last = json.loads(data[prev_nl + 1 : end])
            return int(last["seq"]), str(last["hash"]), intact

    def append(self, type: str, **data: Any) -> dict[str, Any]:
        """Append one record and fsync it; returns the record as written."""
        return self.append_many([(type, data)])[0]

    def append_many(
        self, entries: Sequence[tuple[str, dict[str, Any]]], sync: bool = True
    ) -> list[dict[str, Any]]:
        """Append several records with one fsync (group commit): durable together, before
        any of the actions they announce. `sync=False` leaves them to the next fsync (for
        records that announce no action, e.g. an answer received)."""
        f = self._open()
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            st = os.fstat(f.fileno())
            known = self._known
            if known is not None and known[:3] == (st.st_size, st.st_mtime_ns, st.st_ino):
                seq, prev, intact = known[3], known[4], st.st_size  # nobody else wrote since
            else:
                seq, prev, intact = self._tail(f)
            size = st.st_size
            torn = size - intact
            notes: list[tuple[str, dict[str, Any]]] = []
            fragment = b""
            if torn:
                # a crash mid-append: the torn record's action never started (records are
                # written before their action), so the fragment is dropped and that is recorded
                f.seek(intact)
                fragment = f.read(torn)
                f.truncate(intact)
                notes.append(("audit.torn_tail_removed", {"bytes": torn}))
            confirmed = (seq, prev)  # the last record this account wrote, as far as it knows
            if known is None or known[3:] != (seq, prev):
                heads = self._note.read()
                odd = _unexpected_tail(heads, seq, prev)
                if odd is not None:
                    notes.append(("audit.unexpected_tail", odd))
                    confirmed = heads[0]
            written, lines = build_lines([*notes, *entries], seq, prev)
            if written:
                seq, prev = written[-1]["seq"], written[-1]["hash"]
            try:
                self._note.write(*confirmed, pending=(seq, prev))
                write_all(f.fileno(), "".join(line + "\n" for line in lines).encode("utf-8"))
            except OSError as exc:
                # a full disk: the records written in part are taken back whole, so none
                # of them stands for an action that never started (a kill right here
                # leaves a torn tail, which the next append removes)
                with contextlib.suppress(OSError):
                    f.truncate(intact)
                    # the torn fragment back in its room, for the next append to remove and say
                    write_all(f.fileno(), fragment)
                raise StorageError("the audit log", self.path, storage_reason(exc)) from None
            if sync:
                try:
                    os.fsync(f.fileno())
                except OSError as exc:
                    # written, but maybe not durable: the records stay (what they announce
                    # is not done; a delivery among them is in doubt, never sent twice)
                    raise StorageError("the audit log", self.path, storage_reason(exc)) from None
            st = os.fstat(f.fileno())
            self._known = (st.st_size, st.st_mtime_ns, st.st_ino, seq, prev)
            self._note.write(seq, prev)
            appended.add(self._resolved)
            self._unsigned += len(written)
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        if self.path.parent.name == ".prcast" and (
            self._unsigned >= CHECKPOINT_RECORDS
            or time.monotonic() - self._signed_at >= CHECKPOINT_SECONDS
        ):
            self.checkpoint()  # periodically, besides the end of every run and command
        return written[len(notes) :]  # the caller's records

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in order (unverified; see `verify`). A torn last line (a crash
        mid-append) is left out and its size kept in `torn`; the next append removes it."""
        self.torn = 0
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.endswith(b"\n"):
                    self.torn = len(line)
                    return
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise AuditError(
                        f"{self.path}: record {number} (line {number}): not a valid JSON record",
                        record=number,
                        hint="prcast audit verify names every problem of the log",
                    ) from None
                yield record

    def verified_records(self) -> list[dict[str, Any]]:
        """Every record, each checked against its hash and the chain as it is read (a torn
        last line left out); AuditError naming the first record that does not verify."""
        self.torn = 0
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            return self._chained(self._whole_lines(f), str(self.path))

    def _whole_lines(self, f: Iterable[bytes]) -> Iterator[bytes]:
        """The lines of `f` up to a torn last line, whose size is kept in `torn`."""
        for raw in f:
            if not raw.endswith(b"\n"):
                self.torn = len(raw)
                return
            yield raw

    def _chained(self, lines: Iterable[bytes], where: str) -> list[dict[str, Any]]:
        """The records of `lines`, each checked against its hash and the chain as it is
        read; AuditError naming the first record that does not verify (`verify` is asked
        first, to name what is wrong with it)."""
        out: list[dict[str, Any]] = []
        prev = GENESIS
        for number, raw in enumerate(lines, start=1):
            own = _verified_line(raw, number, prev)
            if own is None:
                self.verify()  # names what is wrong with it
                raise AuditError(f"{where}: record {number} does not verify", record=number)
            out.append(json.loads(raw))
            prev = own
        return out

    def checkpoint(self) -> Any:
        """Sign a checkpoint of this log now (see prcast.checkpoint.seal); the failure, if
        any, is returned rather than raised: a run's deliveries are done either way."""
        from prcast.checkpoint import seal
        from prcast.errors import PrcastError
        from prcast.workspace import Workspace

        self._unsigned, self._signed_at = 0, time.monotonic()
        try:
            return seal(Workspace(self.path.parent.parent))
        except (PrcastError, OSError) as exc:  # the next command's checkpoint says so
            return exc

    def verify(self) -> Verified:
        """Check every record's hash and chain; AuditError names the first bad record."""
        self.torn = 0
        if not self.path.exists():
            return Verified(0, GENESIS)
        with open(self.path, "rb") as f:
            verified = verify_lines(f, str(self.path))
        self.torn = verified.torn
        return verified

    def raw(self) -> BinaryIO | None:
        """The log's bytes as a file (the caller closes it), or None when there is no log."""
        return open(self.path, "rb") if self.path.exists() else None


def verify_lines(lines: Iterable[bytes], where: str) -> Verified:
    """Check the hash and chain of every line (each with its line end) of a log called
    `where` in messages; AuditError names the first bad record. A last line without its
    line end is a torn append, left out and counted in `torn`."""
    prev = GENESIS
    count = 0
    for number, raw in enumerate(lines, start=1):
        own = _verified_line(raw, number, prev)
        if own is not None:  # the common case, without parsing the JSON
            prev = own
            count = number
            continue
        at = f"{where}: record {number} (line {number})"
        if not raw.endswith(b"\n"):  # a torn last line: a crash mid-append, not a tamper
            return Verified(count, prev, len(raw))
        try:
            text = raw[:-1].decode("utf-8")
            record = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AuditError(f"{at}: not a valid JSON record", record=number) from None
        if not isinstance(record, dict):
            raise AuditError(f"{at}: not a JSON object", record=number)
        if canonical(record) != text:
            raise AuditError(f"{at}: not in canonical form (edited?)", record=number)
        if record.get("seq") != number:
            raise AuditError(
                f"{at}: sequence number {record.get('seq')} out of order", record=number
            )
        if record.get("hash") != record_hash(record):
            raise AuditError(f"{at}: hash does not match its content (altered)", record=number)
        if record.get("prev") != prev:
            raise AuditError(f"{at}: does not chain to record {number - 1}", record=number)
        prev = record["hash"]
        count = number
    return Verified(count, prev)


def build_lines(
    entries: Sequence[tuple[str, dict[str, Any]]], seq: int, prev: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The records that follow record `seq` (hash `prev`): secrets scrubbed, numbered,
    stamped and chained; and each record's line as it is written (its canonical JSON)."""
    written = []
    lines = []
    scrub = _scrub if any_secret_known() else dict  # no secret known: nothing to redact
    for type, data in entries:
        seq += 1
        record: dict[str, Any] = scrub(data)
        record.pop("hash", None)
        record.update(seq=seq, ts=datetime.now(UTC).isoformat(timespec="microseconds"),
                      type=type, prev=prev)  # fmt: skip
        body = canonical(record)
        prev = hashlib.sha256(body.encode("utf-8")).hexdigest()
        lines.append(_with_hash(record, body, prev))
        record["hash"] = prev
        written.append(record)
    return written, lines


def _with_hash(record: dict[str, Any], body: str, digest: str) -> str:
    """The canonical JSON of `record` with its "hash" member, made from `body` (the canonical
    JSON without it) rather than serialised again: the members sort before and after
    "hash", so it goes where the members that sort before it end."""
    before = {k: v for k, v in record.items() if k < "hash"}
    member = f'"hash":"{digest}"'
    if not before:
        return "{" + member + ("," + body[1:] if len(body) > 2 else "}")
    cut = len(canonical(before)) - 1  # body[:cut] is "{" and the members before "hash"
    return body[:cut] + "," + member + body[cut:]


class DatabaseAuditLog(AuditLog):
    """The audit chain of a workspace whose state is in a database (a team's PostgreSQL):
    the same records, hash chain and checkpoints as the file, appended by every machine to
    one chain (prcast/store/auditlog.py takes turns on its head row). `audit export` writes
    it out as the JSON Lines file any verifier reads."""

    #: each append is committed (durable) before it returns
    commits_durably = True

    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws.audit_path)
        self.ws = ws
        self._table: Any = None

    @property
    def table(self) -> Any:
        if self._table is None:
            from prcast.store.auditlog import AuditTable

            self._table = AuditTable(self.ws.store())
        return self._table

    def close(self) -> None:
        if self._table is not None:
            self._table.close()
            self._table = None

    def append_many(
        self, entries: Sequence[tuple[str, dict[str, Any]]], sync: bool = True
    ) -> list[dict[str, Any]]:
        """Append records in one transaction, committed before this returns (`sync` is the
        file log's; a database commit is always durable)."""
        written: list[dict[str, Any]] = []

        def build(seq: int, prev: str) -> list[tuple[int, str, str]]:
            records, lines = build_lines(entries, seq, prev)
            written[:] = records
            return [(r["seq"], r["hash"], line) for r, line in zip(records, lines, strict=True)]

        self.table.append(build)
        appended.add(self._resolved)
        self._unsigned += len(written)
        if (
            self._unsigned >= CHECKPOINT_RECORDS
            or time.monotonic() - self._signed_at >= CHECKPOINT_SECONDS
        ):
            self.checkpoint()
        return written

    def lines(self) -> Iterator[bytes]:
        for line in self.table.lines():
            yield (line + "\n").encode("utf-8")

    def records(self) -> Iterator[dict[str, Any]]:
        self.torn = 0
        for line in self.table.lines():
            yield json.loads(line)

    def verified_records(self) -> list[dict[str, Any]]:
        return self._chained(self.lines(), self.where)

    @property
    def where(self) -> str:
        return f"the audit log in {self.ws.database}"

    def verify(self) -> Verified:
        self.torn = 0
        return verify_lines(self.lines(), self.where)

    def raw(self) -> BinaryIO | None:
        """The whole chain as the bytes of its JSON Lines file (held in memory)."""
        return io.BytesIO(b"".join(self.lines()))

    def checkpoint(self) -> Any:
        from prcast.checkpoint import seal
        from prcast.errors import PrcastError

        self._unsigned, self._signed_at = 0, time.monotonic()
        try:
            return seal(self.ws)
        except (PrcastError, OSError) as exc:
            return exc


def open_log(ws: Workspace) -> AuditLog:
    """The workspace's audit log: in its database when the state is in PostgreSQL, else
    the JSON Lines file .prcast/audit.jsonl."""
    if ws.database.is_postgres:
        return DatabaseAuditLog(ws)
    return AuditLog(ws.audit_path)
