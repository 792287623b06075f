"""Signed checkpoints of the audit log, and verification of the log against them.

A checkpoint is a C2SP tlog-checkpoint in a C2SP signed note:

    prcast.local/audit/3f2a9c1d0e4b5a69        origin: this log (its first record's hash)
    1234                                       size: the records it covers
    8Jx5...base64 RFC 9162 root hash...=       root of the Merkle tree over the record lines
                                               blank line
    — alice@laptop/prcast-audit AbCd...        base64(4-byte key id || Ed25519 signature)

The signature covers the three lines with their line ends. Anyone holding the verifier
key (`keys.VerifierKey.vkey`) can check it, then check that the first `size` lines of a log
hash to `root` (leaf = SHA-256(0x00 || line), node = SHA-256(0x01 || left || right)).

prcast signs a checkpoint at the end of every command that wrote to the log and at the end
of every run. Each one is kept in the workspace (.prcast/checkpoints/), in the user's config
folder, and published in every outbox press room (checkpoint.txt, the page and the feed),
so an insider who rewrites the workspace cannot take back the checkpoints already out.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from prcast import keys, merkle
from prcast.audit import GENESIS, _verified_line, written_heads
from prcast.errors import AuditError, InputError
from prcast.fileio import write_atomic
from prcast.userdir import config_dir, inside, log_dir
from prcast.workspace import Workspace

DASH = "\u2014"  # the em dash that opens a signed note's signature line
SUFFIX = ".checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


@dataclass(frozen=True)
class Signed:
    checkpoint: Checkpoint
    note: str
    key: keys.VerifierKey


def sign(checkpoint: Checkpoint, key: keys.SigningKey) -> str:
    """The checkpoint as a signed note."""
    body = checkpoint.body()
    sig = key.sign(body.encode("utf-8"))
    blob = base64.b64encode(key.verifier.id + sig).decode()
    return f"{body}\n{DASH} {key.name} {blob}\n"


def parse(text: str) -> tuple[Checkpoint, str, list[tuple[str, bytes, bytes]]]:
    """(checkpoint, signed body, [(key name, key id, signature)]); ValueError when it is not
    a checkpoint note."""
    body, sep, sigs = text.partition("\n\n")
    if not sep:
        raise ValueError("no blank line before the signatures")
    lines = body.split("\n")
    if len(lines) < 3:
        raise ValueError("a checkpoint has an origin, a size and a root hash")
    origin, size_text, root_text = lines[:3]
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise ValueError("bad origin or size line")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise ValueError("the root hash is not base64") from None
    if len(root) != 32:
        raise ValueError("the root hash is not 32 bytes")
    signatures = []
    for line in sigs.split("\n"):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise ValueError(f"bad signature line {line[:40]!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise ValueError("a signature is not base64") from None
        if len(blob) < 5:
            raise ValueError("a signature is too short")
        signatures.append((parts[1], blob[:4], blob[4:]))
    if not signatures:
        raise ValueError("no signature")
    return Checkpoint(origin, int(size_text), root), body + "\n", signatures


def open_note(text: str, trusted: Sequence[keys.VerifierKey]) -> Signed:
    """The checkpoint of a note signed by one of the `trusted` keys.

    ValueError when the note is malformed or a trusted key's signature is invalid (forged),
    LookupError when no trusted key signed it."""
    checkpoint, body, signatures = parse(text)
    for name, kid, sig in signatures:
        for key in trusted:
            if key.name == name and key.id == kid:
                if not key.verify(sig, body.encode("utf-8")):
                    raise ValueError(f"the signature of {name} does not verify (forged or altered)")
                return Signed(checkpoint, text, key)
    names = ", ".join(name for name, _, _ in signatures)
    raise LookupError(f"signed by {names}, not by a key given to verify with")


# -- where checkpoints are kept ---------------------------------------------------------


def _log_file(ws: Workspace) -> BinaryIO | None:
    """The workspace's audit log as the bytes of its JSON Lines file (the file itself, or
    the chain in the database), or None when it has none."""
    from prcast.audit import open_log

    return open_log(ws).raw()


def _heads(ws: Workspace) -> list[tuple[int, str]]:
    """The last records this account's prcast wrote to the file log. A log in the database
    is appended to by the team's machines, each through its own account: all of it is the
    team's, and its access is the database's."""
    return [] if ws.database.is_postgres else written_heads(ws.audit_path)


def workspace_dir(ws: Workspace) -> Path:
    return ws.state_dir / "checkpoints"


def user_dir(ws: Workspace) -> Path:
    return log_dir(ws.audit_path) / "checkpoints"


def origin_of(first_hash: str) -> str:
    return f"prcast.local/audit/{first_hash[:16]}"


@dataclass
class _State:
    """What a new checkpoint continues from: the last one, with the Merkle frontier and where
    its last record ends in the file, so a new checkpoint hashes only the records since."""

    signed: Signed
    offset: int
    head: str
    frontier: merkle.Frontier

    def dump(self) -> bytes:
        return json.dumps({
            "note": self.signed.note, "offset": self.offset, "head": self.head,
            "frontier": [base64.b64encode(h).decode() for h in self.frontier.hashes],
        }, indent=1).encode()  # fmt: skip


def _load_state(path: Path, key: keys.VerifierKey) -> _State | None:
    """A saved state, trusted only when its note carries our signature and its frontier
    gives the signed root."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        signed = open_note(str(data["note"]), [key])
        cp = signed.checkpoint
        frontier = merkle.Frontier.restore(cp.size, [base64.b64decode(h) for h in data["frontier"]])
        if frontier.root() != cp.root:
            return None
        return _State(signed, int(data["offset"]), str(data["head"]), frontier)
    except (OSError, ValueError, LookupError, KeyError, TypeError, binascii.Error):
        return None


