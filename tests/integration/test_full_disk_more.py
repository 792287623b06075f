"""More of a disk that fills up (or turns read-only) under prcast, on a real file system (a
tmpfs of a set size): every command that writes says once which file it could not write,
exits 1, never "internal error" or a traceback; nothing is sent twice, nothing is lost
without a word, and the audit log verifies once there is room again."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prcast.workspace import Workspace, init_workspace
from tests.integration.conftest import Mailbox, add_channel, email_channel, smtp_server
from tests.integration.test_email import press_list
from tests.integration.test_full_disk import Disk, as_root, mounted, prcast, recipients


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Disk]:
    """A tmpfs of 40 MB holding the workspace."""
    yield from mounted(tmp_path / "disk", "40m")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prcast", *args], capture_output=True, text=True, timeout=300,
        cwd=cwd,
    )  # fmt: skip


def check_refused(done: subprocess.CompletedProcess[str], named: str) -> None:
    """One message naming the file that could not be written, exit code 1, no traceback."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not write the" in done.stderr and named in done.stderr, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "never retrieved" not in done.stderr, done.stderr
    assert sum(line.startswith("error:") for line in done.stderr.splitlines()) == 1, done.stderr


def read_only(disk: Disk, on: bool) -> None:
    mode = "ro" if on else "rw"
    subprocess.run(as_root("mount", "-o", f"remount,{mode}", str(disk.path)), check=True)


