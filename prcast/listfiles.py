"""Changes to the files of lists/ that a kill cannot corrupt, and groups.toml edits that keep
the file as its author wrote it.

A change of several files (an import writes contacts.csv and groups.toml) is one commit:
every new file is written beside its target as `.NAME.staged` and fsynced; then the journal
`.commit` is written (atomically): from that moment the change is decided. The staged files
are renamed over their targets and the journal removed. A process killed before the journal
leaves staged files that the next load removes (the old state stands); one killed after it
leaves a journal that the next load replays (the new state stands). Writers hold an
exclusive lock on the lists folder, so a reader never tidies away a writer's files.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prcast.fileio import fsync_dir, naming, write_atomic

#: the files a commit may change
FILES = ("contacts.csv", "groups.toml", "suppressed.txt")
JOURNAL = ".commit"


def _staged(folder: Path, name: str) -> Path:
    return folder / f".{name}.staged"


def _leftovers(folder: Path) -> list[Path]:
    """Staged and temporary files of a write that did not finish."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        n = p.name
        ours = any(n.startswith(f".{f}.") for f in (*FILES, JOURNAL))
        if ours and (n.endswith(".staged") or n.endswith(".tmp")):
            found.append(p)
    return found


#: the folders this process holds the lock of (flock would block on a second descriptor)
_held: set[Path] = set()


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the lists folder (flock on the directory itself: no lock file);
    re-entrant within the process, so a load inside a locked change does not wait on itself."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _held:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held.add(key)
        yield
    finally:
        _held.discard(key)
        os.close(fd)


def _replay(folder: Path) -> None:
    """Finish a decided commit (its journal exists) and remove what a killed one left."""
    if (folder / JOURNAL).exists():
        for name in FILES:
            staged = _staged(folder, name)
            if staged.exists():
                os.replace(staged, folder / name)
        fsync_dir(folder)
        (folder / JOURNAL).unlink()
    for p in _leftovers(folder):
        p.unlink(missing_ok=True)
    fsync_dir(folder)


def recover(folder: Path) -> None:
    """Bring lists/ to the last committed state (called by every load)."""
    if not (folder / JOURNAL).exists() and not _leftovers(folder):
        return
    with locked(folder):
        _replay(folder)


def commit(folder: Path, texts: dict[str, str], *, lock: bool = True) -> None:
    """Replace the named files of lists/ all at once: after a kill, all or none are new."""
    if not texts:
        return
    if lock:
        with locked(folder):
            commit(folder, texts, lock=False)
        return
    _replay(folder)
    for name in texts:
        if name not in FILES:
            raise ValueError(f"not a file of lists/: {name}")
    try:
        for name, text in texts.items():
            # a full disk: named by the file it was to replace
            with naming(folder / name), open(_staged(folder, name), "wb") as f:
                f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
        fsync_dir(folder)
        write_atomic(folder / JOURNAL, ("\n".join(texts) + "\n").encode("utf-8"))
    except OSError:
        if not (folder / JOURNAL).exists():  # not decided (a full disk): the old state
            for name in texts:  # stands, and its staged files do not keep the disk full
                _staged(folder, name).unlink(missing_ok=True)
        raise
    _replay(folder)


# -- groups.toml ------------------------------------------------------------------------------

_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.-_+!#$%&'*/=?^`{|}~"
)


def _strings(values: Sequence[str]) -> list[Any]:
    """tomlkit string items, built directly for plain addresses (tomlkit.string() escapes and
    checks each value: 40 us, a minute for a 1.6M-member group). The items are rendered and
    dropped, never edited, so they share one (empty) Trivia."""
    import tomlkit
    from tomlkit.items import String, StringType, Trivia

    trivia = Trivia()
    plain = _PLAIN.issuperset
    return [String(StringType.SLB, v, v, trivia) if plain(v) else tomlkit.string(v) for v in values]


def _array(values: Sequence[str]) -> Any:
    """A multi-line array, one value a line: a new member is one added line in a diff."""
    from tomlkit.items import Array, Trivia, Whitespace

    indent, comma = Whitespace("\n  "), Whitespace(",")
    items: list[Any] = []
    for s in _strings(values):
        items += (indent, s, comma)
    items.append(Whitespace("\n"))
    return Array(items, Trivia(), multiline=False)


def add_members(text: str, group: str, new: Sequence[str]) -> str:
    """groups.toml's `text` with `new` appended to GROUP's members (creating the group or the
    key where missing), edited through tomlkit: comments, order and layout stay."""
    import tomllib

    import tomlkit
    from tomlkit.items import Whitespace

    doc = tomlkit.parse(text)
    if "groups" not in doc:
        doc["groups"] = tomlkit.table(is_super_table=True)
    groups: Any = doc["groups"]
    if group not in groups:
        groups[group] = tomlkit.table()
    table = groups[group]
    before = [str(v) for v in table.get("members", [])]
    members = table.get("members")
    if members is None or "\n" not in members.as_string():
        table["members"] = _array([*before, *new])
        return tomlkit.dumps(doc)
    if new:
        items: list[Any] = []
        for s in _strings(new):
            items += [s, Whitespace(","), Whitespace("\n  ")]
        members.add_line(*items[:-1], indent="  ", add_comma=False)
    out = tomlkit.dumps(doc)
    # a layout tomlkit cannot extend (a comma-first array, say) is written afresh
    if tomllib.loads(out)["groups"][group].get("members") != [*before, *new]:
        table["members"] = _array([*before, *new])
        out = tomlkit.dumps(doc)
    return out


def remove_members(text: str, drop: dict[str, set[str]]) -> str:
    """groups.toml's `text` without the members `drop` names per group (exact strings)."""
    import tomlkit

    doc = tomlkit.parse(text)
    groups: Any = doc.get("groups", {})
    for group, gone in drop.items():
        members = groups[group]["members"]
        keep = [str(v) for v in members if str(v) not in gone]
        if len(members) - len(keep) > 100 or "\n" not in members.as_string():
            groups[group]["members"] = _array(keep) if "\n" in members.as_string() else keep
        else:
            for i in reversed(range(len(members))):
                if str(members[i]) in gone:
                    del members[i]
    return tomlkit.dumps(doc)