def _latest_state(ws: Workspace, key: keys.VerifierKey) -> _State | None:
    states = [
        s
        for s in (
            _load_state(log_dir(ws.audit_path) / "state.json", key),
            _load_state(workspace_dir(ws) / "state.json", key),
        )
        if s is not None
    ]
    return max(states, key=lambda s: s.signed.checkpoint.size, default=None)


@dataclass(frozen=True)
class Sealed:
    """What `seal` did."""

    signed: Signed | None  # the latest checkpoint (new or not)
    new: bool
    created_key: Path | None = None
    #: records after the last one this account wrote: not signed (forged, or another account's)
    unvouched: tuple[int, int] | None = None
    published: tuple[Path, ...] = ()


def seal(ws: Workspace, *, vouch_all: bool = False) -> Sealed:
    """Sign a checkpoint over the records since the last one (incrementally), keep it and
    publish it. Records after the last one this account's prcast wrote are left out unless
    `vouch_all`; AuditError, signing nothing, when the log does not continue the last
    checkpoint or a record does not verify."""
    key, created = keys.audit_key(create=True)
    assert key is not None
    if key.path is not None and inside(key.path, ws.root):
        raise InputError(
            "the audit signing key lies inside the workspace, where an insider can use it",
            path=key.path,
            hint="keep it in your config folder (the default) or elsewhere outside the workspace",
        )
    created_key = key.path if created else None
    vk = key.verifier
    state = _latest_state(ws, vk)
    path = ws.audit_path
    log = _log_file(ws)
    if log is None:
        if state is not None:
            raise AuditError(
                f"{path}: the audit log is gone, but checkpoint {state.signed.checkpoint.size} covers "
                f"{state.signed.checkpoint.size} records: not signing",
                hint="prcast audit verify",
            )
        return Sealed(None, False, created_key)
    heads = [] if vouch_all else _heads(ws)
    if state is None:
        frontier, number, prev, offset, origin = merkle.Frontier(), 0, GENESIS, 0, ""
    else:
        cp = state.signed.checkpoint
        frontier, number, prev, offset = state.frontier.copy(), cp.size, state.head, state.offset
        origin = cp.origin
    start = number
    # sign up to the last record this account's prcast wrote: what follows it, someone else
    # wrote; `heads` may also hold the last record of an append killed mid-way
    limit = max((h[0] for h in heads), default=0) if heads else None
    at: dict[int, tuple[merkle.Frontier, str, int, str]] = {}  # at a head: what to sign
    with log as f:
        f.seek(0, 2)
        if f.tell() < offset:
            raise AuditError(
                f"{path}: the log is shorter than its last checkpoint ({number} records): "
                "records were deleted; not signing",
                record=number,
                hint="prcast audit verify",
            )
        f.seek(offset)
        total = number
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # a torn last line: not a record yet
            total += 1
            if limit is not None and number >= limit:
                continue
            own = _verified_line(raw, number + 1, prev)
            if own is None:
                what = (
                    "does not continue the last checkpoint (the log was rewritten)"
                    if number == start and state is not None
                    else "does not verify"
                )
                raise AuditError(
                    f"{path}: record {number + 1} {what}: not signing a checkpoint",
                    record=number + 1,
                    hint="prcast audit verify names what is wrong",
                )
            number += 1
            if number == 1:
                origin = origin_of(own)
            frontier.append(merkle.leaf_hash(raw[:-1]))
            prev = own
            offset += len(raw)
            if any(h[0] == number for h in heads):
                at[number] = (frontier.copy(), prev, offset, origin)
    if heads:
        (confirmed, confirmed_hash) = heads[0]
        if confirmed > start and at.get(confirmed, (None, ""))[1] != confirmed_hash:
            message = (
                f"this account's prcast wrote {confirmed} records, the log has {number}: records were deleted"
                if number < confirmed
                else f"record {confirmed} is not the one this account's prcast wrote"
            )
            raise AuditError(
                f"{path}: {message}; not signing",
                record=min(number + 1, confirmed),
                hint="prcast audit verify",
            )
        # the furthest head the log holds as written (an append killed mid-way leaves its
        # records as the pending head); records after it are not ours
        ours = max(
            (seq for seq, h in heads if seq > start and at.get(seq, (None, ""))[1] == h),
            default=start,
        )
        if ours > start:
            frontier, prev, offset, origin = at[ours]
        number = ours
    unvouched = (number + 1, total) if total > number else None
    if state is not None and number == state.signed.checkpoint.size:
        share(ws, state.signed)
        return Sealed(state.signed, False, created_key, unvouched)
    if number == 0:
        return Sealed(None, False, created_key, unvouched)
    checkpoint = Checkpoint(origin, number, frontier.root())
    note = sign(checkpoint, key)
    signed = Signed(checkpoint, note, vk)
    new_state = _State(signed, offset, prev, frontier)
    name = f"{number:012d}{SUFFIX}"
    write_atomic(workspace_dir(ws) / name, note.encode("utf-8"))
    write_atomic(user_dir(ws) / name, note.encode("utf-8"))
    for folder in (workspace_dir(ws), log_dir(ws.audit_path)):
        write_atomic(folder / "state.json", new_state.dump())
    share(ws, signed)
    published = publish(ws, signed)
    return Sealed(signed, True, created_key, unvouched, published)


