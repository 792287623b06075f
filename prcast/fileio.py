"""Durable file writes: a crash leaves either the old file or the new one, never half of it."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError inside (a full or read-only disk) as one that names `path`, the file
    meant: not a temporary file, nor no file at all, as a failed write says it."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` unbuffered: an error leaves nothing in a buffer to be
    written later (the caller can take back what went out)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` through a temporary file and a rename (fsynced when durable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with naming(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if durable:
            fsync_dir(path.parent)


def write_output(path: Path, data: str | bytes) -> None:
    """A file the user asked for (a report, an export, a rehearsal's messages). A disk that
    refuses it (full, a size limit) leaves no file cut short, and the error names the file."""
    with naming(path):
        try:
            if isinstance(data, str):
                path.write_text(data, encoding="utf-8")
            else:
                path.write_bytes(data)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) and not path.is_symlink():
                with contextlib.suppress(OSError):
                    if path.is_file():
                        path.unlink()
            raise


#: the largest input file prcast reads (a release, channels.toml, a list, a policy)
MAX_INPUT_BYTES = 4 * 1024 * 1024


def read_input(path: Path, *, what: str = "file", limit: int = MAX_INPUT_BYTES) -> str:
    """An input file as text: UTF-8 (a leading BOM dropped), at most `limit` bytes, no NUL.

    Every problem is an InputError naming the file and the line (of the first bad byte)."""
    from prcast.errors import InputError

    try:
        with open(path, "rb") as f:
            # in pieces: f.read(limit + 1) would allocate the whole limit for a small file
            pieces, size = [], 0
            while size <= limit:
                piece = f.read(min(1 << 22, limit + 1 - size))
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
            data = b"".join(pieces)
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except IsADirectoryError:
        raise InputError(f"{what} is a folder, not a file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    if len(data) > limit:
        line = data.count(b"\n") + 1
        raise InputError(
            f"{what} is larger than {limit:,} bytes",
            path=path,
            line=line,
            hint="prcast reads input files of up to 4 MiB (see Limits in the README)",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
            path=path,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        raise InputError(
            "the file holds a NUL character (a binary file?)",
            path=path,
            line=text.count("\n", 0, nul) + 1,
        )
    return text
