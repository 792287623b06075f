"""The Store's team-mode methods on SQLite and on PostgreSQL (the `database` fixture runs
each test on both): a scheduled item taken by one of several racing processes, taken over
only when its owner's lease ran out; the stored plan kept and replaced."""

from __future__ import annotations

import multiprocessing
from typing import Any

from prcast.store import Store
from prcast.store.database import Database
from tests.pg import database

__all__ = ["database"]  # the fixture

DUE = "2026-01-01T09:00:00+00:00"
LATER = "2026-01-01T09:30:00+00:00"


def _take_one(database: Database, item_id: int, start: Any, out: Any) -> None:
    from prcast.delivery.claims import this_process

    store = Store(database)
    owner = this_process("worker")
    store.register_owner(owner)
    start.wait()
    out.put(store.claim_schedule_item(item_id, owner.id, LATER))
    store.close()


def test_a_due_item_is_taken_by_exactly_one_of_five_racing_processes(
    database: Database,
) -> None:
    store = Store(database)
    items = [store.add_schedule(f"r{i}.md", DUE, "UTC", [], [], "late") for i in range(3)]
    store.close()
    ctx = multiprocessing.get_context("spawn")
    for item_id in items:
        start, out = ctx.Barrier(5), ctx.Queue()
        procs = [
            ctx.Process(target=_take_one, args=(database, item_id, start, out)) for _ in range(5)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert sorted(results, key=str) == [None, None, None, None, "pending"]


def test_a_running_item_is_taken_over_only_after_its_owners_lease_ran_out(
    database: Database,
) -> None:
    from dataclasses import replace

    from prcast.delivery.claims import this_process

    store = Store(database)
    item = store.add_schedule("r.md", DUE, "UTC", [], [], "late")
    assert store.claim_schedule_item(item, "nobody", "2025-12-31T00:00:00+00:00") is None  # not due
    first = replace(this_process("worker"), lease_until="2999-01-01T00:00:00+00:00")
    second = this_process("worker")
    store.register_owner(first)
    store.register_owner(second)
    assert store.claim_schedule_item(item, first.id, LATER) == "pending"
    assert store.claim_schedule_item(item, second.id, LATER) is None  # alive: not taken
    store.expire_owner(first.id)  # its machine died
    assert store.claim_schedule_item(item, second.id, LATER) == "running"
    assert store.schedule(item)["owner"] == second.id  # type: ignore[index]
    assert store.cancel_schedule(item) is False  # running: not cancelled
    store.close()


def test_the_stored_plan_is_kept_and_replaced(database: Database) -> None:
    store = Store(database)
    assert store.team_plan("run-1") is None
    store.save_team_plan("run-1", '{"a": 1}')
    store.save_team_plan("run-1", '{"a": 2}')
    store.close()
    again = Store(database)
    assert again.team_plan("run-1") == '{"a": 2}'
    again.close()
