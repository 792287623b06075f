"""The delivery engine: claims a run's chains, sends each part once, records every step.

A chain (the parts of one thread, or one email) is sent only by the process that claimed it
(see claims.py); inside a chain, each request leaves only after the compare-and-set
planned -> attempting succeeded for this owner and its fsynced audit record was written.
Several processes on one run share it: each takes the chains nobody holds, waits for the
ones another live process holds, and takes over those of a process that died, whose
in-flight deliveries then follow the channel's in-doubt rule exactly as after a crash."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prcast import clock
from prcast.audit import AuditLog
from prcast.channels import Channel, Post, Receipt, open_channel
from prcast.channels.base import ChannelError
from prcast.delivery.claims import Lease, describe, is_dead, is_expired
from prcast.delivery.fanout import Helpers, Share, plan_team, stopped_by_sigterm
from prcast.delivery.pacing import Gate
from prcast.delivery.plan import post_from_dict
from prcast.errors import InputError, PrcastError, StorageError, storage_reason
from prcast.secrets import redact
from prcast.store import (
    ATTEMPTING,
    DELIVERED,
    FAILED,
    IN_DOUBT,
    PLANNED,
    SKIPPED,
    SUPPRESSED,
    UNADDRESSED,
    DeliveryRow,
    Store,
    now,
)
from prcast.store.migrations import sha
from prcast.workspace import Workspace


@dataclass(frozen=True)
class Event:
    """Progress of a run, for the CLI's progress display."""

    kind: str  # planned | delivered | failed | skipped | in-doubt | waiting
    channel: str
    key: str = ""
    part: int = 0
    parts: int = 0
    message: str = ""
    total: int = 0


@dataclass
class Outcome:
    run_id: str
    new_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    #: per channel, the first error it reported (e.g. its server cannot be reached)
    channel_errors: dict[str, str] = field(default_factory=dict)
    #: (channel, status) of every delivery of the run
    by_channel: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.counts.get(FAILED)
            or self.counts.get(IN_DOUBT)
            or self.counts.get(SKIPPED)
            or self.counts.get(PLANNED)
            or self.counts.get(ATTEMPTING)
        )


@dataclass(frozen=True)
class Fault:
    """How a failed attempt is to be treated."""

    message: str
    transient: bool  # trying again may succeed
    maybe_sent: bool  # the service may have acted on it
    retry_after: float | None = None


