"""prcast's work as procrastinate tasks, for `prcast worker` on any number of machines.

procrastinate keeps the jobs in the team database: a job is taken by one worker
(`FOR UPDATE SKIP LOCKED`), a periodic task is deferred once per tick whichever workers
run, a queueing lock keeps one waiting job per item, and the jobs of a worker that stopped
sending heartbeats are retried (`recover_stalled`). prcast's own claims sit underneath:
a schedule item is run by one owner, a chain of deliveries is sent by one owner, each
taken over when its owner's lease (PRCAST_LEASE_SECONDS) runs out. So a job run twice
(retried after its worker died while it was still alive, say) sends nothing twice.

Tasks:
- schedule_due (periodic, every minute): enqueue every due item, and every item whose
  runner died, once each (queueing lock per item)
- fire_scheduled(item): run a scheduled item's stored plan; helpers join the run
- deliver_run(run, slot): take part in sending a run (its chains nobody holds)
- conference_poll(workspace, conference): take in a conference's questions (a machine
  that has the workspace)
- recover_stalled (periodic): retry the jobs of workers that stopped beating"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import procrastinate
from procrastinate import exceptions as queue_errors

from prcast import clock
from prcast.delivery.claims import lease_seconds
from prcast.workspace import Workspace

QUEUE_SCHEDULE, QUEUE_DELIVERY, QUEUE_CONFERENCE = "schedule", "deliveries", "conference"
QUEUES = (QUEUE_SCHEDULE, QUEUE_DELIVERY, QUEUE_CONFERENCE)
#: how many jobs send one run together (the fire job and its helpers): PRCAST_TEAM_SPREAD
DEFAULT_SPREAD = 4

tasks = procrastinate.Blueprint()

#: the worker's own folder (its working directory unless --home): set by `prcast worker`
_home: dict[str, Path] = {}
#: where a worker reports what it does (its stdout for `prcast worker`)
_say: dict[str, Callable[[str], None]] = {}


def home() -> Path:
    return _home.get("path") or Path.cwd() / ".prcast-worker"


def _quiet(message: str) -> None:
    pass


def say(message: str) -> None:
    _say.get("fn", _quiet)(message)


def spread() -> int:
    try:
        return max(1, int(os.environ.get("PRCAST_TEAM_SPREAD", DEFAULT_SPREAD)))
    except ValueError:
        return DEFAULT_SPREAD


def heartbeat_seconds() -> float:
    """How often a worker beats, and after how long without a beat its jobs are stalled:
    a third of the lease, and the lease."""
    return lease_seconds() / 3


def make_app(url: str) -> procrastinate.App:
    """The procrastinate app on the team database, with prcast's tasks."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=url),
        worker_defaults={
            "update_heartbeat_interval": heartbeat_seconds(),
            "stalled_worker_timeout": lease_seconds(),
            "delete_jobs": "successful",
        },
    )
    app.add_tasks_from(tasks, namespace="prcast")
    return app


def open_app(url: str) -> procrastinate.App:
    """The team app, its job tables created if this is the database's first worker (under
    a database lock: two workers starting at once create them once)."""
    return prepare_app(url)[0]


def prepare_app(url: str) -> tuple[procrastinate.App, bool]:
    """The team app opened, and whether the job queue's tables were created just now."""
    from prcast.errors import DeliveryError
    from prcast.store import Store
    from prcast.store.database import Database

    store = Store(Database(url=url))  # an unreachable server: one clear message, at once
    app = make_app(url)
    created = False
    try:
        app.open()
        with store.exclusive("procrastinate-schema"):
            if not app.job_manager.check_connection():
                app.schema_manager.apply_schema()
                created = True
    except Exception as exc:
        with contextlib.suppress(Exception):
            app.close()
        from prcast.secrets import redact
        from prcast.store.database import hide_password

        lines = str(exc).strip().splitlines()
        reason = redact(lines[0] if lines else type(exc).__name__).replace(url, hide_password(url))
        raise DeliveryError(
            f"cannot use the team database {hide_password(url)}: {reason}",
            hint="check PRCAST_DATABASE_URL and that PostgreSQL accepts this machine",
        ) from None
    finally:
        store.close()
    return app, created


def _base(schema: str = "") -> Workspace:
    """The worker's folder for a workspace's schema in the team database: only its store
    and audit log are used, and both are the team database."""
    from prcast.team import default_schema, required_url, team_workspace

    schema = schema or default_schema()
    return team_workspace(home() / "schemas" / schema, required_url(), schema)