# -- the team's checkpoints and keys, in the database -----------------------------------


def _team_table(ws: Workspace) -> Any:
    """The audit table of the workspace's team database, or None for a file log."""
    if not ws.database.is_postgres:
        return None
    from prcast.store.auditlog import AuditTable

    return AuditTable(ws.store())


def share(ws: Workspace, signed: Signed) -> None:
    """In team mode, keep the checkpoint in the database with the other machines' and
    publish the key that signed it (with this machine's name), so that `audit verify` on any
    machine checks every machine's checkpoints."""
    table = _team_table(ws)
    if table is None:
        return
    import socket

    host = socket.gethostname()
    try:
        cp, key = signed.checkpoint, signed.key
        table.store.publish_team_key(key.vkey, key.name, host)
        table.add_checkpoint(cp.size, key.name, key.id.hex(), signed.note, host)
    finally:
        table.close()


def publish_key(ws: Workspace) -> keys.VerifierKey:
    """Publish this account's audit verifier key in the team database (a worker does so when
    it starts); the key is created on first use."""
    import socket

    key, _ = keys.audit_key(create=True)
    assert key is not None
    table = _team_table(ws)
    if table is not None:
        try:
            table.store.publish_team_key(key.verifier.vkey, key.name, socket.gethostname())
        finally:
            table.close()
    return key.verifier


