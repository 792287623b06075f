"""Secret references (`env:VAR`, `keyring:SERVICE/NAME`) and the redactor that keeps their
values out of every output.

Where an `env:VAR` secret comes from, first found wins: the process environment, then the
`.env` file beside channels.toml (never committed: `prcast init` writes a .gitignore).
`keyring:SERVICE/NAME` reads the system keyring (the `keyring` package's backend)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from prcast.errors import InputError

_known: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None
MASK = "«redacted»"


#: the schemes a secret reference may use in channels.toml
SCHEMES = ("env", "keyring")
#: the file beside channels.toml that may hold `NAME=value` lines for `env:NAME` references
ENV_FILE = ".env"


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret held outside the workspace's files: `env:VAR` (the process
    environment, else the workspace's .env file) or `keyring:SERVICE/NAME` (the system
    keyring)."""

    variable: str
    origin: str = ""  # "channels.toml:14" — where it was named, for error messages
    #: the account the secret belongs to, so that Basic/PLAIN auth forms are redacted too
    user: str = ""
    scheme: str = "env"
    #: the .env file consulted after the environment (beside channels.toml); "" for none.
    #: Not part of the reference's identity: `env:X` is the same secret wherever it is read.
    env_file: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return f"SecretRef({self})"

    def __str__(self) -> str:
        return f"{self.scheme}:{self.variable}"

    def source(self) -> str | None:
        """Where the value would come from ("environment", ".env", "keyring"), without
        reading it into any output; None when it is not available."""
        if self.scheme == "keyring":
            return "keyring" if self._from_keyring(strict=False) else None
        if os.environ.get(self.variable):
            return "environment"
        if self.env_file and read_env_file(Path(self.env_file)).get(self.variable):
            return ENV_FILE
        return None

    def resolve(self) -> str:
        """The secret's value; registered for redaction. `env:VAR`: the environment first,
        then the .env file beside channels.toml. `keyring:SERVICE/NAME`: the system keyring."""
        where = f" (named at {self.origin})" if self.origin else ""
        if self.scheme == "keyring":
            value = self._from_keyring(strict=True)
            if not value:
                service, _, name = self.variable.partition("/")
                raise InputError(
                    f'no secret "{name}" for service "{service}" in the system keyring{where}',
                    hint=f"store it with `keyring set {service} {name}` (it asks for the value)",
                )
        else:
            value = os.environ.get(self.variable) or ""
            if not value and self.env_file:
                value = read_env_file(Path(self.env_file)).get(self.variable, "")
            if not value:
                raise InputError(
                    f"environment variable {self.variable} is not set{where}",
                    hint=f"export {self.variable}=... before running prcast, or put "
                    f"{self.variable}=... in the workspace's {ENV_FILE} (never commit it)",
                )
        register(value, user=self.user)
        return value

    def _from_keyring(self, strict: bool) -> str | None:
        service, _, name = self.variable.partition("/")
        try:
            import keyring
            from keyring.errors import KeyringError

            try:
                return keyring.get_password(service, name)
            except KeyringError as exc:
                if not strict:
                    return None
                raise InputError(
                    f"the system keyring cannot be read ({type(exc).__name__}): {self}",
                    hint="check the keyring backend (`keyring diagnose`), or use env:VAR",
                ) from None
        except ImportError:  # pragma: no cover - keyring is a dependency
            return None


def parse_ref(value: str, origin: str = "", env_file: str = "") -> SecretRef | None:
    """`env:VAR` or `keyring:SERVICE/NAME` as a SecretRef; None if `value` is not one."""
    scheme, colon, rest = value.partition(":")
    if not colon or scheme not in SCHEMES or not rest:
        return None
    if scheme == "env" and re.search(r"[\s=]", rest):
        return None
    if scheme == "keyring":
        service, slash, name = rest.partition("/")
        if not slash or not service or not name:
            return None
    return SecretRef(rest, origin=origin, scheme=scheme, env_file=env_file)


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env_file(path: Path) -> dict[str, str]:
    """The `NAME=value` lines of a .env file ('#' comments, optional quotes and `export`).
    A line that is none of these is an error naming the file and line, never the line."""
    from prcast.fileio import read_input

    if not path.exists() and not path.is_symlink():
        return {}
    # bounded, UTF-8, no NUL: a .env pointing at /dev/zero or a binary is one clear error
    text = read_input(path, what=".env file")
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        if m is None:
            raise InputError(
                "not a NAME=value line (the line is not shown: it may hold a secret)",
                path=path,
                line=number,
            )
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif value[:1] in ("'", '"'):  # the quote would become part of the secret
            raise InputError(
                f"the value of {m.group(1)} opens a quote ({value[0]}) it does not close "
                "(the line is not shown: it may hold a secret)",
                path=path,
                line=number,
            )
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[m.group(1)] = value  # registered for redaction when a reference resolves it
    return out


def _b64(raw: str) -> list[str]:
    data = raw.encode("utf-8")
    std = base64.b64encode(data).decode("ascii")
    url = base64.urlsafe_b64encode(data).decode("ascii")
    return [std, std.rstrip("="), url, url.rstrip("=")]


def encodings(value: str, user: str = "") -> set[str]:
    """Every form in which `value` may reach an output: raw, percent-encoded (quote and
    quote_plus, upper- and lower-case hex), JSON-escaped (ASCII or not, "/" escaped or not),
    HTML-escaped, base64 (standard and URL-safe, padded or not) of the value and, with a user,
    of Basic auth "user:value" and SASL PLAIN "\\0user\\0value"."""
    forms = {value, html.escape(value), html.escape(value, quote=False)}
    for q in (quote(value, safe=""), quote(value), quote_plus(value), quote_plus(value, safe="")):
        forms.add(q)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), q))
    for ascii_only in (True, False):
        escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        forms.update((escaped, escaped.replace("/", "\\/")))
    forms.update(_b64(value))
    if user:
        forms.update(_b64(f"{user}:{value}"))
        forms.update(_b64(f"\0{user}\0{value}"))
    return {f for f in forms if len(f) >= 4}


def register(value: str, user: str = "") -> None:
    """Remember a secret value so `redact` removes it, in every encoding, from any text."""
    global _pattern
    if len(value) >= 4:
        with _lock:
            _known.update(encodings(value, user))
            _pattern = None


def any_known() -> bool:
    """Whether any secret value is known to this process (else `redact` changes nothing)."""
    return bool(_known)


def redact(text: str) -> str:
    """`text` with every known secret value, in any of its encodings, replaced by a mask."""
    global _pattern
    if not _known:
        return text
    with _lock:
        if _pattern is None:
            forms = sorted(_known, key=len, reverse=True)  # the longest form wins
            _pattern = re.compile("|".join(re.escape(f) for f in forms))
        pattern = _pattern
    return pattern.sub(MASK, text)


def redact_data(value: Any) -> Any:
    """`value` (JSON-like data) with every string redacted, before it is serialised: a secret
    inside a string that is itself JSON would otherwise come out escaped twice."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
