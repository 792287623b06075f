"""Ed25519 keys in the C2SP signed-note forms, kept in the user's config folder, never in
a workspace.

A verifier key ("vkey") is one line anyone may hold: `<name>+<key id, 8 hex>+<base64(0x01
|| 32-byte public key)>`, the key id being the first four bytes of SHA-256(name || "\\n"
|| 0x01 || public key). A signing key file holds `PRIVATE+KEY+<name>+<key id>+<base64(0x01
|| 32-byte seed)>`, readable by its owner only.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from prcast.errors import InputError
from prcast.userdir import config_dir

ED25519 = b"\x01"
#: signing keys this process created (the CLI says where, once)
created: list[Path] = []
_NAME = re.compile(r"^[^\s+]+$")


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519 + public).digest()[:4]


def check_name(name: str) -> str:
    if not name or not _NAME.match(name):
        raise InputError(f'key name "{name}" must be non-empty, without spaces or "+"')
    return name


def slug(text: str) -> str:
    """A key name from a person's name: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9.@_-]+", "-", text.strip().lower()).strip("-") or "key"


@dataclass(frozen=True)
class VerifierKey:
    name: str
    id: bytes
    public: bytes

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_vkey(text: str) -> VerifierKey:
    """A verifier key from its text form; InputError naming what is wrong."""
    text = text.strip()
    parts = text.split("+", 2)  # base64 may hold "+"; a name and a hex id cannot
    if len(parts) != 3:
        raise InputError(f'"{text[:60]}" is not a verifier key (name+keyid+base64key)')
    name, hex_id, b64 = parts
    try:
        kid = bytes.fromhex(hex_id)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise InputError(f'verifier key "{name}": bad key id or base64') from None
    if len(kid) != 4 or len(raw) != 33 or raw[:1] != ED25519:
        raise InputError(f'verifier key "{name}": not an Ed25519 signed-note key')
    if key_id(name, raw[1:]) != kid:
        raise InputError(f'verifier key "{name}": its key id does not match its name and key')
    return VerifierKey(check_name(name), kid, raw[1:])


@dataclass(frozen=True)
class SigningKey:
    name: str
    seed: bytes
    path: Path | None = None

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> VerifierKey:
        public = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return VerifierKey(self.name, key_id(self.name, public), public)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def __repr__(self) -> str:  # never the seed
        return f"SigningKey({self.name!r}, path={self.path})"

    def text(self) -> str:
        kid = self.verifier.id.hex()
        return f"PRIVATE+KEY+{self.name}+{kid}+{base64.b64encode(ED25519 + self.seed).decode()}\n"


def generate(name: str, path: Path | None = None) -> SigningKey:
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return SigningKey(check_name(name), seed, path)


def read_signing_key(path: Path) -> SigningKey:
    """A signing key file; InputError naming the file when it is not one."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"cannot read signing key: {exc.strerror}", path=path) from None
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise InputError("not a prcast signing key (PRIVATE+KEY+name+id+key)", path=path)
    try:
        raw = base64.b64decode(parts[4], validate=True)
    except binascii.Error:
        raise InputError("signing key: bad base64", path=path) from None
    if len(raw) != 33 or raw[:1] != ED25519:
        raise InputError("signing key: not an Ed25519 key", path=path)
    key = SigningKey(check_name(parts[2]), raw[1:], path)
    if key.verifier.id.hex() != parts[3]:
        raise InputError("signing key: its key id does not match the key", path=path)
    return key


def write_signing_key(key: SigningKey, path: Path) -> None:
    """Write a new key file readable by its owner only (never overwriting one: FileExistsError).
    The key is written whole beside it, then linked in: another process starting at the same
    moment finds no key file or a whole one, never an empty one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: readable by its owner only
            f.write(key.text())
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # FileExistsError when there is one
    finally:
        os.unlink(tmp)


def default_key_name(kind: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return slug(f"{user}@{socket.gethostname()}") + f"/prcast-{kind}"


def audit_key_path() -> Path:
    """Where the audit signing key is: $PRCAST_SIGNING_KEY, else the config folder."""
    named = os.environ.get("PRCAST_SIGNING_KEY")
    return Path(named).expanduser() if named else config_dir() / "keys" / "audit.key"


def audit_key(create: bool = True) -> tuple[SigningKey | None, bool]:
    """The audit signing key and whether it was created just now (only at the default place;
    a key named by $PRCAST_SIGNING_KEY must exist)."""
    path = audit_key_path()
    if path.is_file():
        return read_signing_key(path), False
    if os.environ.get("PRCAST_SIGNING_KEY"):
        raise InputError(
            "the signing key named by PRCAST_SIGNING_KEY does not exist",
            path=path,
            hint="create one with `prcast audit key --create` after unsetting it, and copy it there",
        )
    if not create:
        return None, False
    key = generate(default_key_name("audit"), path)
    try:
        write_signing_key(key, path)
    except FileExistsError:  # another prcast process made it a moment ago
        return read_signing_key(path), False
    created.append(path)
    return key, True