@dataclass(frozen=True)
class TeamKey:
    key: keys.VerifierKey | None  # None: the row is not a valid verifier key
    vkey: str
    host: str
    first_seen: str


def team_keys(ws: Workspace) -> list[TeamKey]:
    """The verifier keys the team's machines published in the database (none for a file log)."""
    table = _team_table(ws)
    if table is None:
        return []
    try:
        rows = table.store.team_keys()
    finally:
        table.close()
    out = []
    for r in rows:
        try:
            key: keys.VerifierKey | None = keys.parse_vkey(r["vkey"])
        except InputError:
            key = None
        out.append(TeamKey(key, r["vkey"], r["host"], r["first_seen"]))
    return out


def stored_checkpoints(ws: Workspace) -> list[Found]:
    """The checkpoints the team's machines kept in the database (none for a file log)."""
    table = _team_table(ws)
    if table is None:
        return []
    try:
        rows = table.checkpoints()
    finally:
        table.close()
    return [
        Found(f"in the database (size {r['size']}, by {r['key_name']} on {r['host']})",
              str(r["note"]), stored=True)
        for r in rows
    ]  # fmt: skip


def publish(ws: Workspace, signed: Signed) -> tuple[Path, ...]:
    """Put the checkpoint and its verifier key into every outbox press room (page, feed)."""
    from prcast.channels.outbox import OutboxChannel
    from prcast.config import OutboxConfig

    try:
        configs = [c for c in ws.config.channels.values() if isinstance(c, OutboxConfig)]
    except InputError:
        return ()  # a broken channels.toml is reported by the command that reads it
    out = []
    for config in configs:
        room = OutboxChannel(config, ws.root, ws.templates_dir)
        room.publish_checkpoint(signed.note, signed.key.vkey)
        out.append(room.root / "checkpoint.txt")
    return tuple(out)


# -- verification ---------------------------------------------------------------------


@dataclass
class Found:
    """A checkpoint verify knows of, and where it came from."""

    source: str
    text: str
    signed: Signed | None = None
    #: kept in the team database, where only the team's keys may sign
    stored: bool = False


@dataclass
class Verdict:
    records: int
    torn: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[Signed] = field(default_factory=list)
    #: who signed the checkpoints: key name, verifier key, host, how many, the largest size
    signers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.ok,
            "records": self.records,
            "torn_bytes": self.torn,
            "problems": self.problems,
            "warnings": self.warnings,
            "checkpoints": [
                {
                    "size": s.checkpoint.size,
                    "root": base64.b64encode(s.checkpoint.root).decode(),
                    "key": s.key.vkey,
                }
                for s in self.checked
            ],
            "signers": self.signers,
        }


def known_checkpoints(ws: Workspace) -> list[Found]:
    """Every checkpoint prcast keeps or published for this workspace's log."""
    from prcast.channels.outbox import OutboxChannel
    from prcast.config import OutboxConfig

    found = []
    for folder in (workspace_dir(ws), user_dir(ws)):
        if folder.is_dir():
            for p in sorted(folder.glob(f"*{SUFFIX}")):
                found.append(Found(str(p), p.read_text(encoding="utf-8", errors="replace")))
    try:
        rooms = [c for c in ws.config.channels.values() if isinstance(c, OutboxConfig)]
    except InputError:
        rooms = []
    for config in rooms:
        p = OutboxChannel(config, ws.root).root / "checkpoint.txt"
        if p.is_file():
            found.append(Found(str(p), p.read_text(encoding="utf-8", errors="replace")))
    return found


def trusted_keys(given: Iterable[str] = ()) -> list[keys.VerifierKey]:
    """This account's audit key (when it has one) and the verifier keys given."""
    out = []
    own, _ = keys.audit_key(create=False)
    if own is not None:
        out.append(own.verifier)
    listed = config_dir() / "trusted-keys.txt"  # team members' audit keys, outside the workspace
    if listed.is_file():
        given = [
            *(ln.strip() for ln in listed.read_text(encoding="utf-8").splitlines()
              if ln.strip() and not ln.startswith("#")),
            *given,
        ]  # fmt: skip
    for text in given:
        p = Path(text)
        if "+" not in text and p.is_file():  # a file of keys, one a line (# comments)
            lines = p.read_text(encoding="utf-8").splitlines()
            out += [keys.parse_vkey(ln) for ln in lines if ln.strip() and not ln.startswith("#")]
            continue
        out.append(keys.parse_vkey(text))
    return out


