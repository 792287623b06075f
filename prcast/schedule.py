"""Timed and embargoed runs: a queue in the state store, run by `prcast run-due` (cron,
systemd timers) or `prcast scheduler` (a daemon). Times are stored in UTC and shown in
the zone they were given in. Two runners never run one item twice: an item is claimed in
one SQLite transaction; and since a run's id comes from its content, even an item claimed
again after a crash continues the same run instead of sending anything twice."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prcast import clock
from prcast.errors import InputError, PrcastError
from prcast.store import Store
from prcast.workspace import Workspace

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    release TEXT NOT NULL,
    due_at TEXT NOT NULL,
    zone TEXT NOT NULL,
    channels TEXT NOT NULL,
    audience TEXT NOT NULL,
    missed TEXT NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    detail TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
"""
#: an item not started within this much of its due time was missed (machine off)
GRACE = timedelta(minutes=10)
#: an item "running" for longer than this was left by a runner that died: claim it again
STALE = timedelta(minutes=15)


@dataclass(frozen=True)
class Item:
    id: int
    release: str
    due_at: datetime  # UTC
    zone: str
    channels: tuple[str, ...]
    audience: tuple[str, ...]
    missed: str
    status: str
    run_id: str | None
    detail: str | None
    started_at: str | None
    finished_at: str | None

    @property
    def local_due(self) -> datetime:
        return self.due_at.astimezone(ZoneInfo(self.zone)) if self.zone != "UTC" else self.due_at


def parse_when(text: str) -> tuple[datetime, str]:
    """ "2026-12-01 09:30 Europe/Berlin" or ISO 8601 with an offset -> (UTC time, zone name).
    A local time that does not exist or exists twice (DST changes) is an error."""
    text = text.strip()
    parts = text.rsplit(" ", 1)
    if len(parts) == 2 and re.match(r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", parts[1]):
        try:
            zone = ZoneInfo(parts[1])
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(
                f'unknown time zone "{parts[1]}"', hint="use a name such as Europe/Berlin or UTC"
            ) from None
        try:
            naive = datetime.fromisoformat(parts[0])
        except ValueError:
            raise InputError(
                f'"{parts[0]}" is not a date and time such as 2026-12-01 09:30'
            ) from None
        if naive.tzinfo is not None:
            raise InputError(f'"{text}": give either an offset or a zone name, not both')
        first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
            raise InputError(f"{parts[0]} does not exist in {parts[1]} (clocks go forward)")
        if first.utcoffset() != second.utcoffset():
            raise InputError(
                f"{parts[0]} happens twice in {parts[1]} (clocks go back)",
                hint=f"give the offset you mean, e.g. {first.isoformat()} or {second.isoformat()}",
            )
        return first.astimezone(UTC), parts[1]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f'"{text}" is not a time',
            hint='write "2026-12-01 09:30 Europe/Berlin" or 2026-12-01T09:30+01:00',
        ) from None
    if moment.tzinfo is None:
        raise InputError(
            f'"{text}" has no time zone', hint='add one: "2026-12-01 09:30 Europe/Berlin"'
        )
    return moment.astimezone(UTC), "UTC" if moment.utcoffset() == timedelta(0) else moment.strftime(
        "%z"
    )


