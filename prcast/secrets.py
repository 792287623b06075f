"""Secret references (`env:VAR`) and the redactor that keeps their values out of every output."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from prcast.errors import InputError

_known: set[str] = set()
_lock = threading.Lock()
MASK = "«redacted»"


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret held outside the workspace: `env:VAR`."""

    variable: str
    origin: str = ""  # "channels.toml:14" — where it was named, for error messages

    def __repr__(self) -> str:
        return f"SecretRef(env:{self.variable})"

    def resolve(self) -> str:
        """The secret's value from the environment; registered for redaction."""
        value = os.environ.get(self.variable)
        if not value:
            where = f" (named at {self.origin})" if self.origin else ""
            raise InputError(
                f"environment variable {self.variable} is not set{where}",
                hint=f"export {self.variable}=... before running prcast; secrets never go in files",
            )
        register(value)
        return value


def register(value: str) -> None:
    """Remember a secret value so `redact` removes it from any text."""
    if len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """`text` with every known secret value replaced by a mask."""
    if not _known:
        return text
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text