def _span(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}-{last}"


def verify(
    ws: Workspace, given: Sequence[Path] = (), vkeys: Sequence[str] = (), *, approvals: bool = True
) -> Verdict:
    """Check the log's chain, and the log against every checkpoint prcast knows and those
    `given`; every problem found is named (record numbers, sizes).

    In team mode the checkpoints every machine kept in the database are checked too, with
    the keys the machines published there; with keys pinned (`vkeys`, or trusted-keys.txt in
    the config folder), only the pinned keys and this account's own are trusted, and a
    published key not among them is named."""
    trusted = trusted_keys(vkeys)
    candidates = known_checkpoints(ws) + stored_checkpoints(ws)
    for p in given:
        files = sorted(p.glob(f"*{SUFFIX}")) if p.is_dir() else [p]
        for one in files:
            try:
                candidates.append(Found(f"{one} (given)", one.read_text(encoding="utf-8")))
            except OSError as exc:
                raise InputError(f"cannot read checkpoint: {exc.strerror}", path=one) from None
    verdict = Verdict(0)
    pinned = {k.vkey for k in trusted}
    published = team_keys(ws)
    hosts: dict[str, str] = {}
    for t in published:
        if t.key is None:
            verdict.problems.append(
                f"the team key {t.vkey[:60]!r} published on {t.host} is not a valid verifier key"
            )
            continue
        hosts[t.key.vkey] = t.host
        if t.key.vkey in pinned:
            continue
        if vkeys or (config_dir() / "trusted-keys.txt").is_file():
            verdict.problems.append(
                f"the key {t.key.name} published in the database by {t.host} on "
                f"{t.first_seen[:19]} is not pinned: its checkpoints are not trusted "
                f"(pin it with --key {t.key.vkey} once you know it is the team's)"
            )
        else:
            trusted.append(t.key)
    checkpoints: dict[tuple[int, bytes], Signed] = {}
    for c in candidates:
        try:
            c.signed = open_note(c.text, trusted)
        except LookupError as exc:
            message = f"checkpoint {c.source}: {exc}"
            if c.source.endswith("(given)"):
                raise InputError(
                    message, hint="pass the signer's verifier key with --key NAME+ID+KEY"
                ) from None
            if c.stored:  # in the team's database, only the team's keys sign
                verdict.problems.append(
                    message.replace("a key given to verify with", "a key of the team")
                    + " (an unknown key: forged, or a machine whose key is not published or pinned)"
                )
            else:
                verdict.warnings.append(message + " (not checked)")
            continue
        except ValueError as exc:
            verdict.problems.append(f"checkpoint {c.source}: {exc}")
            continue
        cp = c.signed.checkpoint
        checkpoints.setdefault((cp.size, cp.root), c.signed)
    sizes = {size for size, _ in checkpoints}
    roots: dict[int, bytes] = {}
    chain_problem: str | None = None
    frontier = merkle.Frontier()
    prev = GENESIS
    # where the records are, for the problem found in them: the file, or the database's chain
    path = f"the audit log in {ws.database}" if ws.database.is_postgres else str(ws.audit_path)
    approval_records: list[dict[str, Any]] = []
    odd_records: list[dict[str, Any]] = []
    heads = _heads(ws)
    seen: dict[int, str] = {}  # the hash found at each head's place
    log = _log_file(ws)
    if log is not None:
        with log as f:
            for number, raw in enumerate(f, start=1):
                if not raw.endswith(b"\n"):
                    verdict.torn = len(raw)
                    break
                line = raw[:-1]
                frontier.append(merkle.leaf_hash(line))
                if frontier.size in sizes:
                    roots[frontier.size] = frontier.root()
                own = _verified_line(raw, number, prev)
                if own is None:
                    record, why = _why(raw, number, prev)
                    if chain_problem is None:
                        chain_problem = f"record {number}: {why}"
                    prev = str(record.get("hash", "")) if record else ""
                else:
                    prev = own
                if any(seq == number for seq, _ in heads):
                    seen[number] = prev
                if (
                    b'"type":"release.approved"' in line
                    or b'"type":"audit.unexpected_tail"' in line
                ):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    (
                        approval_records
                        if record.get("type") == "release.approved"
                        else odd_records
                    ).append(record)
    total = frontier.size
    verdict.records = total
    if chain_problem:
        verdict.problems.append(f"{path}: {chain_problem}")
    ordered = sorted(checkpoints.values(), key=lambda s: s.checkpoint.size)
    verdict.checked = ordered
    by_key: dict[str, dict[str, Any]] = {}
    for c in candidates:
        if c.signed is None:
            continue
        k = c.signed.key
        entry = by_key.setdefault(k.vkey, {"name": k.name, "key": k.vkey,
                                           "host": hosts.get(k.vkey), "checkpoints": 0,
                                           "latest": 0})  # fmt: skip
        entry["checkpoints"] += 1
        entry["latest"] = max(entry["latest"], c.signed.checkpoint.size)
    verdict.signers = sorted(by_key.values(), key=lambda e: (-e["latest"], e["name"]))
    good = 0  # the largest checkpoint the log agrees with
    for s in ordered:
        cp = s.checkpoint
        if cp.size > total:
            gone = "the log is empty (emptied)" if total == 0 else f"the log has {total}"
            verdict.problems.append(
                f"checkpoint of size {cp.size} (signed by {s.key.name}) covers {cp.size} records but "
                f"{gone}: {_span(total + 1, cp.size)} deleted"
            )
        elif roots.get(cp.size) != cp.root:
            verdict.problems.append(
                f"checkpoint of size {cp.size} (signed by {s.key.name}): the log's first {cp.size} records "
                f"do not hash to its root: {_span(good + 1, cp.size)} were changed, replaced or reordered"
                + (f" (the first {good} match an earlier checkpoint)" if good else "")
            )
        else:
            good = max(good, cp.size)
    last = ordered[-1].checkpoint.size if ordered else 0
    # the last record this account's prcast wrote (kept outside the workspace): records up
    # to it are its own even before a checkpoint signs them
    ours = 0
    if heads:
        confirmed, confirmed_hash = heads[0]
        if total < confirmed:
            verdict.problems.append(
                f"this account's prcast wrote {confirmed} records, the log has {total}: "
                f"{_span(total + 1, confirmed)} deleted"
            )
        elif seen.get(confirmed) != confirmed_hash:
            verdict.problems.append(
                f"record {confirmed}: not the record this account's prcast wrote there (replaced)"
            )
        else:  # an append killed mid-way leaves its records as the pending head
            ours = max(seq for seq, h in heads if seen.get(seq) == h)
    if total > last:
        if ours > last:
            verdict.warnings.append(
                f"{_span(last + 1, ours)} written by this account's prcast not signed yet "
                "(a run that stopped before it could sign?): `prcast audit checkpoint` signs them"
            )
        after = max(last, ours)
        if total > after and ws.database.is_postgres:
            # the team's chain: workers append all the time and sign at the end of each run
            verdict.warnings.append(
                f"{_span(after + 1, total)} of {total} not covered by a signed checkpoint yet "
                f"(the last covers {last}): a run still under way, or a worker stopped before "
                "it signed; `prcast audit checkpoint` signs them once you checked them"
            )
        elif total > after and (ordered or heads):
            verdict.problems.append(
                f"{_span(after + 1, total)} of {total} not covered by a signed checkpoint "
                f"(the last covers {last}): appended after it, by hand, by another account, "
                "or by a run that stopped before it could sign"
            )
    if not ordered and total:
        verdict.warnings.append(
            "no signed checkpoint known: deleted, replaced or appended records cannot be "
            "detected (`prcast audit checkpoint` signs one; keep a copy outside the workspace)"
        )
    if verdict.torn:
        verdict.warnings.append(
            f"a torn last line ({verdict.torn} bytes, a crash mid-append) was left out; "
            "the next append removes it and records that"
        )
    signed_sizes = sorted(s.checkpoint.size for s in ordered)
    for r in odd_records:
        seq, first, last = int(r.get("seq", 0)), int(r.get("first", 0)), int(r.get("last", 0))
        said = f"record {seq}: prcast found {r.get('found')}: {_span(first, last)}"
        appended = str(r.get("found", "")).startswith("records appended")
        # another account's prcast signs what it writes before anyone appends after it
        if appended and any(last <= size < seq for size in signed_sizes):
            verdict.warnings.append(said + " (signed by a checkpoint since: another account's)")
        else:
            verdict.problems.append(
                said + (" that no checkpoint signed: forged, or by a prcast killed mid-write"
                        if appended else "")
            )  # fmt: skip
    if approvals:
        from prcast import approvals as approvals_mod

        for r in approval_records:
            problem = approvals_mod.record_problem(r)
            if problem:
                verdict.problems.append(f"record {r.get('seq')}: {problem}")
    return verdict