@pytest.mark.parametrize("pages", [0, 2, 5])
def test_init_on_a_full_disk_names_the_file_and_leaves_no_half_workspace(
    tmpfs: Disk, pages: int
) -> None:
    """Made in a folder that has a .gitignore of its own (a repository): the disk fills
    after `pages` pages of the new files (5: at the .gitignore, which used to be lost). The .gitignore is as it was or has prcast's lines
    added, never cut short; no file is left empty or half written; no channels.toml."""
    root = tmpfs.path / "press"
    root.mkdir()
    ours = "# " + "x" * 8141 + "\n"  # 8,144 bytes: with prcast's lines, a third page
    (root / ".gitignore").write_text(ours, encoding="utf-8")
    tmpfs.fill(pages * 4096)
    refused = run("init", str(root))
    check_refused(refused, str(root))
    # channels.toml (what makes a folder a workspace) is written last: none, not an empty one
    assert not (root / "channels.toml").exists()
    assert (root / ".gitignore").read_text(encoding="utf-8").startswith(ours)
    assert all(p.stat().st_size > 0 for p in root.rglob("*") if p.is_file())

    tmpfs.filler.unlink()
    made = run("init", str(root))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "press-room" in (root / "channels.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("leave", [0, 16384], ids=["full", "room-for-a-page"])
def test_a_state_database_that_cannot_be_made_on_a_full_disk_is_one_clear_message(
    tmpfs: Disk, leave: int
) -> None:
    """The state database is opened (and made WAL) before the plan: a disk too full for
    that says which file, instead of "internal error (OperationalError)"."""
    ws, _ = init_workspace(tmpfs.path / "ws")
    tmpfs.fill(leave)
    refused = prcast(ws, "send", "example", "--yes")
    check_refused(refused, "state.db")
    assert not (ws.root / "outbox" / "releases").exists()  # nothing published

    tmpfs.filler.unlink()
    sent = prcast(ws, "send", "example", "--yes")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(list((ws.root / "outbox" / "releases").glob("*.html"))) == 1
    assert prcast(ws, "audit", "verify").returncode == 0


def test_a_read_only_disk_is_one_clear_message_for_each_command_that_writes(tmpfs: Disk) -> None:
    ws, _ = init_workspace(tmpfs.path / "ws")
    first = prcast(ws, "send", "example", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    read_only(tmpfs, True)
    try:
        check_refused(prcast(ws, "send", "example", "--yes"), "state.db")
        check_refused(prcast(ws, "resume"), "state.db")
        check_refused(prcast(ws, "lists", "suppress", "a@b.example"), "lists")
        check_refused(run("init", str(tmpfs.path / "other")), str(tmpfs.path / "other"))
    finally:
        read_only(tmpfs, False)
    assert prcast(ws, "audit", "verify").returncode == 0


def _export(path: Path, n: int) -> Path:
    from benchmarks.lists import write_export

    write_export(path, n)
    return path


@pytest.mark.parametrize("room", ["none", "for-contacts-only"])
def test_an_import_onto_a_full_disk_keeps_the_old_lists_and_leaves_no_staged_file(
    tmpfs: Disk, tmp_path: Path, room: str
) -> None:
    """20,000 contacts into a group: the disk fills before contacts.csv is staged, or
    between contacts.csv and groups.toml. One message names the file; contacts.csv and
    groups.toml stay as they were, no `.staged` file is left to keep the disk full; once
    there is room the same import goes through."""
    export = _export(tmp_path / "export.csv", 20_000)
    scratch, _ = init_workspace(tmp_path / "scratch")  # how large the new contacts.csv is
    assert (
        run("-w", str(scratch.root), "lists", "import", str(export), "-g", "press").returncode == 0
    )
    staged_contacts = (scratch.lists_dir / "contacts.csv").stat().st_size

    ws, _ = init_workspace(tmpfs.path / "ws")
    press_list(ws, n=50)
    before = {p.name: p.read_bytes() for p in ws.lists_dir.iterdir()}
    tmpfs.fill(0 if room == "none" else staged_contacts + 64 * 1024)
    refused = prcast(ws, "lists", "import", str(export), "-g", "press")
    check_refused(refused, "contacts.csv" if room == "none" else "groups.toml")
    assert {p.name: p.read_bytes() for p in ws.lists_dir.iterdir()} == before

    tmpfs.filler.unlink()
    done = prcast(ws, "lists", "import", str(export), "-g", "press")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "19976 added, 24 merged" in done.stdout  # the 24 already on the press list
    assert sorted(p.name for p in ws.lists_dir.iterdir()) == sorted(before)  # no stray file
    assert len((ws.lists_dir / "contacts.csv").read_text(encoding="utf-8").splitlines()) > 20_000


def test_an_export_proof_or_report_onto_a_full_disk_names_it_and_leaves_no_file_cut_short(
    tmpfs: Disk, tmp_path: Path
) -> None:
    ws, _ = init_workspace(tmp_path / "ws")  # the workspace has room; the output does not
    assert prcast(ws, "send", "example", "--yes").returncode == 0
    tmpfs.fill(0)
    for args in (("audit", "export", "-o"), ("audit", "prove", "1", "-o"), ("report", "-o")):
        target = tmpfs.path / "out.json"
        check_refused(prcast(ws, *args, str(target)), str(target))
        assert not target.exists()


def test_a_command_stopped_by_a_full_disk_says_so_once(tmpfs: Disk) -> None:
    """The checkpoint it cannot sign afterwards on the same full disk is no second message;
    `prcast audit checkpoint` signs it once there is room."""
    ws, _ = init_workspace(tmpfs.path / "ws")
    assert prcast(ws, "send", "example", "--yes").returncode == 0
    assert prcast(ws, "lists", "suppress", "gone@example.org").returncode == 0
    tmpfs.fill(0)
    refused = prcast(ws, "lists", "unsuppress", "gone@example.org", "--reason", "asked again")
    check_refused(refused, str(ws.lists_dir))
    assert "warning" not in refused.stderr, refused.stderr
    assert "gone@example.org" in (ws.lists_dir / "suppressed.txt").read_text(encoding="utf-8")

    tmpfs.filler.unlink()
    assert prcast(ws, "audit", "checkpoint").returncode == 0
    verified = prcast(ws, "audit", "verify")
    assert verified.returncode == 0 and "warning" not in verified.stderr, verified.stderr


@pytest.fixture
def acting_mailbox() -> Iterator[tuple[Mailbox, list[tuple[int, Callable[[], object]]]]]:
    """A real SMTP server (aiosmtpd) that does what the test puts in the list, (n, action),
    when it takes its n-th message: fill the disk, say."""
    when: list[tuple[int, Callable[[], object]]] = []
    for box in smtp_server():

        class Acting(list):  # type: ignore[type-arg]
            def append(self, item: object) -> None:
                super().append(item)
                for n, action in when:
                    if len(self) == n:
                        action()

        box.messages = Acting(box.messages)
        yield box, when


def _mail_workspace(disk: Disk, box: Mailbox, n: int) -> Workspace:
    ws, _ = init_workspace(disk.path / "ws")
    press_list(ws, n=n)
    add_channel(ws, email_channel(box.port, connections=2, processes=1))
    (ws.releases_dir / "notice.md").write_text(
        '+++\ntitle = "Plant reopens on Monday"\nchannels = ["press-mail"]\n'
        'audience = ["tech-press", "business-press"]\n+++\nThe plant reopens on Monday.\n',
        encoding="utf-8",
    )
    return ws


@pytest.mark.parametrize("leave", [0, 100_000], ids=["full", "some-room-left"])
def test_a_scheduled_run_stopped_by_a_full_disk_is_finished_by_the_next_run_due(
    tmpfs: Disk,
    acting_mailbox: tuple[Mailbox, list[tuple[int, Callable[[], object]]]],
    leave: int,
) -> None:
    """cron runs `prcast run-due`; the disk fills mid-run. The item is not marked failed
    (its run half sent, nobody to finish it): it stays taken by the process that stopped,
    and the next run-due, once there is room, takes it over and finishes the same run."""
    box, when = acting_mailbox
    ws = _mail_workspace(tmpfs, box, 300)
    added = prcast(ws, "schedule", "add", "notice", "--at", "2026-01-01 09:00 UTC",
                   "--now-if-past")  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    when.append((100, lambda: tmpfs.fill(leave)))

    stopped = prcast(ws, "run-due")
    check_refused(stopped, ".prcast/")
    assert 100 <= len(box.messages) < 300
    tmpfs.filler.unlink()
    finished = prcast(ws, "run-due")
    assert finished.returncode in (0, 1), finished.stdout + finished.stderr  # 1: in doubt
    assert "Traceback" not in finished.stderr, finished.stderr

    got = recipients(box)
    assert max(got.values()) == 1  # nothing twice
    assert len(got) >= 300 - 2  # at most one in doubt per connection, the rest delivered
    listed = prcast(ws, "schedule", "list", "--all")
    assert "failed" not in listed.stdout and ("done" in listed.stdout
                                              or "incomplete" in listed.stdout), listed.stdout  # fmt: skip
    assert prcast(ws, "audit", "verify").returncode == 0


def test_a_scheduled_item_whose_plan_does_not_fit_on_the_disk_is_sent_by_the_next_run_due(
    tmpfs: Disk, acting_mailbox: tuple[Mailbox, list[tuple[int, Callable[[], object]]]]
) -> None:
    """Room for the audit log's plan records, not for the state's rows: the item was marked
    failed, and no later run-due would send it. It stays due; after freeing space the next
    run-due sends it, once."""
    box, _ = acting_mailbox
    ws = _mail_workspace(tmpfs, box, 1200)
    added = prcast(ws, "schedule", "add", "notice", "--at", "2026-01-01 09:00 UTC",
                   "--now-if-past")  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    tmpfs.fill(2_000_000)

    check_refused(prcast(ws, "run-due"), ".prcast/")
    assert not box.messages
    tmpfs.filler.unlink()
    sent = prcast(ws, "run-due")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    got = recipients(box)
    assert len(got) == 1200 and max(got.values()) == 1
    assert "done" in prcast(ws, "schedule", "list", "--all").stdout


def test_an_approver_added_on_a_full_disk_leaves_approvers_toml_as_it_was(tmpfs: Disk) -> None:
    """The entry used to be appended as far as the disk had room: a torn `key = "...` that
    made every later approval command fail with "invalid TOML". Now it is all or nothing,
    and the audit record comes first, so no approver counts that the log does not name."""
    import re

    ws, _ = init_workspace(tmpfs.path / "ws")
    assert run("approver", "init", "--name", "Jana Example").returncode == 0
    vkey = re.search(r"\S+\+[0-9a-f]{8}\+\S+", run("approver", "show").stdout)
    assert vkey is not None
    approvers = ws.root / "approvers.toml"
    approvers.write_text("# who may approve\n" + "#" * 4000 + "\n", encoding="utf-8")
    before = approvers.read_bytes()  # 40-odd bytes short of a page: the entry crosses it

    def room_in_last_page() -> int:
        return -ws.audit_path.stat().st_size % 4096 if ws.audit_path.exists() else 0

    n = 0
    while room_in_last_page() < 1000:  # for the audit record, which comes first
        n += 1
        assert prcast(ws, "lists", "suppress", f"x{n}@example.org").returncode == 0
    tmpfs.fill(0)

    refused = prcast(ws, "approver", "add", "--name", "Jana Example", vkey.group(0))
    check_refused(refused, "approvers.toml")
    assert approvers.read_bytes() == before

    tmpfs.filler.unlink()
    assert prcast(ws, "approver", "list").returncode == 0
    added = prcast(ws, "approver", "add", "--name", "Jana Example", vkey.group(0))
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Jana Example" in prcast(ws, "approver", "list").stdout
    assert prcast(ws, "audit", "verify").returncode == 0


def test_a_conference_made_on_a_full_disk_leaves_no_empty_file_that_exists_already(
    tmpfs: Disk,
) -> None:
    ws, _ = init_workspace(tmpfs.path / "ws")
    add_channel(
        ws,
        '[channels.masto]\ntype = "mastodon"\ninstance = "http://127.0.0.1:9"\n'
        'token = "env:PRCAST_MASTODON_TOKEN"\n',
    )  # an instance never called here
    (ws.root / "conferences").mkdir()
    args = ("conference", "new", "launch", "--channel", "masto", "--at", "2030-12-01 15:00 UTC")
    tmpfs.fill(0)
    check_refused(prcast(ws, *args), "launch.toml")
    assert not (ws.root / "conferences" / "launch.toml").exists()

    tmpfs.filler.unlink()
    made = prcast(ws, *args)
    assert made.returncode == 0, made.stdout + made.stderr


def test_a_state_that_cannot_grow_while_the_last_answers_come_in_stops_the_run_once(
    tmpfs: Disk, acting_mailbox: tuple[Mailbox, list[tuple[int, Callable[[], object]]]]
) -> None:
    """The state database may not grow any more (a file size limit) once every message of
    the run has begun and the last is slowly answered: what fails first is writing the
    answers received to the state, done every 50 ms by itself. The run stops with one
    message, not a second ("Task exception was never retrieved", a traceback)."""
    box, when = acting_mailbox
    ws = _mail_workspace(tmpfs, box, 40)
    wal = ws.state_dir / "state.db-wal"
    running: list[subprocess.Popen[str]] = []

    def stop_growth() -> None:
        box.delay = 1.0  # the last message, still on its way, is answered a second later
        limit = f"--fsize={wal.stat().st_size}"
        subprocess.run(as_root("prlimit", "--pid", str(running[0].pid), limit), check=True)

    when.append((39, stop_growth))
    running.append(subprocess.Popen(
        [sys.executable, "-m", "prcast", "-w", str(ws.root), "send", "notice", "--yes"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ))  # fmt: skip
    out, err = running[0].communicate(timeout=120)
    stopped = subprocess.CompletedProcess(running[0].args, running[0].returncode, out, err)
    check_refused(stopped, "state.db")
    resumed = prcast(ws, "resume")
    assert resumed.returncode in (0, 1), resumed.stdout + resumed.stderr
    got = recipients(box)
    assert max(got.values()) == 1 and len(got) >= 40 - 2  # the ones in flight: in doubt


def test_a_command_that_only_reads_on_a_full_disk_is_told_to_run_again_not_to_resume(
    tmpfs: Disk,
) -> None:
    """SQLite writes its -wal and -shm files beside the database even to read it: on a full
    disk `report` cannot open the state. It says so, naming the database, and what to do,
    which is to run it again once there is room (there is no run to resume)."""
    ws, _ = init_workspace(tmpfs.path / "ws")
    assert run("--workspace", str(ws.root), "send", "example", "--yes").returncode == 0
    assert not (ws.store_path.parent / "state.db-wal").exists()  # closed: made anew to read
    tmpfs.fill(0)
    refused = run("--workspace", str(ws.root), "report", "--list")
    check_refused(refused, "state.db")
    assert "run the command again" in refused.stderr and "resume" not in refused.stderr
    tmpfs.filler.unlink()
    listed = run("--workspace", str(ws.root), "report", "--list")
    assert listed.returncode == 0, listed.stderr
