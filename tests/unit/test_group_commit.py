"""The audit records of the deliveries in flight are written and fsynced together: a delivery
that is cancelled while it waits (Ctrl-C, SIGTERM, a lost claim) must not keep the others
of its batch waiting for ever."""

import asyncio
import threading
import time
from pathlib import Path

from prcast.audit import AuditLog
from prcast.delivery.engine import QUICK_FSYNC, GroupCommit
from prcast.errors import StorageError


def test_a_cancelled_append_leaves_the_others_of_its_batch_to_finish(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    commit = GroupCommit(log)

    async def main() -> list[object]:
        tasks = [
            asyncio.create_task(commit.append("delivery.attempted", {"n": n})) for n in range(8)
        ]
        await asyncio.sleep(0)  # all eight are waiting for the batch to be written
        tasks[3].cancel()
        # the batch is written after the cancel: the seven others must finish, not hang
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)

    results = asyncio.run(main())
    commit.close()
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [None] * 7
    records = [r for r in log.records() if r.get("type") == "delivery.attempted"]
    assert sorted(r["n"] for r in records) == list(range(8))  # written, once each
    assert log.verify().records == 8  # one chain that verifies


class Observed(GroupCommit):
    """Notes the log's size as each fsync begins; the first fsync can be held open."""

    def __init__(self, log: AuditLog) -> None:
        super().__init__(log)
        self.sizes: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.inside = threading.Event()

    def _fsync(self) -> None:
        self.sizes.append(self.audit.path.stat().st_size)
        self.inside.set()
        self.hold.wait(30)
        super()._fsync()


def test_records_written_before_a_seal_share_its_fsync(tmp_path: Path) -> None:
    """Four emails write their "attempted" records while their envelopes are answered, then
    each seals before DATA: one fsync serves all four, and it began after all were written."""
    log = AuditLog(tmp_path / "audit.jsonl")
    commit = Observed(log)

    async def main() -> None:
        tickets = await asyncio.gather(
            *(commit.write("delivery.attempted", {"n": n}) for n in range(4))
        )
        await asyncio.gather(*(commit.seal(t) for t in tickets))
        await commit.seal(tickets[0])  # sealed already: no fsync of its own

    asyncio.run(main())
    commit.close()
    assert commit.sizes == [log.path.stat().st_size]  # one fsync, over all four records
    assert log.verify().records == 4


def test_a_record_written_during_an_fsync_waits_for_the_next(tmp_path: Path) -> None:
    """On a slow disk (fsync in a thread, the event loop going on meanwhile), an fsync that
    began before a record was written does not make that record durable: its seal waits for
    the next fsync, which began after it was written."""
    log = AuditLog(tmp_path / "audit.jsonl")
    commit = Observed(log)
    commit.quick = False  # as after an fsync slower than QUICK_FSYNC
    commit.hold.clear()
    order: list[str] = []

    async def main() -> None:
        first = await commit.write("delivery.attempted", {"n": 1})
        sealing = asyncio.create_task(commit.seal(first))
        assert await asyncio.to_thread(commit.inside.wait, 60)  # the first fsync has begun
        second = await commit.write("delivery.attempted", {"n": 2})
        size = log.path.stat().st_size
        late = asyncio.create_task(commit.seal(second))
        await asyncio.sleep(0.05)
        assert not late.done()  # the fsync under way began before this record was written
        commit.hold.set()
        await sealing
        order.append("first")
        await asyncio.wait_for(late, 30)
        order.append("second")
        assert commit.sizes[-1] == size  # the second fsync began after the second record

    asyncio.run(main())
    commit.close()
    assert order == ["first", "second"]
    assert len(commit.sizes) == 2


def test_a_slow_fsync_moves_to_a_thread_and_a_quick_one_back(tmp_path: Path) -> None:
    """A disk slower than QUICK_FSYNC is synced in a thread, so the deliveries in flight go
    on meanwhile; a quick one on the event loop."""
    log = AuditLog(tmp_path / "audit.jsonl")
    commit = Observed(log)
    threads: list[str] = []
    original = commit._fsync

    def fsync() -> None:
        threads.append(threading.current_thread().name)
        if len(threads) == 1:
            time.sleep(QUICK_FSYNC * 5)  # as a network file system might take
        original()

    commit._fsync = fsync  # type: ignore[method-assign]

    async def main() -> None:
        for n in range(3):
            await commit.append("delivery.attempted", {"n": n})

    asyncio.run(main())
    commit.close()
    main_thread = threading.main_thread().name
    assert threads[0] == main_thread  # the first on the loop (a disk is taken to be quick)
    assert threads[1] != main_thread  # after a slow one: in a thread
    assert threads[2] == main_thread  # after a quick one: on the loop again
    assert log.verify().records == 3


def test_a_record_written_before_a_failed_fsync_is_never_taken_as_durable(
    tmp_path: Path,
) -> None:
    """After an fsync error Linux may drop the unwritten pages and report the next fsync as
    a success: a record written before the failed fsync must not be sealed by a later one
    (its email is then not sent), while a record written afterwards is."""
    log = AuditLog(tmp_path / "audit.jsonl")
    commit = Observed(log)
    calls: list[int] = []
    original = commit._fsync

    def fsync() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        original()

    commit._fsync = fsync  # type: ignore[method-assign]

    async def main() -> tuple[object, object, object]:
        early = await commit.write("delivery.attempted", {"n": 1})
        first = await asyncio.gather(commit.seal(early), return_exceptions=True)
        again = await asyncio.gather(commit.seal(early), return_exceptions=True)
        late = await commit.write("delivery.attempted", {"n": 2})
        return first[0], again[0], await commit.seal(late)

    first, again, late = asyncio.run(main())
    commit.close()
    # the failure as one clear error naming the log (the run stops; nothing more is sent)
    assert isinstance(first, StorageError) and isinstance(again, StorageError)
    assert (
        "could not write the audit log" in first.message and "Input/output error" in first.message
    )
    assert late is None  # a record written after the failure is sealed by the next fsync
    assert len(calls) == 2


def test_on_a_slow_disk_the_fsync_starts_as_the_record_is_written(tmp_path: Path) -> None:
    """Where an fsync takes long (quick is False), it starts as soon as the record is
    written, so it runs while the envelope is answered; the seal before DATA then finds it
    done or under way, and no second fsync is needed."""
    log = AuditLog(tmp_path / "audit.jsonl")
    commit = Observed(log)
    commit.quick = False

    async def main() -> None:
        ticket = await commit.write("delivery.attempted", {"n": 1})
        assert await asyncio.to_thread(commit.inside.wait, 60)  # begun without any seal
        await commit.seal(ticket)

    asyncio.run(main())
    commit.close()
    assert commit.sizes == [log.path.stat().st_size]  # one fsync, begun after the write
