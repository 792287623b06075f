"""Timed and embargoed runs: a queue in the state store, run by `prcast run-due` (cron,
systemd timers) or `prcast scheduler` (a daemon). Times are stored in UTC and shown in
the zone they were given in. Two runners never run one item twice: an item is claimed in
one compare-and-set by an owner whose lease a heartbeat renews while the item runs, so a
slow run keeps its item; an item whose runner died is claimed again, and since deliveries
are keyed by publication and claimed too, the new runner finishes the same publications
instead of sending anything twice. The due time is compared with the real clock."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prcast import clock
from prcast.delivery.claims import is_dead, is_expired
from prcast.errors import InputError, PrcastError, StorageError
from prcast.store import stamp
from prcast.workspace import Workspace

#: an item not started within this much of its due time was missed (machine off)
GRACE = timedelta(minutes=10)


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
        self.store = ws.store()

    def close(self) -> None:
        self.store.close()

    def _item(self, row: dict[str, Any]) -> Item:
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
        return self.get(
            self.store.add_schedule(release, stamp(due_at), zone, channels, audience, missed)
        )

    def get(self, item_id: int) -> Item:
        row = self.store.schedule(item_id)
        if row is None:
            raise InputError(f"no scheduled item {item_id}", hint="prcast schedule list shows them")
        return self._item(row)

    def items(self, everything: bool = False) -> list[Item]:
        return [self._item(r) for r in self.store.schedules(everything)]

    def cancel(self, item_id: int) -> Item:
        item = self.get(item_id)
        if item.status != "pending" or not self.store.cancel_schedule(item_id):
            raise InputError(
                f"item {item_id} is {self.get(item_id).status}; only a pending item can be cancelled"
            )
        return self.get(item_id)

    def due(self, at: datetime) -> list[Item]:
        """The items that would be due at `at` (a rehearsal: nothing is claimed)."""
        return [i for i in self.items() if i.status == "pending" and i.due_at <= at]

    def claim_due(self, owner: str, now: datetime) -> list[Item]:
        """Take every due item (and any left running by an owner that died) for `owner`."""
        dead = {
            h.owner.id
            for h in self.store.schedule_holders()
            if not is_expired(h.owner) and is_dead(h.owner)
        }
        for owner_id in dead:
            self.store.expire_owner(owner_id)
        return [self.get(i) for i in self.store.claim_due(owner, stamp(now))]

    def finish(
        self,
        item_id: int,
        owner: str,
        status: str,
        run_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.store.finish_schedule(item_id, owner, status, run_id, detail)

    def next_due(self) -> datetime | None:
        due = self.store.next_due()
        return datetime.fromisoformat(due) if due else None


@dataclass(frozen=True)
class Fired:
    item: Item
    status: str  # done | incomplete | failed | skipped
    run_id: str | None
    detail: str


def run_due(ws: Workspace, on_fired: Callable[[Fired], None] = lambda f: None) -> list[Fired]:
    """Run every due item now (the real clock), through the same engine and audit as `send`.
    Each item is claimed by this process's lease, renewed while it runs."""
    from prcast.delivery import prepare, send
    from prcast.delivery.claims import Lease

    now = clock.now()
    schedule = Schedule(ws)
    audit = ws.audit()
    results = []
    try:
        with Lease(ws.database, "run-due") as lease:
            for item in schedule.claim_due(lease.id, now):
                fired = _fire(ws, schedule, audit, lease.id, item, now, prepare, send)
                results.append(fired)
                on_fired(fired)
    finally:
        schedule.close()
    return results


def _fire(
    ws: Workspace,
    schedule: Schedule,
    audit: Any,
    owner: str,
    item: Item,
    now: datetime,
    prepare: Any,
    send: Any,
) -> Fired:
    late = now - item.due_at
    if late > GRACE and item.missed == "skip" and item.run_id is None:
        detail = f"missed by {int(late.total_seconds() // 60)} min; the item says skip"
        audit.append("schedule.skipped", schedule=item.id, release=item.release,
                     due=item.due_at.isoformat(), at=now.isoformat(), reason=detail)  # fmt: skip
        schedule.finish(item.id, owner, "skipped", detail=detail)
        return Fired(item, "skipped", None, detail)
    try:
        plan = prepare(
            ws, item.release, item.channels, to=item.audience, refresh_limits=True,
            on_unreachable=lambda name, reason: None,
        )  # fmt: skip
        audit.append("schedule.fired", schedule=item.id, run=plan.run_id, release=plan.release.id,
                     due=item.due_at.isoformat(), fired=now.isoformat(),
                     delay_seconds=round(late.total_seconds(), 3))  # fmt: skip
        schedule.store.set_schedule_run(item.id, plan.run_id)
        outcome = send(ws, plan)
    except StorageError:
        # a full disk is not the item's failure: it stays taken by this process, which
        # stops here, so the next run-due (once there is room) takes it over and finishes
        # its run, never twice
        raise
    except PrcastError as exc:
        audit.append("schedule.failed", schedule=item.id, release=item.release, reason=exc.message)
        schedule.finish(item.id, owner, "failed", detail=exc.message)
        return Fired(item, "failed", None, exc.message)
    status = "done" if outcome.ok else "incomplete"
    summary = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))
    schedule.finish(item.id, owner, status, run_id=plan.run_id, detail=summary)
    return Fired(item, status, plan.run_id, summary)


def rehearse(ws: Workspace, at: datetime) -> list[Item]:
    """What `run-due` would fire at `at`: shown, never claimed or delivered."""
    schedule = Schedule(ws)
    try:
        return schedule.due(at)
    finally:
        schedule.close()


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


# --- team mode (PRCAST_DATABASE_URL): the plan in the team database, workers send it ------


def add_team(
    ws: Workspace, plan: Any, release: str, due_at: datetime, zone: str, channels: list[str],
    audience: list[str], missed: str,
) -> Item:  # fmt: skip
    """Check and store the exact plan in the team database (see prcast/team/plan.py), queue
    the item, and leave a job for its due time that any `prcast worker` runs."""
    from prcast.team import plan as stored
    from prcast.team import tasks

    app = tasks.open_app(ws.database.url)
    try:
        stored.submit(ws, plan)
        schedule = Schedule(ws)
        try:
            item = schedule.add(release, due_at, zone, channels, audience, missed)
            schedule.store.set_schedule_run(item.id, plan.run_id)
            tasks.defer_fire(app, item.id, ws.database.schema, at=due_at)
            return schedule.get(item.id)
        finally:
            schedule.close()
    finally:
        app.close()


def enqueue_due_team(ws: Workspace) -> list[int]:
    """`run-due` in team mode: items queued without a stored plan (before the workspace
    moved to the team database) are planned and checked now from the workspace's files and
    stored like `schedule add` stores them; then a job is left for each due item (and each
    whose runner died); the workers run them. Returns the items enqueued now."""
    from prcast.delivery import prepare
    from prcast.team import plan as stored
    from prcast.team import tasks

    app = tasks.open_app(ws.database.url)
    try:
        schedule = Schedule(ws)
        try:
            for item in schedule.items():
                if item.status != "pending" or item.run_id is not None:
                    continue
                plan = prepare(ws, item.release, item.channels, to=item.audience)
                stored.submit(ws, plan)
                schedule.store.set_schedule_run(item.id, plan.run_id)
                tasks.defer_fire(app, item.id, ws.database.schema, at=item.due_at)
        finally:
            schedule.close()
        return tasks.enqueue_due(app, ws)
    finally:
        app.close()