def _why(raw: bytes, number: int, prev: str) -> tuple[dict[str, Any] | None, str]:
    """The record of a line that failed the fast check, and what is wrong with it."""
    from prcast.audit import canonical, record_hash

    try:
        text = raw[:-1].decode("utf-8")
        record = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "not a valid JSON record"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    if canonical(record) != text:
        return record, "not in canonical form (edited?)"
    if record.get("seq") != number:
        return (
            record,
            f"sequence number {record.get('seq')} out of order (records swapped or deleted?)",
        )
    if record.get("hash") != record_hash(record):
        return record, "hash does not match its content (altered)"
    if record.get("prev") != prev:
        return record, f"does not chain to record {number - 1}"
    return record, "does not verify"


def latest(ws: Workspace, trusted: Sequence[keys.VerifierKey]) -> Signed | None:
    """The largest checkpoint of this log that one of the `trusted` keys signed."""
    best: Signed | None = None
    for c in known_checkpoints(ws):
        try:
            s = open_note(c.text, trusted)
        except (ValueError, LookupError):
            continue
        if best is None or s.checkpoint.size > best.checkpoint.size:
            best = s
    return best


def prove(ws: Workspace, record: int) -> dict[str, Any]:
    """An inclusion proof of record number `record` in the latest signed checkpoint: all a
    third party needs with the verifier key (the record's line, the audit path, the note)."""
    trusted = trusted_keys()
    signed = latest(ws, trusted)
    if signed is None or signed.checkpoint.size < record:
        raise InputError(
            f"no signed checkpoint covers record {record} yet",
            hint="prcast audit checkpoint signs one over the records so far",
        )
    size = signed.checkpoint.size
    leaves: list[bytes] = []
    line = b""
    with _log_file(ws) or io.BytesIO() as f:
        for number, raw in enumerate(f, start=1):
            if number > size or not raw.endswith(b"\n"):
                break
            leaves.append(merkle.leaf_hash(raw[:-1]))
            if number == record:
                line = raw[:-1]
    if len(leaves) < size or record < 1:
        raise AuditError(
            f"{ws.audit_path}: the log no longer holds the {size} records its checkpoint covers",
            hint="prcast audit verify",
        )
    if merkle.tree_hash(leaves) != signed.checkpoint.root:
        raise AuditError(
            f"{ws.audit_path}: the log's first {size} records do not match the checkpoint",
            hint="prcast audit verify",
        )
    path = merkle.inclusion_proof(record - 1, leaves)
    return {
        "format": "prcast inclusion proof v1",
        "record": record,
        "leaf_index": record - 1,
        "tree_size": size,
        "line": line.decode("utf-8"),
        "leaf_hash": base64.b64encode(leaves[record - 1]).decode(),
        "path": [base64.b64encode(h).decode() for h in path],
        "checkpoint": signed.note,
        "key": signed.key.vkey,
    }


