"""prcast's folder in the user's config dir, outside every workspace: signing keys, approver
keys, and per audit log the checkpoints and the last record this account wrote."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/prcast, else ~/.config/prcast."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "prcast"


def log_dir(audit_path: Path) -> Path:
    """This account's folder for one audit log (named by the log's absolute path)."""
    name = hashlib.sha256(str(audit_path.resolve()).encode("utf-8")).hexdigest()[:16]
    return config_dir() / "logs" / name


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it (after resolving links)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def forget_log(audit_path: Path) -> None:
    """A new workspace where one was: what this account knew of the old log there (its last
    record, its checkpoints) is moved aside, so the new log is not taken for a truncated one."""
    folder = log_dir(audit_path)
    if folder.is_dir():
        import time

        folder.rename(folder.with_name(f"{folder.name}.replaced-{int(time.time())}"))