# --- the schedule ------------------------------------------------------------------------


def enqueue_due(app: procrastinate.App, ws: Workspace | None = None) -> list[int]:
    """Defer a fire job for every item due now and every item whose runner died, unless
    one waits already (queueing lock). Returns the items deferred now."""
    from prcast.delivery.claims import is_dead, is_expired
    from prcast.schedule import Schedule

    schedule = Schedule(ws or _base())
    try:
        # an item without a stored plan waits for `prcast run-due` on its workspace
        due = [i.id for i in schedule.due(clock.now()) if i.run_id]
        orphans = [
            int(h.chain)
            for h in schedule.store.schedule_holders()
            if is_expired(h.owner) or is_dead(h.owner)
        ]
    finally:
        schedule.close()
    deferred = []
    schema = (ws or _base()).database.schema
    for item_id in sorted({*due, *orphans}):
        if defer_fire(app, item_id, schema):
            deferred.append(item_id)
    return deferred


def defer_fire(app: procrastinate.App, item_id: int, schema: str, at: Any = None) -> bool:
    """Defer the job that fires item `item_id` of the workspace whose state is `schema`
    (at a time, or now); False if one waits already."""
    options: dict[str, Any] = {"queueing_lock": f"prcast-schedule-{schema}-{item_id}"}
    if at is not None:
        options["schedule_at"] = at
    try:
        app.configure_task("prcast:fire_scheduled", **options).defer(item_id=item_id, schema=schema)
    except queue_errors.AlreadyEnqueued:
        return False
    return True


@tasks.periodic(cron="* * * * *", periodic_id="schedule")
@tasks.task(name="schedule_due", queue=QUEUE_SCHEDULE, queueing_lock="prcast-schedule-due",
            pass_context=True)  # fmt: skip
def schedule_due(context: procrastinate.JobContext, timestamp: int) -> None:
    assert context.app is not None
    for item_id in enqueue_due(context.app):
        say(f"enqueued scheduled item #{item_id}")


@tasks.task(name="fire_scheduled", queue=QUEUE_SCHEDULE, pass_context=True)
def fire_scheduled(context: procrastinate.JobContext, item_id: int, schema: str = "") -> str:
    """Run scheduled item `item_id` from its stored plan, once across all workers."""
    assert context.app is not None
    return fire(context.app, item_id, schema)


def _wait_for_runner(store: Any, item_id: int) -> None:
    """An item left running by another owner: wait (at most a lease and a bit) until that
    owner's lease runs out or it finishes, so a job retried after its worker died takes
    the item over instead of leaving it."""
    import time

    from prcast.delivery.claims import is_dead, is_expired

    deadline = time.monotonic() + lease_seconds() + 2
    while time.monotonic() < deadline:
        row = store.schedule(item_id)
        if row is None or row["status"] != "running":
            return
        holders = [h for h in store.schedule_holders() if h.chain == str(item_id)]
        if not holders or is_expired(holders[0].owner):
            return
        if is_dead(holders[0].owner):
            store.expire_owner(holders[0].owner.id)
            return
        time.sleep(0.2)