def check_proof(proof: Mapping[str, Any], vkeys: Sequence[str]) -> Checkpoint:
    """Check an inclusion proof as a third party would: the checkpoint's signature with the
    given verifier keys, then the record's line up the audit path to the signed root.
    ValueError saying what fails."""
    trusted = [keys.parse_vkey(v) for v in vkeys]
    try:
        signed = open_note(str(proof["checkpoint"]), trusted)
    except LookupError as exc:
        raise ValueError(str(exc)) from None
    cp = signed.checkpoint
    leaf = merkle.leaf_hash(str(proof["line"]).encode("utf-8"))
    path = [base64.b64decode(h, validate=True) for h in proof["path"]]
    index = int(proof["leaf_index"])
    if int(proof["tree_size"]) != cp.size:
        raise ValueError("the proof is for another tree size than its checkpoint")
    if merkle.root_from_inclusion(index, cp.size, leaf, path) != cp.root:
        raise ValueError("the record is not in the signed log (the path does not lead to the root)")
    return cp


def witness(ws: Workspace, channel: str, to: str | None = None) -> dict[str, Any]:
    """Send the latest checkpoint (signing one first) through a channel of the workspace — a
    Matrix room, or an email channel to the address `to` — where it is out of the workspace's
    reach; the sending is audited."""
    import asyncio
    import hashlib

    from prcast.channels import open_channel
    from prcast.channels.base import Post

    sealed = seal(ws)
    if sealed.signed is None:
        raise InputError("the audit log is empty: no checkpoint to send")
    signed = sealed.signed
    config = ws.config.channel(channel)
    if config.type == "email" and not to:
        raise InputError(f'channel "{channel}" is email: say where to with --to ADDRESS')
    cp = signed.checkpoint
    text = f"{signed.note}\nverifier key: {signed.key.vkey}\n"
    key = hashlib.sha256(signed.note.encode("utf-8")).hexdigest()[:32]
    post = Post(channel=channel, release_id="audit-checkpoint", title=f"Audit checkpoint {cp.size}",
                text=text, length=len(text), target=to or "public", recipients=(to,) if to else (),
                subject=f"prcast audit checkpoint: {cp.origin} at {cp.size} records")  # fmt: skip

    async def send() -> Any:
        ch = open_channel(config, ws.root, ws.templates_dir)
        try:
            return await ch.publish(post, key)
        finally:
            await ch.close()

    receipt = asyncio.run(send())
    ws.audit().append("audit.witnessed", channel=channel, to=to, size=cp.size,
                                   root=base64.b64encode(cp.root).decode(),
                                   remote_id=receipt.remote_id, url=receipt.url)  # fmt: skip
    return {"channel": channel, "to": to, "size": cp.size, "remote_id": receipt.remote_id,
            "url": receipt.url}  # fmt: skip


