"""The state store on SQLite and on PostgreSQL (the `database` fixture runs each test on
both): what it keeps, migrations that several processes apply at once, due items and
question numbers taken by racing processes, and workspaces sharing one PostgreSQL
database without seeing each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prcast.errors import InputError
from prcast.store import DELIVERED, PLANNED, DeliveryRow, RunRow, Store, now
from prcast.store.database import Database
from prcast.store.migrations import LATEST
from tests.unit.racing import race


def _row(key: str, part: int = 1, chain: str = "") -> DeliveryRow:
    return DeliveryRow(key, "run-1", part, "press-room", "public", part, 2, None,
                       {"text": f"part {part}"}, PLANNED, None, None, None, 0, now(),
                       identity=f"id-{key}", chain=chain or key, content_sha256=f"sha-{key}")  # fmt: skip


def _run(run_id: str = "run-1") -> RunRow:
    return RunRow(run_id, "launch", "releases/launch.md", "0" * 64, now(), now(), PLANNED,
                  "releases/launch.md")  # fmt: skip


def test_the_store_keeps_runs_the_ledger_schedules_and_conference_books(
    database: Database,
) -> None:
    store = Store(database)
    assert store.version() == LATEST
    new, conflicts = store.record_run(_run(), [_row("a", 1), _row("b", 2, chain="a")], 1)
    assert new and not conflicts
    store.update_delivery("a", DELIVERED, remote_id="r-1", url="https://x/1", receipt={"cid": "c"})
    store.close()

    store = Store(database)  # opened again: everything is still there, nothing migrated twice
    assert store.version() == LATEST
    [run] = store.runs()
    assert run.id == "run-1" and run.release_key == "releases/launch.md"
    a, b = store.deliveries("run-1")
    assert (a.key, a.status, a.remote_id, a.receipt, a.published_at is not None) == (
        "a", DELIVERED, "r-1", {"cid": "c"}, True)  # fmt: skip
    assert (b.key, b.status, b.post) == ("b", PLANNED, {"text": "part 2"})
    assert [r.key for r in store.chain("a")] == ["a", "b"]
    assert store.delivered_since("press-room", "2000-01-01") == 1
    # the same publication planned by a second run is shared, not planned again
    new, _ = store.record_run(_run("run-2"), [_row("a2", 1)], 1)
    assert new and {r.key for r in store.deliveries("run-2")} == {"a2"}

    first = store.add_schedule("releases/launch.md", "2026-01-01T09:30:00+00:00", "UTC",
                               ["press-room"], [], "send")  # fmt: skip
    second = store.add_schedule("releases/other.md", "2030-01-01T09:30:00+00:00", "UTC", [], [],
                                "skip")  # fmt: skip
    assert second == first + 1
    assert [s["id"] for s in store.schedules()] == [first, second]
    assert store.next_due() == "2026-01-01T09:30:00+00:00"
    assert store.cancel_schedule(second) and not store.cancel_schedule(second)

    store.conference_open_book("launch", "announced")
    with store.transaction():
        assert [store.conference_next_number("launch") for _ in range(3)] == [1, 2, 3]
    store.conference_add_question(
        {"name": "launch", "qid": "Q1", "channel": "m", "remote_id": "r1", "author": "@a",
         "author_name": "A", "text": "Why?", "url": None, "asked_at": now(),
         "received_at": now(), "via": "mention", "private": True, "extra": "{}",
         "status": "open", "duplicate_of": None, "seq": 1}
    )  # fmt: skip
    [q] = store.conference_questions("launch", ["open"])
    assert (q["qid"], q["private"], q["text"]) == ("Q1", 1, "Why?")
    assert store.conference_change_status("launch", "Q1", "answered", None, ["answered"], by="ed")
    assert not store.conference_change_status("launch", "Q1", "skipped", None, ["answered"])
    store.close()


def test_a_question_mark_or_percent_sign_inside_quotes_is_text_not_a_placeholder(
    database: Database,
) -> None:
    store = Store(database)
    row = store.db.execute("SELECT '?' AS q, '100%' AS p, ? AS v", ("x",)).fetchone()
    assert (row["q"], row["p"], row["v"]) == ("?", "100%", "x")
    assert (row[0], row[1], row[2]) == ("?", "100%", "x")  # by position too
    store.close()


def _open(database: Database, start: Any, out: Any) -> None:
    start.wait()
    try:
        store = Store(database)
        out.put(("ok", store.version(), store.workspace_id()))
        store.close()
    except Exception as exc:  # reported to the test, which names it
        out.put(("error", repr(exc), ""))


def test_processes_opening_a_new_database_at_once_apply_each_migration_once(
    database: Database,
) -> None:
    results, _ = race(_open, [(database,)] * 4)
    assert [r[0] for r in results] == ["ok"] * 4, results
    assert {r[1] for r in results} == {LATEST}
    # one workspace id: the migration that makes it ran once
    assert len({r[2] for r in results}) == 1


def _take_due(database: Database, start: Any, out: Any) -> None:
    from prcast.delivery.claims import this_process

    store = Store(database)
    owner = this_process("run-due")
    store.register_owner(owner)
    start.wait()
    won: list[int] = []
    for _ in range(20):
        won += store.claim_due(owner.id, "2100-01-01T00:00:00+00:00")
    out.put(won)
    store.close()


def test_each_due_item_is_taken_by_exactly_one_of_four_racing_processes(
    database: Database,
) -> None:
    store = Store(database)
    ids = [store.add_schedule(f"r{i}.md", f"2026-01-01T09:{i % 60:02d}:00+00:00", "UTC", [], [],
                              "send") for i in range(200)]  # fmt: skip
    store.close()
    results, _ = race(_take_due, [(database,)] * 4)
    taken = [i for r in results for i in r]
    assert sorted(taken) == ids, "a due item was taken twice or not at all"


def _ask(database: Database, start: Any, out: Any) -> None:
    store = Store(database)
    start.wait()
    numbers = []
    for _ in range(50):
        with store.transaction():
            numbers.append(store.conference_next_number("launch"))
    out.put(numbers)
    store.close()


def test_question_numbers_taken_by_racing_processes_are_never_given_twice(
    database: Database,
) -> None:
    store = Store(database)
    store.conference_open_book("launch", "open")
    store.close()
    results, _ = race(_ask, [(database,)] * 3)
    assert sorted(n for r in results for n in r) == list(range(1, 151))


def test_a_database_newer_than_this_prcast_is_refused_not_used(database: Database) -> None:
    store = Store(database)
    store.db.execute("UPDATE schema_version SET version = ?", (LATEST + 1,))
    store.close()
    with pytest.raises(InputError, match=f"schema version {LATEST + 1}"):
        Store(database)


def test_two_workspaces_sharing_one_postgresql_database_do_not_see_each_other(
    pg_url: str, tmp_path: Path
) -> None:
    """One schema per workspace: the agency's two clients on one database."""
    acme = Store(Database(url=pg_url, schema="acme", root=tmp_path / "acme"))
    globex = Store(Database(url=pg_url, schema="globex", root=tmp_path / "globex"))
    acme.record_run(_run("run-acme"), [_row("k-acme")], 1)
    acme.add_schedule("releases/launch.md", "2026-01-01T09:30:00+00:00", "UTC", [], [], "send")
    assert globex.runs() == [] and globex.schedules() == []
    assert globex.claim_due("someone", "2100-01-01") == []
    globex.record_run(_run("run-globex"), [_row("k-globex")], 1)
    assert [r.id for r in acme.runs()] == ["run-acme"]
    assert [r.id for r in globex.runs()] == ["run-globex"]
    assert acme.workspace_id() != globex.workspace_id()
    acme.close()
    globex.close()


