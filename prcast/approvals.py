"""Signed approvals: the two-person rule as signatures by registered keys over the exact text.

Each approver holds an Ed25519 key in their own config folder (`prcast approver init`); the
workspace's approvers.toml lists the approvers' verifier keys. An approval is a signature
over a statement naming the release and, per channel, the SHA-256 of exactly what would be
sent (`policy.content_digests`). A name typed on the command line, or the OS user, counts
for nothing: `required_approvals = N` counts distinct registered keys whose signature
verifies over the current text and has not expired (`approval_ttl`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prcast import keys
from prcast.errors import InputError, did_you_mean
from prcast.fileio import naming, write_all
from prcast.tomlfile import parse_toml
from prcast.userdir import config_dir

FILE = "approvers.toml"
VERSION = "prcast approval v1"
#: how far an approval's signing time may lie ahead of this machine's clock
SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Approver:
    name: str
    key: keys.VerifierKey
    line: int | None = None


def load_approvers(workspace_root: Path) -> list[Approver]:
    """The registered approvers of a workspace (approvers.toml; none when there is no file)."""
    path = workspace_root / FILE
    if not path.exists():
        return []
    doc = parse_toml(path.read_text(encoding="utf-8"), path)
    for k in doc.data:
        if k != "approver":
            raise doc.error((k,), f'unknown key "{k}"{did_you_mean(k, ["approver"])}')
    entries = doc.data.get("approver", [])
    if not isinstance(entries, list):
        raise doc.error(("approver",), "approvers are [[approver]] tables")
    out: list[Approver] = []
    seen: dict[bytes, str] = {}
    for i, entry in enumerate(entries):
        where = ("approver", i)
        if not isinstance(entry, dict) or set(entry) - {"name", "key"}:
            raise doc.error(where, "an [[approver]] has exactly a name and a key")
        name, key = entry.get("name"), entry.get("key")
        if not isinstance(name, str) or not name.strip() or not isinstance(key, str):
            raise doc.error(where, "an [[approver]] needs a name and a key (a verifier key)")
        try:
            vk = keys.parse_vkey(key)
        except InputError as exc:
            raise doc.error((*where, "key"), exc.message) from None
        if vk.public in seen:
            raise doc.error(
                (*where, "key"), f'approver "{name}" has the same key as "{seen[vk.public]}"'
            )
        seen[vk.public] = name
        out.append(Approver(name.strip(), vk, doc.line_of(where)))
    return out


def register(
    workspace_root: Path, name: str, vkey: str, announce: Callable[[Approver], object] | None = None
) -> Approver:
    """Add an approver to approvers.toml (refusing a key already listed). `announce` is
    called once the key is known to be new and before it counts (the audit record: a full
    disk then leaves no approver that the audit log does not name)."""
    vk = keys.parse_vkey(vkey)
    current = load_approvers(workspace_root)
    for a in current:
        if a.key.public == vk.public:
            raise InputError(
                f'this key is already registered, for "{a.name}"', path=workspace_root / FILE
            )
    path = workspace_root / FILE
    quoted = name.strip().replace("\\", "\\\\").replace('"', '\\"')
    entry = f'\n[[approver]]\nname = "{quoted}"\nkey = "{vk.vkey}"\n'
    if announce is not None:
        announce(Approver(name.strip(), vk))
    with open(path, "ab", buffering=0) as f, naming(path):
        size = f.seek(0, os.SEEK_END)
        try:
            write_all(f.fileno(), entry.encode("utf-8"))
        except OSError:  # a full disk: no entry cut short, which every later read
            with contextlib.suppress(OSError):  # of approvers.toml would refuse
                f.truncate(size)
            raise
    return Approver(name.strip(), vk)


# -- an approver's own key ------------------------------------------------------------------


def key_dir() -> Path:
    return config_dir() / "approvers"


def create_key(name: str) -> keys.SigningKey:
    """A new approver key for `name` in the config folder (never over an existing one)."""
    key_name = keys.slug(name)
    path = key_dir() / f"{key_name}.key"
    if path.exists():
        raise InputError(
            f'an approver key for "{name}" exists already', path=path,
            hint="prcast approver show prints its verifier key",
        )  # fmt: skip
    key = keys.generate(key_name, path)
    keys.write_signing_key(key, path)
    return key


def own_key(name: str | None = None) -> keys.SigningKey:
    """This account's approver key: $PRCAST_APPROVER_KEY, the one named, or the only one."""
    named = os.environ.get("PRCAST_APPROVER_KEY")
    if named:
        return keys.read_signing_key(Path(named).expanduser())
    found = sorted(key_dir().glob("*.key")) if key_dir().is_dir() else []
    if name is not None:
        wanted = key_dir() / f"{keys.slug(name)}.key"
        if not wanted.is_file():
            raise InputError(f'no approver key for "{name}" in {key_dir()}',
                             hint='create one: prcast approver init --name "..."')  # fmt: skip
        return keys.read_signing_key(wanted)
    if not found:
        raise InputError(
            f"no approver key for this account (in {key_dir()})",
            hint='create one with prcast approver init --name "Your Name" and have it added to approvers.toml',
        )
    if len(found) > 1:
        names = ", ".join(p.stem for p in found)
        raise InputError(f"several approver keys ({names}): say which with --as NAME")
    return keys.read_signing_key(found[0])


