"""Secret references (`env:VAR`) and the redactor that keeps their values out of every output."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from prcast.errors import InputError

_known: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None
MASK = "«redacted»"


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret held outside the workspace: `env:VAR`."""

    variable: str
    origin: str = ""  # "channels.toml:14" — where it was named, for error messages
    #: the account the secret belongs to, so that Basic/PLAIN auth forms are redacted too
    user: str = ""

    def __repr__(self) -> str:
        return f"SecretRef(env:{self.variable})"

    def __str__(self) -> str:
        return f"env:{self.variable}"

    def resolve(self) -> str:
        """The secret's value from the environment; registered for redaction."""
        value = os.environ.get(self.variable)
        if not value:
            where = f" (named at {self.origin})" if self.origin else ""
            raise InputError(
                f"environment variable {self.variable} is not set{where}",
                hint=f"export {self.variable}=... before running prcast; secrets never go in files",
            )
        register(value, user=self.user)
        return value


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