def fire(app: procrastinate.App | None, item_id: int, schema: str = "") -> str:
    from prcast.delivery import run_deliveries
    from prcast.delivery.claims import Lease
    from prcast.errors import PrcastError
    from prcast.schedule import GRACE, Schedule
    from prcast.store import stamp
    from prcast.team import plan as stored

    base = _base(schema)
    schema = base.database.schema
    schedule = Schedule(base)
    store = schedule.store
    try:
        row = store.schedule(item_id)
        if row is not None and row["run_id"] is None:
            say(f"#{item_id} has no stored plan: run `prcast run-due` on its workspace")
            return "no plan"
        with Lease(base.database, "worker") as lease:
            _wait_for_runner(store, item_id)
            now = clock.now()
            before = store.claim_schedule_item(item_id, lease.id, stamp(now))
            if before is None:
                row = store.schedule(item_id)
                status = row["status"] if row else "gone"
                say(f"#{item_id} not run here: it is {status}")
                return status
            item = schedule.get(item_id)
            audit = base.audit()
            assert item.run_id is not None  # checked before claiming
            late = now - item.due_at
            if before == "pending" and late > GRACE and item.missed == "skip":
                detail = f"missed by {int(late.total_seconds() // 60)} min; the item says skip"
                audit.append("schedule.skipped", schedule=item.id, release=item.release,
                             due=item.due_at.isoformat(), at=now.isoformat(), reason=detail)  # fmt: skip
                schedule.finish(item_id, lease.id, "skipped", detail=detail)
                say(f"#{item_id} skipped: {detail}")
                return "skipped"
            try:
                manifest = stored.load(store, item.run_id)
                ws = stored.materialize(home(), manifest, base.database)
                audit.append("schedule.fired" if before == "pending" else "schedule.resumed",
                             schedule=item.id, run=item.run_id, release=manifest.release_id,
                             release_sha256=manifest.release_sha256, due=item.due_at.isoformat(),
                             fired=now.isoformat(), delay_seconds=round(late.total_seconds(), 3),
                             host=socket.gethostname(), pid=os.getpid())  # fmt: skip
                verb = "fired" if before == "pending" else "resumed"
                say(f"{verb} #{item_id} run {item.run_id} pid {os.getpid()}")
                if app is not None:
                    for slot in range(1, spread()):
                        defer_delivery(app, item.run_id, slot, schema)
                outcome = run_deliveries(ws, item.run_id, new_run=before == "pending", checked=True)
            except PrcastError as exc:
                audit.append("schedule.failed", schedule=item.id, release=item.release,
                             reason=exc.message)  # fmt: skip
                schedule.finish(item_id, lease.id, "failed", detail=exc.message)
                say(f"#{item_id} failed: {exc.message}")
                return "failed"
            status = "done" if outcome.ok else "incomplete"
            summary = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))
            schedule.finish(item_id, lease.id, status, run_id=item.run_id, detail=summary)
            say(f"#{item_id} {status}: {summary}")
            return status
    finally:
        schedule.close()


# --- deliveries ---------------------------------------------------------------------------


def defer_delivery(app: procrastinate.App, run_id: str, slot: int, schema: str) -> bool:
    lock = f"prcast-run-{schema}-{run_id}-{slot}"
    try:
        app.configure_task("prcast:deliver_run", queueing_lock=lock).defer(
            run_id=run_id, slot=slot, schema=schema
        )
    except queue_errors.AlreadyEnqueued:
        return False
    return True


@tasks.task(name="deliver_run", queue=QUEUE_DELIVERY)
def deliver_run(run_id: str, slot: int = 0, schema: str = "") -> str:
    """Take part in sending run `run_id`: the chains nobody holds, and those of owners
    that died. Several workers run it for one run at once."""
    from prcast.delivery import run_deliveries
    from prcast.store import SETTLED, SKIPPED
    from prcast.team import plan as stored

    base = _base(schema)
    store = base.store()
    try:
        rows = store.deliveries(run_id)
        manifest = stored.load(store, run_id)
    finally:
        store.close()
    if all(r.status in SETTLED or r.status == SKIPPED for r in rows):
        return "nothing left to send"
    ws = stored.materialize(home(), manifest, base.database)
    say(f"helping run {run_id} (slot {slot}) pid {os.getpid()}")
    outcome = run_deliveries(ws, run_id, checked=True)
    return ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))


# --- conferences ----------------------------------------------------------------------------


@tasks.task(name="conference_poll", queue=QUEUE_CONFERENCE)
def conference_poll(workspace: str, conference: str) -> int:
    """Take in a conference's new questions (on a machine that has its workspace): the
    positions on each service are in the store, so two polls never take one twice."""
    from prcast import conference as core

    ws = Workspace(Path(workspace))
    conf = core.load(ws, core.resolve_name(ws, conference))
    intake = core.poll(ws, conf)
    return len(intake.new)


# --- stalled jobs ---------------------------------------------------------------------------


@tasks.periodic(cron="*/5 * * * * *", periodic_id="stalled")
@tasks.task(name="recover_stalled", queue=QUEUE_SCHEDULE, queueing_lock="prcast-recover-stalled",
            pass_context=True)  # fmt: skip
async def recover_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
    """Retry the jobs of workers that stopped beating (killed, machine down)."""
    assert context.app is not None
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=lease_seconds()))
    for job in stalled:
        await manager.retry_job(job)
        say(f"retrying job {job.id} ({job.task_name}) of a worker that stopped")
    return len(stalled)