def classify(exc: Exception) -> Fault:
    """Sort an adapter's exception: retry, give up, or in doubt."""
    import httpx

    if isinstance(exc, ChannelError):
        return Fault(redact(exc.message), exc.transient, exc.maybe_sent, exc.retry_after)
    if isinstance(exc, PrcastError):
        return Fault(redact(exc.message), False, False)
    message = redact(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Fault(message, True, False)  # nothing reached the service
    if isinstance(exc, httpx.TransportError):
        return Fault(message, True, True)  # sent, but the answer was lost
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError):
        return Fault(message, True, False)
    return Fault(message, False, False)


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: about base, 2*base, 4*base ... at most 60 s."""
    delay: float = min(60.0, base * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)


#: an fsync quicker than this (seconds) runs on the event loop, a slower one in a thread
QUICK_FSYNC = 0.002


class GroupCommit:
    """The audit records of the deliveries in flight, written as they come (those of one
    turn of the event loop together) and made durable together. A record that announces a
    request (e.g. "attempted") is sealed before the request leaves: `seal` waits until an
    fsync that began after the record was written has finished, and one fsync serves every
    record written before it began. A slow fsync runs in a thread, so the other deliveries go
    on meanwhile (a quick one on the event loop). On a quick disk the fsync starts only
    when a delivery asks for it: an email's record is written when its envelope starts and
    sealed right before DATA, so the records of the messages that started in between share
    that fsync. On a slow one it starts as soon as the record is written, while the
    envelope is answered. A record that announces nothing (an answer received) is made
    durable by the next fsync: a kill leaves it in the file, a power cut before that fsync
    leaves its delivery in doubt, never sent twice."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self.pending: list[tuple[str, dict[str, Any], asyncio.Future[None]]] = []
        #: (the fsync a record needs, its waiter): fsyncs are numbered as they start
        self.waiting: list[tuple[int, asyncio.Future[None] | None]] = []
        self.started = 0
        self.finished = 0
        #: whether the last fsync took less than QUICK_FSYNC
        self.quick = True
        #: the last fsync that failed, and how: no record written before it is durable
        self.failed_through = 0
        self.failure: Exception | None = None
        self.syncing = False
        self._syncer: asyncio.Task[None] | None = None
        self._fd: int | None = None
        # a log in the database is durable once append_many has committed: no file to fsync
        self.fsyncs = not getattr(audit, "commits_durably", False)

    async def write(self, type: str, data: dict[str, Any]) -> int:
        """Write a record (with the others of this turn of the event loop); returns the
        ticket `seal` takes: the number of the first fsync that covers it."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self.pending.append((type, data, written))
        if len(self.pending) == 1:
            loop.call_soon(self._write)
        await written
        ticket = self.started + 1  # an fsync under way may have begun before this write
        if self.fsyncs and not self.quick:
            # a slow disk: its fsync starts now, while the envelope is answered, rather than
            # when the message is at DATA
            self._want(ticket, None)
        return ticket

    def _want(self, ticket: int, waiter: asyncio.Future[None] | None) -> None:
        """An fsync that covers `ticket` is wanted (a waiter of None: nobody waits for it)."""
        self.waiting.append((ticket, waiter))
        if not self.syncing:
            self.syncing = True
            self._syncer = asyncio.get_running_loop().create_task(self._sync())

    async def seal(self, ticket: int) -> None:
        """Wait until the records written before `ticket` was given are on disk."""
        if ticket <= self.failed_through and self.failure is not None:
            # written before an fsync that failed: a later fsync may report success although
            # the kernel dropped those pages (Linux does), so it is never taken as durable
            raise self.failure
        if not self.fsyncs or self.finished >= ticket:
            return
        synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._want(ticket, synced)
        await synced

    async def append(self, type: str, data: dict[str, Any], durable: bool = True) -> None:
        ticket = await self.write(type, data)
        if durable:
            await self.seal(ticket)

    def _write(self) -> None:
        batch, self.pending = self.pending, []
        try:
            self.audit.append_many([(t, d) for t, d, _ in batch], sync=False)
        except Exception as exc:
            for *_, written in batch:
                if not written.done():  # a delivery cancelled (Ctrl-C, SIGTERM) stopped waiting
                    written.set_exception(exc)
        else:
            for *_, written in batch:
                if not written.done():
                    written.set_result(None)

    def _fsync(self) -> None:
        path = self.audit.path
        if self._fd is not None and os.fstat(self._fd).st_ino != os.stat(path).st_ino:
            self.close()  # the log was replaced: sync the file that is there now
        if self._fd is None:
            self._fd = os.open(path, os.O_RDONLY)
        os.fsync(self._fd)  # the file's data, whichever descriptor wrote it

    def _timed_fsync(self) -> None:
        # a disk that syncs within QUICK_FSYNC (an SSD) is synced on the event loop: waking
        # a thread for it costs more; a slow one (a network file system) in a thread, so the
        # other deliveries go on meanwhile
        began = time.monotonic()
        self._fsync()
        self.quick = time.monotonic() - began < QUICK_FSYNC

    async def _sync(self) -> None:
        try:
            while self.waiting:
                await asyncio.sleep(0)  # the deliveries at this point join this fsync
                self.started += 1
                number = self.started
                error: Exception | None = None
                try:
                    if self.quick:
                        self._timed_fsync()  # quicker than handing it to a thread
                    else:
                        await asyncio.to_thread(self._timed_fsync)
                except Exception as exc:
                    if isinstance(exc, OSError):
                        exc = StorageError("the audit log", self.audit.path, storage_reason(exc))
                    error = self.failure = exc
                    self.failed_through = number
                else:
                    self.finished = number
                # the waiters this fsync answers: every record written before it began
                due = [w for t, w in self.waiting if t <= number]
                self.waiting = [(t, w) for t, w in self.waiting if t > number]
                for synced in due:
                    if synced is None or synced.done():  # nobody waits, or cancelled meanwhile
                        continue
                    if error is None:
                        synced.set_result(None)
                    else:
                        synced.set_exception(error)
        finally:
            self.syncing = False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LostClaim(Exception):
    """The chain is no longer this process's to send (another took it over)."""


