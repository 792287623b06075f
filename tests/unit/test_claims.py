"""Claims on the state store: compare-and-set between real processes, leases that run out,
owners known to be dead, and the attempt that only the holder may start. Every test runs
on SQLite and on PostgreSQL (the `database` fixture)."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from prcast.delivery.claims import Lease, is_dead, this_process
from prcast.store import ATTEMPTING, PLANNED, DeliveryRow, RunRow, Store, now
from prcast.store.database import Database
from tests.unit.racing import race

REPO = Path(__file__).resolve().parents[2]
CHAINS = [f"chain-{i:04d}" for i in range(2000)]


def _claim_all(database: Database, start: Any, out: Any) -> None:
    store = Store(database)
    owner = this_process("test")
    store.register_owner(owner)
    order = list(CHAINS)
    random.Random(owner.id).shuffle(order)
    start.wait()
    won = []
    for chain in order:
        won += store.claim("run-x", owner.id, [chain])
    out.put(won)
    store.close()


def test_each_chain_is_claimed_by_exactly_one_of_eight_racing_processes(
    database: Database,
) -> None:
    Store(database).close()
    # all eight ready before any claims
    results, _ = race(_claim_all, [(database,)] * 8)
    won = [c for r in results for c in r]
    assert sorted(won) == CHAINS, "a chain was claimed twice or not at all"
    assert sum(1 for r in results if r) >= 2, "no race happened"


def _row(key: str, sha: str = "a") -> DeliveryRow:
    return DeliveryRow(key, "run-x", 1, "press-room", "public", 1, 1, None, {"text": "t"}, PLANNED,
                       None, None, None, 0, now(), identity=key, chain=key, content_sha256=sha)  # fmt: skip


def _store(database: Database) -> Store:
    store = Store(database)
    run = RunRow("run-x", "r", "r.md", "0", now(), now(), PLANNED, "r.md")
    new, conflicts = store.record_run(run, [_row("k1")], 1)
    assert new and not conflicts
    return store


def test_only_the_holder_may_start_an_attempt_and_only_for_the_claimed_text(
    database: Database,
) -> None:
    store = _store(database)
    mine, other = this_process("a"), this_process("b")
    store.register_owner(mine)
    store.register_owner(other)
    assert store.claim("run-x", mine.id, ["k1"]) == ["k1"]
    assert store.claim("run-x", other.id, ["k1"]) == []  # held by a live owner
    assert not store.begin_attempt("k1", "k1", other.id, "a", now())
    assert not store.begin_attempt("k1", "k1", mine.id, "changed", now())
    assert store.begin_attempt("k1", "k1", mine.id, "a", now())
    [row] = store.deliveries("run-x")
    assert row.status == ATTEMPTING and row.attempts == 1
    store.close()


def test_a_claim_is_taken_over_when_its_owner_is_dead_or_its_lease_ran_out(
    database: Database,
) -> None:
    store = _store(database)
    gone = replace(this_process("gone"), pid_start="never")  # this machine, process gone
    assert is_dead(gone)
    elsewhere = replace(
        this_process("far"), host="other-host", lease_until="2000-01-01T00:00:00+00:00"
    )
    assert not is_dead(elsewhere)  # another machine: only its lease tells
    taker = this_process("taker")
    for owner in (gone, elsewhere, taker):
        store.register_owner(owner)
    assert store.claim("run-x", gone.id, ["k1"]) == ["k1"]
    assert store.claim("run-x", taker.id, ["k1"]) == []  # lease still running
    store.expire_owner(gone.id)  # what a runner does on seeing the process is gone
    assert store.claim("run-x", taker.id, ["k1"]) == ["k1"]
    assert [h.owner.id for h in store.holders(["k1"])] == [taker.id]
    store.close()


def test_a_lease_renews_while_it_is_held_and_gives_claims_back_at_the_end(
    database: Database,
) -> None:
    store = _store(database)
    with Lease(database, "test") as lease:
        first = store.holders([])
        assert first == []
        assert store.claim("run-x", lease.id, ["k1"]) == ["k1"]
        [holder] = store.holders(["k1"])
        assert holder.owner.pid == lease.owner.pid
    assert store.holders(["k1"]) == []
    store.close()


def _claim_batches(database: Database, order: list[str], start: Any, out: Any) -> None:
    store = Store(database)
    owner = this_process("batch")
    store.register_owner(owner)
    start.wait()
    won = []
    for i in range(0, len(order), 20):  # many chains per transaction, in opposite orders
        won += store.claim("run-x", owner.id, order[i : i + 20])
    out.put(won)
    store.close()


def test_two_processes_claiming_the_same_chains_in_opposite_orders_share_them_once(
    database: Database,
) -> None:
    """Whole batches claimed at once from both ends: no deadlock, no chain twice or lost."""
    Store(database).close()
    chains = CHAINS
    results, procs = race(_claim_batches, [(database, chains), (database, chains[::-1])])
    assert all(p.exitcode == 0 for p in procs)
    won = [c for r in results for c in r]
    assert sorted(won) == chains, "a chain was claimed twice or not at all"


def test_no_module_outside_the_store_runs_sql() -> None:
    sql = re.compile(r"\.(execute|executemany|executescript)\(|\bsqlite3\b|\bpsycopg\b")
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "prcast").rglob("*.py")
        if "store" not in p.relative_to(REPO / "prcast").parts and sql.search(p.read_text())
    ]
    assert offenders == []