# -- the statement, signing and checking ----------------------------------------------------


def statement(
    release: str, release_sha256: str, signed_at: str, channels: Mapping[str, str]
) -> bytes:
    """The exact bytes an approver signs."""
    lines = [
        VERSION,
        f"release {release}",
        f"release-sha256 {release_sha256}",
        f"signed-at {signed_at}",
    ]
    lines += [f"channel {name} {digest}" for name, digest in sorted(channels.items())]
    return ("\n".join(lines) + "\n").encode("utf-8")


def sign(key: keys.SigningKey, release: str, release_sha256: str, channels: Mapping[str, str],
         note: str | None = None, texts: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The data of a release.approved record, signed. `texts` (`texts_of`), kept beside the
    signature so that `prcast approvals --diff` can show what changed since."""
    signed_at = datetime.now(UTC).isoformat(timespec="seconds")
    sig = key.sign(statement(release, release_sha256, signed_at, channels))
    return {"release": release, "release_sha256": release_sha256, "by": key.name,
            "key": key.verifier.vkey, "signed_at": signed_at, "channels": dict(channels),
            "note": note, "signature": base64.b64encode(sig).decode(),
            **({"texts": dict(texts)} if texts is not None else {})}  # fmt: skip


#: the first version whose approvals keep the approved text (older ones keep only its hash)
TEXTS_SINCE = "0.1.0"


def texts_of(renderings: Sequence[Any]) -> dict[str, str]:
    """Per channel, the text a reader sees: every part, with its subject, of the channel's
    first target (an email list's first message: the others differ only by recipient)."""
    out = {}
    for r in renderings:
        first = r.posts[0].target if r.posts else None
        parts = []
        for p in r.posts:
            if p.target != first:
                continue
            head = f"--- part {p.index}/{p.total} ---\n" if p.total > 1 else ""
            subject = f"Subject: {p.subject}\n\n" if p.subject else ""
            parts.append(f"{head}{subject}{p.text}")
        out[r.channel.name] = "\n".join(parts)
    return out


def diff(approved: Mapping[str, str] | None, current: Mapping[str, str], channel: str) -> str:
    """A unified diff of one channel's approved text and its current text; a sentence when
    the approval kept no text (made before TEXTS_SINCE) or did not cover the channel."""
    import difflib

    if approved is None:
        return (
            f"text not kept for approvals made before prcast {TEXTS_SINCE}: only its hash is known"
        )
    if channel not in approved:
        return f"the approval did not cover channel {channel}"
    lines = difflib.unified_diff(
        approved[channel].splitlines(keepends=True),
        current.get(channel, "").splitlines(keepends=True),
        fromfile=f"{channel} (approved)",
        tofile=f"{channel} (now)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def signer_of(record: Mapping[str, Any]) -> keys.VerifierKey | None:
    """The key whose valid signature the approval record carries, else None."""
    try:
        vk = keys.parse_vkey(str(record["key"]))
        sig = base64.b64decode(str(record["signature"]), validate=True)
        message = statement(str(record["release"]), str(record["release_sha256"]),
                            str(record["signed_at"]), dict(record["channels"]))  # fmt: skip
    except (KeyError, TypeError, ValueError, InputError, binascii.Error):
        return None
    return vk if vk.verify(sig, message) else None


def record_problem(record: Mapping[str, Any]) -> str | None:
    """What `audit verify` says about an approval record without a valid signature."""
    if "signature" not in record:
        return f'approval by "{record.get("by")}" carries no signature (forged, or from before signed approvals): it counts for nothing'
    if signer_of(record) is None:
        return f'approval by "{record.get("by")}" has an invalid signature (forged or altered)'
    return None


@dataclass(frozen=True)
class Standing:
    """One approval record judged against the current text and the registered keys."""

    seq: int
    by: str
    at: str
    note: str | None
    signed: bool
    registered: str | None  # the approver's name in approvers.toml
    changed: tuple[str, ...]
    expired: bool
    #: per channel, the text approved (None for approvals made before TEXTS_SINCE)
    texts: Mapping[str, str] | None = None

    @property
    def counts(self) -> bool:
        return self.signed and self.registered is not None and not self.changed and not self.expired

    @property
    def state(self) -> str:
        if not self.signed:
            return "no valid signature: does not count"
        if self.registered is None:
            return "signed by a key not in approvers.toml: does not count"
        if self.changed:
            return f"outdated: {', '.join(self.changed)} changed"
        if self.expired:
            return "expired (approval_ttl)"
        return "covers the current text"


def judge(
    records: Sequence[Mapping[str, Any]],
    digests: Mapping[str, str],
    approvers: Sequence[Approver],
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> list[Standing]:
    """Every approval record of a release, judged."""
    now = now or datetime.now(UTC)
    by_key = {a.key.public: a for a in approvers}
    out = []
    for r in records:
        vk = signer_of(r)
        approver = by_key.get(vk.public) if vk is not None else None
        channels = r.get("channels")
        approved: Mapping[str, Any] = channels if isinstance(channels, dict) else {}
        changed = tuple(sorted(ch for ch, d in digests.items() if approved.get(ch) != d))
        expired = False
        if vk is not None:
            try:
                at = datetime.fromisoformat(str(r["signed_at"]))
                expired = at > now + SKEW or (ttl is not None and now - at > ttl)
            except ValueError:
                expired = True
        texts = r.get("texts")
        kept = {str(k): str(v) for k, v in texts.items()} if isinstance(texts, dict) else None
        out.append(Standing(int(r.get("seq", 0)), approver.name if approver else str(r.get("by", "")),
                            str(r.get("ts", "")), r.get("note"), vk is not None,
                            approver.name if approver else None, changed, expired, kept))  # fmt: skip
    return out


def counted(standings: Sequence[Standing], approvers: Sequence[Approver]) -> list[str]:
    """The registered approvers (each once) with a valid, current, unexpired approval."""
    return sorted({s.registered for s in standings if s.counts and s.registered})


def parse_ttl(value: Any) -> timedelta:
    """`approval_ttl`: "90m", "48h" or "7d"; ValueError otherwise."""
    if not isinstance(value, str) or len(value) < 2 or not value[:-1].isdigit():
        raise ValueError(value)
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[-1] not in units or int(value[:-1]) <= 0:
        raise ValueError(value)
    return timedelta(**{units[value[-1]]: int(value[:-1])})