class _Runner:
    def __init__(
        self,
        ws: Workspace,
        store: Store,
        audit: AuditLog,
        run_id: str,
        owner: str,
        on_event: Callable[[Event], None],
        resend_in_doubt: bool,
    ) -> None:
        self.ws, self.store, self.audit, self.run_id = ws, store, audit, run_id
        self.owner = owner
        self.on_event = on_event
        self.resend_in_doubt = resend_in_doubt
        self.gates: dict[str, Gate] = {}
        self.records = GroupCommit(audit)
        #: deliveries answered and chains finished, written to the store together (flush)
        self.answered: list[tuple[DeliveryRow, Receipt]] = []
        self.finished: list[str] = []

    def flush(self) -> None:
        """Write the answers received and let go of the chains finished, in one transaction:
        a chain is released only with its parts' states, so another process that takes it
        next sees them delivered. (The audit log has each answer already: a crash before
        this is reconciled from it.)"""
        if not (self.answered or self.finished):
            return
        answered, self.answered = self.answered, []
        finished, self.finished = self.finished, []
        with self.store.transaction():
            self.store.mark_delivered(
                [
                    (row.key, receipt.remote_id, receipt.url, receipt.extra)
                    for row, receipt in answered
                ]
            )
            self.store.release(self.owner, finished)

    def _fields(self, row: DeliveryRow, data: dict[str, Any]) -> dict[str, Any]:
        return {"run": self.run_id, "key": row.key, "channel": row.channel,
                "target": row.target, "part": row.part, **data}  # fmt: skip

    async def _record(self, row: DeliveryRow, type: str, durable: bool = True, **data: Any) -> None:
        await self.records.append(type, self._fields(row, data), durable)

    async def _mark(self, row: DeliveryRow, status: str, message: str) -> None:
        await self._record(row, f"delivery.{status}", reason=message)
        self.store.update_delivery(row.key, status, error=message)
        self.on_event(Event(status, row.channel, row.key, row.part, row.parts, message))

    async def _attempt(
        self, channel: Channel, row: DeliveryRow, post: Post, parent: Receipt | None
    ) -> tuple[Receipt | None, tuple[str, str]]:
        """Send one delivery, retrying transient failures with backoff; (receipt, _) on
        success, else (None, (status, reason)). A failure after which the service may have
        acted is retried only where the channel recognises a repeated key."""
        config = self.ws.config.channel(row.channel)
        gate = self.gates[row.channel]
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 0
        while True:
            attempt += 1
            try:
                # "attempted" is recorded only for a request that really leaves now, so a
                # crash leaves at most `concurrency` deliveries of a channel in doubt
                async with gate:

                    async def commit(attempt: int = attempt) -> Callable[[], Awaitable[None]]:
                        """The compare-and-set (only the claim's owner may go on), then the
                        "attempted" record written; returns what makes that record durable,
                        to be awaited right before the request leaves."""
                        if not self.store.begin_attempt(
                            row.key, row.chain, self.owner, row.content_sha256, now()
                        ):
                            raise LostClaim(row.chain)
                        ticket = await self.records.write(
                            "delivery.attempted",
                            self._fields(row, {"parts": row.parts, "attempt": attempt,
                                               "text_sha256": sha(post.text)}),
                        )  # fmt: skip
                        return lambda: self.records.seal(ticket)

                    if getattr(channel, "commits_late", False):
                        # the adapter says when the request becomes irreversible (email: DATA)
                        publish: Any = channel.publish
                        receipt = await publish(post, row.key, parent, commit=commit)
                    else:
                        seal = await commit()
                        await seal()
                        receipt = await channel.publish(post, row.key, parent)
                    return receipt, ("", "")
            except (LostClaim, StorageError):
                raise  # not this delivery's failure: the claim is another's, or the disk full
            except Exception as exc:  # an adapter's failure is this delivery's, not the run's
                fault = classify(exc)
            retryable = fault.transient and (channel.dedupes or not fault.maybe_sent)
            wait = (
                fault.retry_after
                if fault.retry_after is not None
                else backoff(attempt, config.retry_base)
            )
            if (
                retryable
                and attempt < config.max_attempts
                and loop.time() - started + wait <= config.retry_for
            ):
                if fault.retry_after is not None:
                    gate.hold(fault.retry_after)  # a rate limit holds for the whole channel
                await self._record(
                    row,
                    "delivery.retry",
                    attempt=attempt,
                    wait=round(wait, 3),
                    reason=fault.message,
                )
                # nothing is in flight while waiting: a crash now leaves it to be sent again
                self.store.update_delivery(row.key, PLANNED, error=fault.message)
                await asyncio.sleep(wait)
                continue
            if fault.maybe_sent and not channel.dedupes:
                return None, (
                    IN_DOUBT,
                    f"{fault.message} (the service may have received it; not sent again)",
                )
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            return None, (FAILED, f"{fault.message}{tries}")

    async def thread(self, channel: Channel, rows: list[DeliveryRow]) -> None:
        """Deliver one thread's parts in order: a reply needs its parent's remote id."""
        parent: Receipt | None = None
        if rows and (outside := rows[0].post.get("reply_to")):  # a reply to someone's post
            extra = {k: v for k, v in outside.items() if k not in ("remote_id", "url")}
            parent = Receipt(outside["remote_id"], outside.get("url"), extra=extra)
        blocked = ""
        for row in rows:
            if row.status == DELIVERED:
                parent = Receipt(row.remote_id or "", row.url, extra=row.receipt or {})
                continue
            if blocked:
                await self._mark(row, SKIPPED, blocked)
                continue
            in_doubt = row.status in (ATTEMPTING, IN_DOUBT)
            if in_doubt and not channel.dedupes and not self.resend_in_doubt:
                await self._mark(
                    row, IN_DOUBT, "sent before without a recorded answer; not sent again"
                )
                blocked = f"part {row.part} is in doubt"
                continue
            post = post_from_dict(row.post)
            receipt, failure = await self._attempt(channel, row, post, parent)
            if receipt is None:
                status, message = failure
                await self._mark(row, status, message)
                blocked = f"part {row.part} {'is in doubt' if status == IN_DOUBT else 'failed'}"
                continue
            await self._record(
                row,
                "delivery.succeeded",
                durable=False,  # the answer: durable with the next fsync (else: in doubt)
                remote_id=receipt.remote_id,
                url=receipt.url,
                duplicate=receipt.duplicate,
                receipt=receipt.extra,
            )
            self.answered.append((row, receipt))
            self.on_event(
                Event(DELIVERED, row.channel, row.key, row.part, row.parts, receipt.url or "")
            )
            parent = receipt


