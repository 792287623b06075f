"""The audit records of the deliveries in flight are written and fsynced together: a delivery
that is cancelled while it waits (Ctrl-C, SIGTERM, a lost claim) must not keep the others
of its batch waiting for ever."""

import asyncio
from pathlib import Path

from prcast.audit import AuditLog
from prcast.delivery.engine import GroupCommit


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
