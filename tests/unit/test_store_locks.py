"""Processes racing on the store's locks never get "locked", "busy", "deadlock detected" or
"could not serialize" back: every one waits its turn. Real processes (tests/unit/racing.py),
on SQLite and on PostgreSQL (the `database` fixture)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from prcast.errors import DeliveryError
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


def test_a_deadlock_on_postgresql_is_one_clear_error_and_the_other_session_goes_on(
    pg_url: str, tmp_path: Path
) -> None:
    """Whatever order a future change takes rows in: when PostgreSQL breaks a deadlock by
    rolling one transaction back, that command stops with one clear message (no traceback,
    no "internal error") and the other transaction commits."""
    database = Database(url=pg_url, schema="prcast", root=tmp_path)
    store = Store(database)
    for name in ("a", "b"):
        store.conference_open_book(name, "open")
    store.close()
    both = threading.Barrier(2, timeout=120)
    outcome: dict[str, str] = {}

    def lock_in_order(first: str, second: str) -> None:
        db = database.connect()
        try:
            with db.transaction(exclusive=False):
                db.execute("UPDATE conference_state SET status = 'closed' WHERE name = ?", (first,))
                both.wait()  # each holds its first row: each now waits for the other's
                db.execute(
                    "UPDATE conference_state SET status = 'closed' WHERE name = ?", (second,)
                )
            outcome[first] = "committed"
        except DeliveryError as exc:
            outcome[first] = exc.message
        finally:
            db.close()

    threads = [
        threading.Thread(target=lock_in_order, args=pair) for pair in (("a", "b"), ("b", "a"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(outcome.values())[0] == "committed", outcome
    [message] = [m for m in outcome.values() if m != "committed"]
    assert "rolled back a transaction that met another session's (a deadlock)" in message
    assert "stopped here, nothing more was done" in message
