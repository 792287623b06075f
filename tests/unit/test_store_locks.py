"""Processes racing on the store's locks never get "locked", "busy", "deadlock detected" or
"could not serialize" back: every one waits its turn. Real processes (tests/unit/racing.py),
on SQLite and on PostgreSQL (the `database` fixture)."""

from __future__ import annotations

from typing import Any

from prcast.store import Store
from prcast.store.database import Database
from tests.unit.racing import race

CHAINS = [f"chain-{i:04d}" for i in range(300)]


def _claim_and_release(database: Database, how: str, start: Any, out: Any) -> None:
    """An owner that claims every chain it can (a runner joining a run), then lets go of
    what it won in one transaction, over and over: as a runner's flush does (`how`: the
    chains in one order or the opposite one), or as a runner that stops does (`drop`)."""
    from prcast.delivery.claims import this_process

    store = Store(database)
    owner = this_process("runner")
    store.register_owner(owner)
    start.wait()
    try:
        rounds = 0
        for _ in range(30):
            won = store.claim("run-x", owner.id, CHAINS)
            if how == "drop":
                store.drop_owner(owner.id)
                owner = this_process("runner")
                store.register_owner(owner)
            else:
                with store.transaction():
                    store.release(owner.id, sorted(won, reverse=how == "descending"))
            rounds += 1
        out.put(("ok", rounds))
    except Exception as exc:  # reported to the test, which names it
        out.put(("error", repr(exc)))
    finally:
        store.close()


def test_runners_claiming_while_others_release_or_stop_never_deadlock(
    database: Database,
) -> None:
    Store(database).close()
    hows = ["ascending", "descending", "drop", "descending"]
    results, procs = race(_claim_and_release, [(database, how) for how in hows])
    assert results == [("ok", 30)] * 4, results
    assert all(p.exitcode == 0 for p in procs)
