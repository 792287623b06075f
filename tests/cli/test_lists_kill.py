"""A `prcast lists import` of 20,000 rows killed (SIGKILL) at many points: each time the
workspace holds the old state or the new one, never a mix, and no stray file; a re-import
then completes it without a duplicate or a lost contact or member."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from prcast.lists import PressList, import_csv
from prcast.workspace import init_workspace
from tests.conftest import REPO

ROWS = 20_000
#: when to kill, as a fraction of an uninterrupted import: denser where the files are written
KILL_AT = (0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.3)


def write_rows(path: Path, n: int, outlet: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("name,email,mastodon,outlet,beat\n")
        for i in range(n):
            handle = f"@j{i}@social.example" if i % 3 == 0 else ""
            f.write(f"Journalist {i},j{i}@outlet{i % 50}.example,{handle},{outlet},tech\n")


def state(lists: Path) -> tuple[frozenset[tuple[str, str]], frozenset[str], list[str]]:
    """(email, outlet) of each contact, the group's members, and the files of lists/."""
    press = PressList(lists)
    emails = [c.email for c in press.contacts]
    assert len(emails) == len(set(emails)), "a contact is doubled"
    members = press.groups["g"].members
    assert len(members) == len(set(members)), "a member is doubled"
    return (
        frozenset((c.email, c.outlet) for c in press.contacts),
        frozenset(members),
        sorted(p.name for p in lists.iterdir()),
    )


def test_import_killed_at_many_points_leaves_old_or_new_state_and_reimport_completes(
    tmp_path: Path,
) -> None:
    old_csv, new_csv = tmp_path / "old.csv", tmp_path / "new.csv"
    write_rows(old_csv, ROWS // 2, "Old Daily")
    write_rows(new_csv, ROWS, "New Daily")  # half of it merges (mastodon, outlet), half is new
    template, _ = init_workspace(tmp_path / "template")
    import_csv(template.lists_dir, old_csv, "g")
    old = state(template.lists_dir)
    assert len(old[0]) == ROWS // 2

    def run(root: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "prcast", "--workspace", str(root), "lists", "import",
             str(new_csv), "--group", "g"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    full = tmp_path / "full"
    shutil.copytree(template.root, full)
    started = time.perf_counter()
    proc = run(full)
    _, err = proc.communicate(timeout=300)
    duration = time.perf_counter() - started
    assert proc.returncode == 0, err.decode()
    new = state(full / "lists")
    assert len(new[0]) == ROWS and len(new[1]) == ROWS
    assert new[2] == old[2] == ["README.md", "contacts.csv", "groups.toml"]

    # kills at set times, then kills the moment each file of the commit appears
    points: list[float | str] = [*KILL_AT, ".contacts.csv.staged", ".groups.toml.staged", ".commit"]
    outcomes = []
    for k, point in enumerate(points):
        root = tmp_path / f"kill{k}"
        shutil.copytree(template.root, root)
        proc = run(root)
        if isinstance(point, float):
            time.sleep(duration * point)
        else:  # however slowly a loaded machine runs it: until the file appears or it ends
            deadline = time.perf_counter() + 300
            while not (root / "lists" / point).exists() and proc.poll() is None:
                assert time.perf_counter() < deadline, f"the import hangs (waiting for {point})"
                time.sleep(0.0005)
        finished = proc.poll() is not None  # the import ended before this kill point
        proc.kill()  # SIGKILL, unless it has ended and been reaped already
        proc.wait(timeout=60)
        left = sorted(p.name for p in (root / "lists").iterdir() if p.name.startswith("."))
        after = state(root / "lists")  # the load repairs or tidies what the kill left
        assert after in (old, new), f"kill at {point} ({duration:.2f} s import): a mixed state"
        assert after == new or not finished, f"an import that ended left the old state ({point})"
        outcomes.append(("new" if after == new else "old") + (f" {left}" if left else ""))
        import_csv(root / "lists", new_csv, "g")  # the re-import completes it
        assert state(root / "lists") == new
    print(f"kills over {duration:.2f} s: {outcomes}")
    # killed at its start it changed nothing; an import that ends (the kill at 1.3 times its
    # usual duration, unless a loaded machine slowed this one down) leaves the new state
    assert outcomes[0] == "old" and any(o.startswith("new") for o in outcomes), outcomes
    assert any("[" in o for o in outcomes), (
        f"no kill landed while the files were written: {outcomes}"
    )