class Schedule:
    """The workspace's queue of timed runs."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.store = Store(ws.store_path)
        self.store.db.executescript(SCHEMA)

    def close(self) -> None:
        self.store.close()

    def _item(self, row: Any) -> Item:
        zone = row["zone"]
        return Item(
            id=row["id"],
            release=row["release"],
            due_at=datetime.fromisoformat(row["due_at"]),
            zone=zone if not zone.startswith(("+", "-")) else "UTC",
            channels=tuple(json.loads(row["channels"])),
            audience=tuple(json.loads(row["audience"])),
            missed=row["missed"],
            status=row["status"],
            run_id=row["run_id"],
            detail=row["detail"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )

    def add(
        self,
        release: str,
        due_at: datetime,
        zone: str,
        channels: list[str],
        audience: list[str],
        missed: str,
    ) -> Item:
        cur = self.store.db.execute(
            "INSERT INTO schedules (release, due_at, zone, channels, audience, missed, status, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (release, due_at.isoformat(), zone, json.dumps(channels), json.dumps(audience), missed,
             datetime.now(UTC).isoformat()),
        )  # fmt: skip
        return self.get(int(cur.lastrowid or 0))

    def get(self, item_id: int) -> Item:
        row = self.store.db.execute("SELECT * FROM schedules WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise InputError(f"no scheduled item {item_id}", hint="prcast schedule list shows them")
        return self._item(row)

    def items(self, everything: bool = False) -> list[Item]:
        where = "" if everything else "WHERE status IN ('pending', 'running')"
        return [
            self._item(r)
            for r in self.store.db.execute(f"SELECT * FROM schedules {where} ORDER BY due_at, id")
        ]

    def cancel(self, item_id: int) -> Item:
        item = self.get(item_id)
        if item.status != "pending":
            raise InputError(
                f"item {item_id} is {item.status}; only a pending item can be cancelled"
            )
        self.store.db.execute(
            "UPDATE schedules SET status = 'cancelled' WHERE id = ? AND status = 'pending'",
            (item_id,),
        )
        return self.get(item_id)

    def claim_due(self, now: datetime) -> list[Item]:
        """Atomically take every due item (and any left running by a runner that died)."""
        stale = (now - STALE).isoformat()
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT id FROM schedules WHERE (status = 'pending' AND due_at <= ?)"
                " OR (status = 'running' AND started_at <= ?) ORDER BY due_at, id",
                (now.isoformat(), stale),
            ).fetchall()
            ids = [r["id"] for r in rows]
            for i in ids:
                db.execute(
                    "UPDATE schedules SET status = 'running', started_at = ? WHERE id = ?",
                    (now.isoformat(), i),
                )
        return [self.get(i) for i in ids]

    def finish(
        self, item_id: int, status: str, run_id: str | None = None, detail: str | None = None
    ) -> None:
        self.store.db.execute(
            "UPDATE schedules SET status = ?, run_id = COALESCE(?, run_id), detail = ?, finished_at = ? WHERE id = ?",
            (status, run_id, detail, datetime.now(UTC).isoformat(), item_id),
        )

    def next_due(self) -> datetime | None:
        row = self.store.db.execute(
            "SELECT MIN(due_at) FROM schedules WHERE status = 'pending'"
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None


@dataclass(frozen=True)
class Fired:
    item: Item
    status: str  # done | incomplete | failed | skipped
    run_id: str | None
    detail: str


def run_due(ws: Workspace, on_fired: Callable[[Fired], None] = lambda f: None) -> list[Fired]:
    """Run every due item now, through the same engine and audit as `send`."""
    from prcast.audit import AuditLog
    from prcast.delivery import prepare, send

    now = clock.now()
    schedule = Schedule(ws)
    audit = AuditLog(ws.audit_path)
    results = []
    try:
        for item in schedule.claim_due(now):
            late = now - item.due_at
            if late > GRACE and item.missed == "skip" and item.run_id is None:
                detail = f"missed by {int(late.total_seconds() // 60)} min; the item says skip"
                audit.append("schedule.skipped", schedule=item.id, release=item.release, due=item.due_at.isoformat(),
                             at=now.isoformat(), reason=detail)  # fmt: skip
                schedule.finish(item.id, "skipped", detail=detail)
                fired = Fired(item, "skipped", None, detail)
            else:
                try:
                    plan = prepare(
                        ws, item.release, item.channels, to=item.audience, refresh_limits=True
                    )
                    audit.append("schedule.fired", schedule=item.id, run=plan.run_id, release=plan.release.id,
                                 due=item.due_at.isoformat(), fired=now.isoformat(),
                                 delay_seconds=round(late.total_seconds(), 3))  # fmt: skip
                    schedule.store.db.execute(
                        "UPDATE schedules SET run_id = ? WHERE id = ?", (plan.run_id, item.id)
                    )
                    outcome = send(ws, plan)
                except PrcastError as exc:
                    audit.append(
                        "schedule.failed",
                        schedule=item.id,
                        release=item.release,
                        reason=exc.message,
                    )
                    schedule.finish(item.id, "failed", detail=exc.message)
                    fired = Fired(item, "failed", None, exc.message)
                else:
                    status = "done" if outcome.ok else "incomplete"
                    summary = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))
                    schedule.finish(item.id, status, run_id=plan.run_id, detail=summary)
                    fired = Fired(item, status, plan.run_id, summary)
            results.append(fired)
            on_fired(fired)
    finally:
        schedule.close()
    return results


def serve(
    ws: Workspace,
    should_stop: Callable[[], bool],
    poll: float = 30.0,
    on_fired: Callable[[Fired], None] = lambda f: None,
) -> None:
    """The scheduler daemon: run what is due, sleep until the next item (at most `poll`
    seconds, in short steps so a stop request is seen at once), until `should_stop()`."""
    import time

    while not should_stop():
        run_due(ws, on_fired)
        schedule = Schedule(ws)
        try:
            upcoming = schedule.next_due()
        finally:
            schedule.close()
        wait = (
            poll
            if upcoming is None
            else min(poll, max(0.0, (upcoming - clock.now()).total_seconds()))
        )
        deadline = time.monotonic() + wait
        while not should_stop() and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
