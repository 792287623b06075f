"""The one exception hierarchy of prcast and the exit codes the CLI maps it to."""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes, documented in the README and `prcast --help`."""

    OK = 0
    DELIVERY_FAILED = 1
    BAD_INPUT = 2
    AUDIT_BROKEN = 3
    #: the user did not confirm (answered no, or no terminal to ask and no --yes)
    ABORTED = 4


class PrcastError(Exception):
    """An error with a user-facing message and an optional hint."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


def location(path: Path | str, line: int | None) -> str:
    """`file:line` as prcast prints it; the path relative to the cwd when it can be."""
    p = Path(path)
    try:
        shown = str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(p)
    return f"{shown}:{line}" if line else shown


class InputError(PrcastError):
    """Bad user input: a release, channels.toml, template or argument. Exit code 2."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.detail = message
        full = f"{location(path, line)}: {message}" if path is not None else message
        super().__init__(full, hint)


class WorkspaceError(InputError):
    """No workspace found, or a workspace that is not usable."""


class DeliveryError(PrcastError):
    """One or more deliveries failed. Exit code 1."""

    exit_code = ExitCode.DELIVERY_FAILED


class StorageError(DeliveryError):
    """The workspace's state or audit log could not be written (a full disk, an I/O error, a
    read-only file system). prcast stops there: what it could not record first was not sent.
    Exit code 1."""

    def __init__(
        self,
        what: str,
        path: Path | str,
        reason: str,
        hint: str | None = None,
        stopped: str = "stopped here, nothing more was sent",
    ) -> None:
        super().__init__(
            f"could not write {what} {path}: {reason}: {stopped}",
            hint=hint
            or "free space on that disk (or repair it), then `prcast resume` finishes the"
            " run (one that stopped before its plan was recorded: the same command again);"
            " nothing is sent twice",
        )


def storage_reason(exc: OSError) -> str:
    """ "No space left on device", as the system says it."""
    return exc.strerror or type(exc).__name__


#: what a disk answers when it refuses a write: full, over quota, read-only, a file size
#: limit, failing
_WRITE_REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO})


def refused_write(exc: OSError) -> StorageError | None:
    """A disk's refusal to write a named file as one clear error (None for any other)."""
    if exc.errno not in _WRITE_REFUSED or not exc.filename:
        return None
    return StorageError(
        "the file",
        exc.filename,
        storage_reason(exc),
        hint="free space on that disk (or repair it), then run the command again (or"
        " `prcast resume` for a run); what was written before is kept, nothing is sent twice",
        stopped="stopped here",
    )


class AbortedError(PrcastError):
    """The user did not confirm: nothing was done. Exit code 4."""

    exit_code = ExitCode.ABORTED


class AuditError(PrcastError):
    """The audit log does not verify. Exit code 3."""

    exit_code = ExitCode.AUDIT_BROKEN

    def __init__(self, message: str, record: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.record = record


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean "x"?)` when a close match exists, else the empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