def consistency(ws: Workspace, old_note: str, vkeys: Sequence[str] = ()) -> dict[str, Any]:
    """A proof that the latest checkpoint extends an older one (RFC 9162 §2.1.4): whoever
    holds the old checkpoint checks the new one without the log."""
    trusted = trusted_keys(vkeys)
    try:
        old = open_note(old_note, trusted).checkpoint
    except LookupError as exc:
        raise InputError(f"the older checkpoint: {exc}", hint="pass its key with --key") from None
    except ValueError as exc:
        raise AuditError(f"the older checkpoint: {exc}") from None
    signed = latest(ws, trusted)
    if signed is None or signed.checkpoint.size < old.size:
        raise InputError("no later signed checkpoint than the one given")
    new = signed.checkpoint
    leaves: list[bytes] = []
    with _log_file(ws) or io.BytesIO() as f:
        for raw in f:
            if len(leaves) == new.size or not raw.endswith(b"\n"):
                break
            leaves.append(merkle.leaf_hash(raw[:-1]))
    if len(leaves) < new.size or merkle.tree_hash(leaves) != new.root:
        raise AuditError(
            f"{ws.audit_path}: the log no longer matches its checkpoint of {new.size}",
            hint="prcast audit verify",
        )
    if old.size == 0 or merkle.tree_hash(leaves[: old.size]) != old.root:
        raise AuditError(
            f"the log's first {old.size} records do not match the older checkpoint: "
            "the log was rewritten since",
            hint="prcast audit verify --checkpoint OLD",
        )
    proof = merkle.consistency_proof(old.size, leaves)
    return {
        "format": "prcast consistency proof v1",
        "old_size": old.size,
        "old_root": base64.b64encode(old.root).decode(),
        "new_size": new.size,
        "path": [base64.b64encode(h).decode() for h in proof],
        "checkpoint": signed.note,
        "key": signed.key.vkey,
    }