def _reconcile(store: Store, audit: AuditLog, rows: list[DeliveryRow]) -> list[DeliveryRow]:
    """Bring the store in line with the audit log, the durable record: an answer that reached
    the log but not the store counts as delivered, and a request the log says left, with no
    answer recorded, is in doubt even if the store lost that (a power cut). A request the
    store says was begun and the log never announced stays in doubt too: it never left, but
    the process that began it may be alive (stopped, suspended past its lease) and about to
    announce and send it, and only that process may say otherwise."""
    open_rows = {r.key: r for r in rows if r.status != DELIVERED}
    if not open_rows:
        return rows
    last: dict[str, dict[str, Any]] = {}
    for rec in audit.records():
        key = rec.get("key")
        if key in open_rows and str(rec.get("type", "")).startswith("delivery."):
            last[key] = rec
    changed = False
    for key, rec in last.items():
        row = open_rows[key]
        if rec["type"] == "delivery.succeeded":
            store.update_delivery(key, DELIVERED, remote_id=rec.get("remote_id"), url=rec.get("url"),
                                  receipt=rec.get("receipt"))  # fmt: skip
            changed = True
        elif rec["type"] == "delivery.attempted" and row.status not in (ATTEMPTING, IN_DOUBT):
            store.update_delivery(key, ATTEMPTING)
            changed = True
    return store.deliveries(rows[0].run_id) if changed else rows


#: how often a process waiting for another's chains looks again (seconds)
POLL = 0.25
#: answers and finished chains are written to the store in one transaction at least this
#: often (seconds), or once this many chains finished
FLUSH_EVERY = 0.05
FLUSH_CHAINS = 64


