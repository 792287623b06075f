import itertools
import json
import multiprocessing
from pathlib import Path

import pytest

from prcast.audit import AuditLog, canonical, record_hash
from prcast.errors import AuditError
from prcast.secrets import MASK, register


@pytest.fixture(autouse=True)
def appended_by_this_test_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests append outside any command, so nothing seals what they wrote: the logs
    they noted as appended (prcast.audit.appended, which the CLI signs a checkpoint of when
    a command ends) must not outlive them. Otherwise the next command run in this process
    signs a checkpoint of these workspaces, with whatever key and database it has then."""
    from prcast import audit

    monkeypatch.setattr(audit, "appended", set())


def make_log(path: Path, n: int = 4) -> AuditLog:
    log = AuditLog(path)
    for i in range(n):
        log.append("test.event", run="run-1", n=i, text="Grüße, 日本 ✓")
    return log


def test_records_chain_and_verify(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl")
    records = list(log.records())
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev"] == "0" * 64
    for a, b in itertools.pairwise(records):
        assert b["prev"] == a["hash"] == record_hash(a)
    assert log.verify().records == 4


def test_changing_any_byte_of_any_record_fails_naming_that_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    make_log(path, 3)
    original = path.read_bytes()
    starts = [0]
    for i, b in enumerate(original):
        if b == ord("\n"):
            starts.append(i + 1)
    for pos in range(len(original)):
        record = max(k for k, s in enumerate(starts) if s <= pos) + 1
        for replacement in {
            original[pos] ^ 0x01,
            ord("x") if original[pos] != ord("x") else ord("y"),
        }:
            tampered = bytearray(original)
            tampered[pos] = replacement
            path.write_bytes(bytes(tampered))
            if pos == len(original) - 1:  # the last line end: reads as a torn last line
                verified = AuditLog(path).verify()
                assert (verified.records, verified.torn) == (2, len(original) - starts[2])
                continue
            with pytest.raises(AuditError) as info:
                AuditLog(path).verify()
            assert info.value.record == record, (pos, bytes([replacement]))
            assert f"record {record}" in info.value.message
    path.write_bytes(original)
    assert AuditLog(path).verify().records == 3


def test_deleting_a_record_breaks_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    make_log(path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    with pytest.raises(AuditError) as info:
        AuditLog(path).verify()
    assert info.value.record == 2


def test_torn_tail_is_removed_and_recorded_on_next_append(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = make_log(path, 2)
    with open(path, "ab") as f:
        f.write(b'{"half a rec')
    assert [r["seq"] for r in log.records()] == [1, 2] and log.torn == 12
    verified = log.verify()  # skipped and reported, not a failure
    assert (verified.records, verified.torn) == (2, 12)
    assert len(log.verified_records()) == 2
    log.append("after.crash")
    types = [r["type"] for r in log.records()]
    assert types == ["test.event", "test.event", "audit.torn_tail_removed", "after.crash"]
    assert log.verify().records == 4


def test_known_secrets_never_reach_the_log(tmp_path: Path) -> None:
    register("tok-very-secret-123")
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(
        "delivery.failed",
        reason="401 for token tok-very-secret-123",
        nested={"k": ["tok-very-secret-123"]},
    )
    text = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert "tok-very-secret-123" not in text
    assert MASK in text
    assert log.verify().records == 1


def test_records_are_canonical_json_lines(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 1)
    line = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert canonical(json.loads(line)) == line
    assert log.verify().head == json.loads(line)["hash"]


def _append_many(path: str, who: int) -> None:
    log = AuditLog(Path(path))
    for i in range(25):
        log.append("race", who=who, i=i)


def test_concurrent_appenders_keep_one_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)  # a loaded machine starts and runs them slowly
        assert p.exitcode == 0
    assert AuditLog(path).verify().records == 100


def test_a_batch_is_appended_with_one_chain_and_verifies(tmp_path: Path) -> None:
    log = make_log(tmp_path / "audit.jsonl", 2)
    written = log.append_many([("batch", {"n": i}) for i in range(5)])
    assert [r["seq"] for r in written] == [3, 4, 5, 6, 7]
    assert log.verify().records == 7
    with open(tmp_path / "audit.jsonl", "ab") as f:
        f.write(b'{"torn')
    after = log.append_many([("after", {})])
    assert [r["type"] for r in after] == ["after"]
    assert [r["type"] for r in log.records()][-2:] == ["audit.torn_tail_removed", "after"]
    assert log.verify().records == 9


def test_an_append_killed_after_writing_is_still_this_accounts_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prcast import audit

    path = tmp_path / "ws" / ".prcast" / "audit.jsonl"
    make_log(path, 2)
    calls: list[object] = []
    real = audit._HeadNote.write

    def killed_after_the_write(self: object, *args: object, **kw: object) -> None:
        calls.append(args)
        if len(calls) == 2:  # the head after the write never lands: the process died
            raise SystemExit(9)
        real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(audit._HeadNote, "write", killed_after_the_write)
    with pytest.raises(SystemExit):
        AuditLog(path).append("written.then.killed")
    monkeypatch.setattr(audit._HeadNote, "write", real)
    assert audit.written_heads(path)[1][0] == 3  # the pending head names it
    AuditLog(path).append("next.process")
    types = [r["type"] for r in AuditLog(path).records()]
    assert types == ["test.event", "test.event", "written.then.killed", "next.process"]


def test_records_after_the_last_one_this_account_wrote_are_noted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    make_log(path, 2)
    last = json.loads(path.read_bytes().splitlines()[-1])
    forged = {"seq": 3, "ts": last["ts"], "type": "by.hand", "prev": last["hash"]}
    forged["hash"] = record_hash(forged)
    with open(path, "ab") as f:
        f.write((canonical(forged) + "\n").encode())
    AuditLog(path).append("next")
    records = list(AuditLog(path).records())
    note = records[3]
    assert note["type"] == "audit.unexpected_tail" and (note["first"], note["last"]) == (3, 3)
    assert records[4]["type"] == "next"


def test_each_line_written_is_the_canonical_json_of_its_record() -> None:
    """build_lines makes a record's line from the JSON it hashed, putting the "hash" member
    where it sorts: the line must be exactly what canonical() and record_hash() give, for
    members sorting before and after "hash", none before it, nested "hash" keys, unicode."""
    from prcast.audit import build_lines, canonical, record_hash

    entries = [
        ("delivery.attempted", {"attempt": 1, "channel": "press-mail", "key": "k1", "part": 1}),
        ("delivery.succeeded", {"duplicate": False, "receipt": {"hash": "x", "a": [1, "ü"]}}),
        ("run.note", {}),  # only seq, ts, type, prev: nothing sorts before "hash"
        ("x", {"a": None, "h": "", "hash": "forged", "hasha": 1, "has": '\u2028"\\'}),
        ("y", {"Z": 1, "_": 2, "ä": {"hash": 3}, "channel": "Ñ"}),
    ]
    records, lines = build_lines(entries, 0, "0" * 64)
    prev = "0" * 64
    for record, line in zip(records, lines, strict=True):
        assert line == canonical(record)
        assert record["hash"] == record_hash(record)
        assert record["prev"] == prev
        prev = record["hash"]
    assert records[3]["hash"] != "forged"


def test_records_a_full_file_system_took_in_part_are_taken_back_whole(tmp_path: Path) -> None:
    """A write that runs out of room (here the file size limit, EFBIG, as a full disk gives
    ENOSPC) leaves none of its records in the log, not even the lines that fitted: each
    stands for an action about to start, and none will. The next append goes on the chain."""
    import subprocess
    import sys

    path = tmp_path / "audit.jsonl"
    make_log(path, n=3)
    size = path.stat().st_size
    fragment = b'{"seq": 4, "type": "delivery.att'  # a crash mid-append left a torn tail
    with open(path, "ab") as f:
        f.write(fragment)
    script = (
        "import resource, signal, sys\n"
        "from prcast.audit import AuditLog\n"
        "from prcast.errors import StorageError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size + 1500}, {size + 1500}))\n"
        f"log = AuditLog(__import__('pathlib').Path({str(path)!r}))\n"
        "try:\n"
        "    log.append_many([('delivery.attempted', {'key': f'k{i}', 'pad': 'x' * 200})"
        " for i in range(20)])\n"
        "except StorageError as exc:\n"
        "    print(exc.message)\n"
        "    sys.exit(7)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 7, done.stdout + done.stderr
    assert "could not write the audit log" in done.stdout and "File too large" in done.stdout
    # the lines that fitted are gone too; the torn tail is left for the next append to say
    assert path.stat().st_size == size + len(fragment)
    log = AuditLog(path)
    log.append("after", n=1)
    assert log.verify().records == 5  # raises AuditError if the chain were broken
    records = list(log.records())
    assert "delivery.attempted" not in [r["type"] for r in records]
    assert [r["type"] for r in records][-2:] == ["audit.torn_tail_removed", "after"]
    assert records[-2]["bytes"] == len(fragment)