def test_a_schema_name_that_is_not_plain_is_refused(pg_url: str, tmp_path: Path) -> None:
    from prcast.store.database import choose

    with pytest.raises(InputError, match='database schema "acme; drop"'):
        choose(tmp_path / ".prcast" / "state.db", pg_url, "acme; drop", "channels.toml:3")


def test_a_post_edited_while_a_run_is_read_comes_back_as_edited(database: Database) -> None:
    """`chains` reuses the posts `deliveries` decoded (a send reads every chain again as it
    claims it), but a post edited in between (a second `send` of the changed release, before
    this one reached it) must come back with its new text, never the one read first."""
    import dataclasses

    store = Store(database)
    try:
        store.record_run(_run(), [_row("a", 1), _row("b", 1)], 1)
        before = {r.key: r.post for r in store.deliveries("run-1")}
        assert store.chains(["a", "b"], "run-1")["a"][0].post == before["a"]
        edited = dataclasses.replace(_row("a", 1), post={"text": "part 1, corrected"},
                                     content_sha256="sha-a2")  # fmt: skip
        _, conflicts = store.record_run(_run("run-2"), [edited], 1)
        assert not conflicts
        now_rows = store.chains(["a", "b"], "run-1")
        assert now_rows["a"][0].post == {"text": "part 1, corrected"}
        assert now_rows["a"][0].content_sha256 == "sha-a2"
        assert now_rows["b"][0].post == before["b"]
    finally:
        store.close()