class _Work:
    """The chains of a run this process still has to see to, per channel, in plan order;
    the ones another live process holds are watched until it lets them go.

    With a `share` (one process of a team sending one run, see fanout.py), a channel's
    chains are cut into as many slices as processes send it: each process walks its own
    slice forwards, then the others' backwards from their ends, and leaves a slice at the
    first chain it finds taken or done there (it met the process walking the other way)."""

    def __init__(self, rows: list[DeliveryRow], share: Share | None = None) -> None:
        self.chains: dict[str, list[DeliveryRow]] = {}
        for row in rows:
            self.chains.setdefault(row.chain or row.key, []).append(row)
        self.channel_of = {c: parts[0].channel for c, parts in self.chains.items()}
        by_channel: dict[str, list[str]] = {}
        for chain, parts in self.chains.items():
            by_channel.setdefault(parts[0].channel, []).append(chain)
        #: the slice a chain belongs to (only for channels a team shares), and the slices
        #: this process has left
        self.slice: dict[str, tuple[str, int]] = {}
        self.met: set[tuple[str, int]] = set()
        self.todo: dict[str, deque[str]] = {}
        for channel, chains in by_channel.items():
            order = chains
            count = share.processes.get(channel, 1) if share else 1
            if share is not None and count > 1:
                order = []
                bounds = [len(chains) * k // count for k in range(count + 1)]
                turn = [share.index, *range(share.index + 1, count), *range(share.index)]
                for k in turn:
                    piece = chains[bounds[k] : bounds[k + 1]]
                    order += piece if k == share.index else piece[::-1]
                    for chain in piece:
                        self.slice[chain] = (channel, k)
            pending = [c for c in order if any(p.status != DELIVERED for p in self.chains[c])]
            if pending:
                self.todo[channel] = deque(pending)
        self.watched: set[str] = set()

    def meet(self, chain: str) -> None:
        """Another process of the team is at this chain: leave the rest of its slice."""
        where = self.slice.get(chain)
        if where is not None:
            self.met.add(where)

    def take(self, channel: str, count: int) -> list[str]:
        queue = self.todo.get(channel)
        out: list[str] = []
        while queue and len(out) < count:
            chain = queue.popleft()
            if not self.met or self.slice.get(chain) not in self.met:
                out.append(chain)
        return out

    def give_back(self, chain: str) -> None:
        self.todo.setdefault(self.channel_of[chain], deque()).appendleft(chain)

    @property
    def pending(self) -> bool:
        return any(self.todo.values())


def _waiting_message(store: Store, chains: list[str]) -> str:
    by_owner: dict[str, list[Any]] = {}
    for h in store.holders(chains):
        by_owner.setdefault(h.owner.id, []).append(h)
    parts = []
    for holders in by_owner.values():
        parts.append(describe(holders[0].owner, len(holders), min(h.since for h in holders)))
    return "; ".join(parts)


def run_deliveries(
    ws: Workspace,
    run_id: str,
    on_event: Callable[[Event], None] = lambda e: None,
    *,
    resend_in_doubt: bool = False,
    new_run: bool = False,
    checked: bool = False,
    processes: int | None = None,
) -> Outcome:
    """Deliver every delivery of a run that is not delivered yet, sharing the run with any
    other process working on it. `checked`: the caller ran the policy on these posts.
    `processes`: how many OS processes send a channel that can be shared (email; see
    fanout.py), instead of its `processes` setting or the CPU count."""
    from prcast.delivery.preflight import check_embargo, check_posts_policy

    store = ws.store()
    audit = ws.audit()
    try:
        if store.run(run_id) is None:
            raise InputError(
                f'no run "{run_id}" in this workspace', hint="`prcast report --list` shows the runs"
            )
        stored = store.deliveries(run_id)
        # a run planned just now has nothing to reconcile: spare reading the whole audit log
        settled = stored if new_run else _reconcile(store, audit, stored)
        rows = [r for r in settled if r.status not in (SUPPRESSED, UNADDRESSED)]
        pending = [r for r in rows if r.status != DELIVERED]
        outcome = Outcome(run_id, new_run)
        if pending:
            posts = [post_from_dict(r.post) for r in pending]
            early = any(p.embargo and p.embargo > clock.now() for p in posts)
            overridden = early and any(  # the audit log is read only for a send under embargo
                rec.get("type") == "embargo.broken" and rec.get("run") == run_id
                for rec in audit.records()
            )
            check_embargo(ws, posts, overridden=overridden)
            if not checked:
                check_posts_policy(ws, posts, audit, run_id)
            with Lease(ws.database, "send") as lease:
                audit.append(
                    "run.started" if new_run else "run.resumed",
                    run=run_id,
                    pending=len(pending),
                    pid=lease.owner.pid,
                    host=lease.owner.host,
                )
                store.set_run_status(run_id, "running")
                team = plan_team(ws, pending, processes)
                if team:
                    _deliver_as_team(ws, store, audit, run_id, rows, lease.id, on_event,
                                     resend_in_doubt, team)  # fmt: skip
                else:
                    _deliver(ws, store, audit, run_id, rows, lease.id, on_event, resend_in_doubt)
        final = store.outcomes(run_id)  # (channel, status, error): no post to decode
        for channel_name, state, _ in final:
            outcome.counts[state] = outcome.counts.get(state, 0) + 1
            outcome.by_channel.append((channel_name, state))
        status = "complete" if outcome.ok else "incomplete"
        if pending:
            audit.append("run.finished", run=run_id, status=status, counts=outcome.counts)
        store.set_run_status(run_id, status)
        audit.checkpoint()  # signed at the end of every run (prcast/checkpoint.py)
        for channel_name, state, error in final:
            if state == FAILED and error and channel_name not in outcome.channel_errors:
                outcome.channel_errors[channel_name] = error
        return outcome
    finally:
        store.close()


def _deliver_as_team(
    ws: Workspace,
    store: Store,
    audit: AuditLog,
    run_id: str,
    rows: list[DeliveryRow],
    owner: str,
    on_event: Callable[[Event], None],
    resend_in_doubt: bool,
    team: dict[str, int],
) -> None:
    """Send a run with helper processes (fanout.py): this process sends its share beside
    them, waits until they are gone, then sees to whatever is left (a helper that died:
    its answers are taken from the audit log, its claims taken over, its unanswered
    messages in doubt), as `prcast resume` would."""
    helpers = Helpers(ws, run_id, team, on_event, resend_in_doubt)
    event = helpers.event
    try:
        with stopped_by_sigterm(helpers):
            helpers.start()
            _deliver(ws, store, audit, run_id, rows, owner, event, resend_in_doubt,
                     share=Share(0, team))  # fmt: skip
            helpers.wait()
    finally:
        helpers.stop()
    keys = {r.key for r in rows}
    now_rows = [r for r in store.deliveries(run_id) if r.key in keys]
    if not any(r.status in (PLANNED, ATTEMPTING) for r in now_rows):
        return
    left = [r for r in _reconcile(store, audit, now_rows) if r.key in keys]
    # what the team answered (delivered, failed, in doubt) stays answered: only the chains
    # left open go round again
    open_chains = {r.chain or r.key for r in left if r.status in (PLANNED, ATTEMPTING)}
    left = [r for r in left if (r.chain or r.key) in open_chains]
    if not left:
        return

    def later(e: Event) -> None:
        if e.kind != "planned":  # counted in the progress already
            event(e)

    _deliver(ws, store, audit, run_id, left, owner, later, resend_in_doubt)


def _deliver(
    ws: Workspace,
    store: Store,
    audit: AuditLog,
    run_id: str,
    rows: list[DeliveryRow],
    owner: str,
    on_event: Callable[[Event], None],
    resend_in_doubt: bool,
    share: Share | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Send the chains of `rows` this process can claim. Alone (no `share`), wait for the
    ones another live process holds and take over those of a process that died. As one of
    a team (`share`): a share of each shared channel's connections and rate, the slices of
    fanout.py, and no waiting for the others (the team's first process sees to what is
    left when they are gone). `keep_going`: asked before each batch of claims."""
    work = _Work(rows, share)
    names = sorted(work.todo)
    configs = {
        n: share.config(ws.config.channel(n)) if share else ws.config.channel(n) for n in names
    }
    channels = {n: open_channel(configs[n], ws.root, ws.templates_dir) for n in names}
    for name in names:
        on_event(Event("planned", name, total=sum(1 for r in rows if r.channel == name)))
    runner = _Runner(ws, store, audit, run_id, owner, on_event, resend_in_doubt)
    keys = {r.key for r in rows}

    async def one(chain: str, now_rows: list[DeliveryRow]) -> None:
        parts = [r for r in now_rows if r.key in keys]
        if all(p.status == DELIVERED for p in parts):
            work.meet(chain)  # done by another process of the team
        try:
            await runner.thread(channels[work.channel_of[chain]], parts)
        except LostClaim:
            if share is None:
                work.watched.add(chain)  # another process took it over: see that it finishes
        finally:
            runner.finished.append(chain)
            if len(runner.finished) >= FLUSH_CHAINS:
                runner.flush()

    async def flusher() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            runner.flush()

    #: tasks ended since the main loop last looked, and the future that wakes it (cheaper
    #: than `asyncio.wait` over every running task at each message)
    ended_tasks: list[asyncio.Task[None]] = []
    waking: list[asyncio.Future[None]] = []

    def ended(task: asyncio.Task[None]) -> None:
        ended_tasks.append(task)
        if waking:
            _resolve(waking[0])

    async def woken(timeout: float) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        waking[:] = [waiter]
        timer = loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            waking.clear()

    async def main() -> None:
        running: dict[asyncio.Task[None], str] = {}
        flushing: asyncio.Task[None] | None = None
        try:
            for channel in channels.values():
                ready = getattr(channel, "ready", None)
                if ready is not None:  # e.g. email: can this server carry the sender's address?
                    await ready()
            for name, channel in channels.items():
                config = configs[name]
                runner.gates[name] = Gate(
                    getattr(channel, "concurrency", 1),
                    config.max_per_minute,
                    getattr(channel, "rate", None),
                )
            told = ""
            flushing = asyncio.create_task(flusher())
            while True:
                if flushing.done():  # it could not write the answers (a full disk): stop
                    flushing.result()
                busy: dict[str, int] = {}
                for chain in running.values():
                    busy[work.channel_of[chain]] = busy.get(work.channel_of[chain], 0) + 1
                wanted: list[str] = []
                if not keep_going():
                    for name in names:
                        work.todo.pop(name, None)
                for name in names:
                    # claimed ahead, a window at a time: one claim (a transaction) and one read
                    # per half window, not per message; a claim is not an attempt, so a crash
                    # leaves the claimed chains to be taken over, never in doubt
                    window = max(8, 4 * runner.gates[name].concurrency)
                    room = window - busy.get(name, 0)
                    if room >= window // 2 or (room > 0 and not busy.get(name)):
                        wanted += work.take(name, room)
                if wanted:
                    won = set(store.claim(run_id, owner, wanted))
                    now_rows = store.chains(
                        sorted(won), run_id
                    )  # as they are now that they are ours
                    for chain in wanted:
                        if chain in won:
                            task = asyncio.create_task(one(chain, now_rows.get(chain, [])))
                            task.add_done_callback(ended)
                            running[task] = chain
                        elif share is not None:
                            work.meet(chain)  # another process of the team is here
                        else:
                            work.watched.add(chain)
                if not running and not work.pending:
                    runner.flush()
                    if not work.watched:
                        flushing.cancel()
                        return
                    held = {h.chain: h for h in store.holders(sorted(work.watched))}
                    for chain in sorted(work.watched):
                        h = held.get(chain)
                        if h is None or h.owner.id == owner:
                            work.watched.discard(chain)  # finished by the other process
                        elif is_expired(h.owner) or is_dead(h.owner):
                            if not is_expired(h.owner):
                                store.expire_owner(h.owner.id)
                            work.watched.discard(chain)
                            work.give_back(chain)  # take it over
                    if work.watched and not work.pending:
                        message = _waiting_message(store, sorted(work.watched))
                        if message and message != told:
                            on_event(Event("waiting", "", message=message))
                            told = message
                        await asyncio.sleep(POLL)
                    continue
                if running:
                    if not ended_tasks:
                        await woken(POLL)
                    done, ended_tasks[:] = list(ended_tasks), []
                    for task in done:
                        running.pop(task)
                        task.result()
        finally:
            # a run that stops on an error (a database gone) collects what is still in
            # flight, so no task's exception is left unretrieved to be printed at exit
            # (the flusher's too, when it stopped on a full disk)
            leftovers = [t for t in (*running, flushing) if t is not None and not t.done()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*running, *[t for t in (flushing,) if t is not None],
                                 return_exceptions=True)  # fmt: skip
            runner.flush()
            runner.records.close()
            for channel in channels.values():
                await channel.close()

    asyncio.run(main())
