"""Plan and run deliveries: one Delivery per channel x target x part, deterministic keys,
durable state before every send, so a repeated or resumed run never sends twice."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prcast import clock, limits
from prcast.audit import AuditLog, canonical
from prcast.channels import Channel, Post, Receipt, open_channel
from prcast.channels.base import ChannelError, RateState
from prcast.config import EmailConfig
from prcast.errors import InputError, PrcastError, did_you_mean
from prcast.lists import PressList, Resolution
from prcast.release import Link, Media, Release, load_release
from prcast.render import Rendering, render_release
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
    RunRow,
    Store,
    now,
)
from prcast.workspace import Workspace

PUBLIC = "public"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def delivery_key(run_id: str, channel: str, target: str, part: int) -> str:
    """The idempotency key of one delivery: stable for (run, channel, target, part)."""
    return _sha(f"{run_id}\x00{channel}\x00{target}\x00{part}")[:32]


def post_to_dict(post: Post) -> dict[str, Any]:
    return {
        "channel": post.channel,
        "release_id": post.release_id,
        "title": post.title,
        "text": post.text,
        "index": post.index,
        "total": post.total,
        "length": post.length,
        "limit": post.limit,
        "language": post.language,
        "links": [[link.url, link.title] for link in post.links],
        "hashtags": list(post.hashtags),
        "media": [[str(m.path), m.alt] for m in post.media],
        "embargo": post.embargo.isoformat() if post.embargo else None,
        "content_warning": post.content_warning,
        "planned_at": post.planned_at,
        "target": post.target,
        "group": post.group,
        "recipients": list(post.recipients),
        "recipient_name": post.recipient_name,
        "subject": post.subject,
        "html": post.html,
        "reply_to": post.reply_to,
    }


def post_from_dict(d: dict[str, Any]) -> Post:
    return Post(
        channel=d["channel"],
        release_id=d["release_id"],
        title=d["title"],
        text=d["text"],
        index=d["index"],
        total=d["total"],
        length=d["length"],
        limit=d["limit"],
        language=d["language"],
        links=tuple(Link(u, t) for u, t in d["links"]),
        hashtags=tuple(d["hashtags"]),
        media=tuple(Media(Path(p), alt) for p, alt in d["media"]),
        embargo=datetime.fromisoformat(d["embargo"]) if d["embargo"] else None,
        content_warning=d.get("content_warning"),
        planned_at=d.get("planned_at", ""),
        target=d.get("target", PUBLIC),
        group=d.get("group", ""),
        recipients=tuple(d.get("recipients", ())),
        recipient_name=d.get("recipient_name", ""),
        subject=d.get("subject", ""),
        html=d.get("html", ""),
        reply_to=d.get("reply_to"),
    )


@dataclass(frozen=True)
class Delivery:
    key: str
    seq: int
    channel: str
    target: str
    post: Post
    parent_key: str | None


@dataclass(frozen=True)
class Plan:
    """What a send would do: the run id and its deliveries, nothing sent yet."""

    run_id: str
    release: Release
    renderings: tuple[Rendering, ...]
    deliveries: tuple[Delivery, ...]


def make_plan(release: Release, renderings: Sequence[Rendering]) -> Plan:
    """Plan a run. The run id is derived from the release and the exact posts, so sending
    the same release again continues the same run instead of publishing again."""
    content = canonical(
        [[r.channel.name, [[p.target, p.text, p.subject] for p in r.posts]] for r in renderings]
    )
    run_id = "run-" + _sha(f"{release.id}\x00{content}")[:12]
    deliveries: list[Delivery] = []
    planned_at = now()
    for r in renderings:
        parents: dict[str, str] = {}
        for post in r.posts:
            key = delivery_key(run_id, r.channel.name, post.target, post.index)
            stamped = replace(post, planned_at=planned_at)
            deliveries.append(
                Delivery(
                    key,
                    len(deliveries) + 1,
                    r.channel.name,
                    post.target,
                    stamped,
                    parents.get(post.target),
                )
            )
            parents[post.target] = key
    return Plan(run_id, release, tuple(renderings), tuple(deliveries))


def prepare(
    ws: Workspace,
    release_arg: str,
    channels: Sequence[str] = (),
    *,
    to: Sequence[str] = (),
    refresh_limits: bool = False,
) -> Plan:
    """Load, validate and render a release for its channels, and plan the run.

    With `refresh_limits`, each channel's server is asked for its current limits first
    (a send does this); otherwise the limits cached by the last send or `channels test`."""
    release = load_release(ws.release_path(release_arg))
    config = ws.config
    if channels:
        names = list(channels)
        for name in names:
            config.channel(name)
    elif release.channels is not None:
        names = list(release.channels)
        for name in names:
            if name not in config.channels:
                raise release.error(
                    "channels",
                    f'unknown channel "{name}"{did_you_mean(name, config.channels)}',
                    hint=f"channels in channels.toml: {', '.join(config.channels)}",
                )
    else:
        names = list(config.channels)
    configs = [config.channels[n] for n in names]
    groups = list(to) or list(release.audience)
    if not groups and not channels and release.channels is None:
        # "every channel" means every channel the release can use: people need an audience
        configs = [c for c in configs if not c.audience_only]
    if refresh_limits:
        published = asyncio.run(limits.refresh_limits(ws, configs))
    else:
        published = limits.cached_limits(ws)
    audience: list[Resolution] = []
    if groups and any(c.audience_only for c in configs):
        press = PressList(ws.lists_dir)
        for group in groups:
            try:
                audience.append(press.resolve(group))
            except InputError as exc:
                if to or exc.path is not None:
                    raise
                raise release.error("audience", exc.detail, exc.hint) from None
    elif to:
        raise InputError(
            f"the audience {', '.join(groups)} is addressed, but none of the channels "
            f"({', '.join(c.name for c in configs)}) delivers to people",
            hint='add an email channel (type = "email") or a Mastodon channel with visibility = "direct"',
        )
    renderings = render_release(release, configs, ws.templates_dir, published, audience)
    return make_plan(release, renderings)


@dataclass(frozen=True)
class Event:
    """Progress of a run, for the CLI's progress display."""

    kind: str  # planned | delivered | failed | skipped | in-doubt
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

    @property
    def ok(self) -> bool:
        return not (
            self.counts.get(FAILED) or self.counts.get(IN_DOUBT) or self.counts.get(SKIPPED)
        )


def check_embargo(
    ws: Workspace, posts: Sequence[Post], *, overridden: bool = False, at: datetime | None = None
) -> None:
    """Refuse to send anything before its embargo. The one exception is email to journalists
    from a channel with embargo_notice = true, whose messages carry the embargo line."""
    at = at or clock.now()
    for post in posts:
        if not post.embargo or post.embargo <= at or overridden:
            continue
        config = ws.config.channels.get(post.channel)
        if isinstance(config, EmailConfig) and config.embargo_notice:
            continue
        raise InputError(
            f'release "{post.release_id}" is under embargo until {post.embargo.isoformat()}: nothing was sent',
            hint="schedule it (prcast schedule add), or, if it must go now, "
            '--break-embargo --reason "..." (audited)',
        )


def record_plan(ws: Workspace, plan: Plan) -> bool:
    """Store the planned run and audit it; False when the run already exists."""
    store = Store(ws.store_path)
    try:
        if store.run(plan.run_id):
            return False
        stamp = now()
        release = plan.release
        excluded = [(r.channel.name, e) for r in plan.renderings for e in r.excluded]
        AuditLog(ws.audit_path).append(
            "run.planned",
            run=plan.run_id,
            release=release.id,
            release_path=str(release.path),
            release_sha256=release.sha256,
            channels=[r.channel.name for r in plan.renderings],
            deliveries=[
                {"key": d.key, "channel": d.channel, "target": d.target, "group": d.post.group,
                 "part": d.post.index, "parts": d.post.total, "text_sha256": _sha(d.post.text)}
                for d in plan.deliveries
            ],
            excluded=[{"channel": ch, "group": e.group, "recipient": e.recipient, "reason": e.reason}
                      for ch, e in excluded],
        )  # fmt: skip
        rows = [
            DeliveryRow(d.key, plan.run_id, d.seq, d.channel, d.target, d.post.index, d.post.total,
                        d.parent_key, post_to_dict(d.post), PLANNED, None, None, None, 0, stamp,
                        grp=d.post.group)
            for d in plan.deliveries
        ]  # fmt: skip
        seq = len(rows)
        for channel, e in excluded:
            seq += 1
            status = SUPPRESSED if e.reason.startswith("suppressed") else UNADDRESSED
            rows.append(
                DeliveryRow(delivery_key(plan.run_id, channel, "excluded:" + e.recipient, 0), plan.run_id, seq,
                            channel, e.recipient, 0, 0, None, {}, status, None, None, e.reason, 0, stamp,
                            grp=e.group)
            )  # fmt: skip
        store.insert_run(
            RunRow(
                plan.run_id, release.id, str(release.path), release.sha256, stamp, stamp, PLANNED
            ),
            rows,
        )
        return True
    finally:
        store.close()


class Gate:
    """Per channel: at most `concurrency` requests in flight, at most `per_minute` a minute,
    no faster than the service's rate-limit headers allow, and paused after a 429."""

    def __init__(
        self, concurrency: int, per_minute: int | None = None, rate: RateState | None = None
    ) -> None:
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.rate = rate
        self.next_start = 0.0
        self.hold_until = 0.0
        self.pace = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        """Start nothing for `seconds` (the service said so)."""
        self.hold_until = max(self.hold_until, asyncio.get_running_loop().time() + seconds)

    async def __aenter__(self) -> None:
        await self.slots.acquire()
        async with self.pace:
            loop = asyncio.get_running_loop()
            now = loop.time()
            wait = max(
                self.next_start - now,
                self.hold_until - now,
                self.rate.wait(time.time()) if self.rate else 0.0,
            )
            if wait > 0:
                await asyncio.sleep(wait)
            self.next_start = max(loop.time(), self.next_start) + self.interval

    async def __aexit__(self, *exc: object) -> None:
        self.slots.release()


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
    return Fault(message, False, False)


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: about base, 2*base, 4*base ... at most 60 s."""
    delay: float = min(60.0, base * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)


class _Runner:
    def __init__(
        self,
        ws: Workspace,
        store: Store,
        audit: AuditLog,
        run_id: str,
        on_event: Callable[[Event], None],
        resend_in_doubt: bool,
    ) -> None:
        self.ws, self.store, self.audit, self.run_id = ws, store, audit, run_id
        self.on_event = on_event
        self.resend_in_doubt = resend_in_doubt
        self.gates: dict[str, Gate] = {}

    def _record(self, row: DeliveryRow, type: str, **data: Any) -> None:
        self.audit.append(
            type,
            run=self.run_id,
            key=row.key,
            channel=row.channel,
            target=row.target,
            part=row.part,
            **data,
        )

    def _mark(self, row: DeliveryRow, status: str, message: str) -> None:
        self._record(row, f"delivery.{status}", reason=message)
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

                    async def commit(attempt: int = attempt) -> None:
                        self._record(row, "delivery.attempted", parts=row.parts, attempt=attempt,
                                     text_sha256=_sha(post.text))  # fmt: skip
                        self.store.update_delivery(row.key, ATTEMPTING, attempt=True)

                    if getattr(channel, "commits_late", False):
                        # the adapter says when the request becomes irreversible (email: DATA)
                        publish: Any = channel.publish
                        receipt = await publish(post, row.key, parent, commit=commit)
                    else:
                        await commit()
                        receipt = await channel.publish(post, row.key, parent)
                    return receipt, ("", "")
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
                self._record(
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
                self._mark(row, SKIPPED, blocked)
                continue
            in_doubt = row.status in (ATTEMPTING, IN_DOUBT)
            if in_doubt and not channel.dedupes and not self.resend_in_doubt:
                self._mark(row, IN_DOUBT, "sent before without a recorded answer; not sent again")
                blocked = f"part {row.part} is in doubt"
                continue
            post = post_from_dict(row.post)
            receipt, failure = await self._attempt(channel, row, post, parent)
            if receipt is None:
                status, message = failure
                self._mark(row, status, message)
                blocked = f"part {row.part} {'is in doubt' if status == IN_DOUBT else 'failed'}"
                continue
            self._record(
                row,
                "delivery.succeeded",
                remote_id=receipt.remote_id,
                url=receipt.url,
                duplicate=receipt.duplicate,
                receipt=receipt.extra,
            )
            self.store.update_delivery(
                row.key,
                DELIVERED,
                remote_id=receipt.remote_id,
                url=receipt.url,
                receipt=receipt.extra,
            )
            self.on_event(
                Event(DELIVERED, row.channel, row.key, row.part, row.parts, receipt.url or "")
            )
            parent = receipt


def _reconcile(store: Store, audit: AuditLog, rows: list[DeliveryRow]) -> list[DeliveryRow]:
    """Bring the store in line with the audit log, the durable record: an answer that reached
    the log but not the store counts as delivered, and a request the log says left, with no
    answer recorded, is in doubt even if the store lost that (a power cut)."""
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


def run_deliveries(
    ws: Workspace,
    run_id: str,
    on_event: Callable[[Event], None] = lambda e: None,
    *,
    resend_in_doubt: bool = False,
    new_run: bool = False,
) -> Outcome:
    """Deliver every delivery of a run that is not delivered yet."""
    store = Store(ws.store_path)
    audit = AuditLog(ws.audit_path)
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
            names = sorted({r.channel for r in pending})
            channels = {
                n: open_channel(ws.config.channel(n), ws.root, ws.templates_dir) for n in names
            }
            for name in names:
                on_event(Event("planned", name, total=sum(1 for r in rows if r.channel == name)))
            audit.append(
                "run.started" if new_run else "run.resumed", run=run_id, pending=len(pending)
            )
            store.set_run_status(run_id, "running")
            runner = _Runner(ws, store, audit, run_id, on_event, resend_in_doubt)

            async def main() -> None:
                try:
                    threads: dict[tuple[str, str], list[DeliveryRow]] = {}
                    for row in rows:  # in plan order; a thread's parts in part order
                        threads.setdefault((row.channel, row.target), []).append(row)
                    for name, channel in channels.items():
                        config = ws.config.channel(name)
                        runner.gates[name] = Gate(
                            getattr(channel, "concurrency", 1),
                            config.max_per_minute,
                            getattr(channel, "rate", None),
                        )
                    await asyncio.gather(
                        *(
                            runner.thread(channels[ch], sorted(group, key=lambda r: r.part))
                            for (ch, _), group in threads.items()
                            if ch in channels
                        )
                    )
                finally:
                    for channel in channels.values():
                        await channel.close()

            asyncio.run(main())
        final = store.deliveries(run_id)
        for r in final:
            outcome.counts[r.status] = outcome.counts.get(r.status, 0) + 1
        status = "complete" if outcome.ok else "incomplete"
        if pending:
            audit.append("run.finished", run=run_id, status=status, counts=outcome.counts)
        store.set_run_status(run_id, status)
        audit.checkpoint()  # signed at the end of every run (prcast/checkpoint.py)
        return outcome
    finally:
        store.close()


def preflight(ws: Workspace, plan: Plan, *, break_embargo: str | None = None) -> None:
    """Everything that can refuse a send before anything is stored or sent: the policy, the
    approvals, the embargo, the secrets, the frequency cap. Refusals and overrides are audited."""
    from prcast import policy

    rules = policy.load_policy(ws.root)
    audit = AuditLog(ws.audit_path)
    release = plan.release
    try:
        policy.enforce(rules, release)
    except policy.PolicyError as exc:
        audit.append("policy.blocked", release=release.id, release_sha256=release.sha256,
                     findings=policy.finding_records(exc.findings))  # fmt: skip
        raise
    if rules.required_approvals:  # from a verified chain; check_approvals checks each signature
        approvals = policy.approvals_of(audit.verified_records(), release.id)
        policy.check_approvals(rules, approvals, release, policy.content_digests(plan.renderings))
    early = [d.post for d in plan.deliveries if d.post.embargo and d.post.embargo > clock.now()]
    check_embargo(ws, early, overridden=bool(break_embargo))
    if early and break_embargo:
        import getpass

        audit.append("embargo.broken", run=plan.run_id, release=release.id,
                     embargo=early[0].embargo.isoformat() if early[0].embargo else None,
                     reason=break_embargo, by=getpass.getuser())  # fmt: skip
    for r in plan.renderings:
        for secret in r.channel.secrets():
            secret.resolve()
    check_frequency(ws, plan)


def check_frequency(ws: Workspace, plan: Plan) -> None:
    """Refuse a send that would post more than a channel's `posts_per_hour` (anti-spam)."""
    capped = [
        r for r in plan.renderings if r.channel.posts_per_hour and not r.channel.audience_only
    ]
    if not capped:
        return
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="microseconds")
    store = Store(ws.store_path)
    try:
        for r in capped:
            cap = r.channel.posts_per_hour or 0
            recent = store.delivered_since(r.channel.name, hour_ago, exclude_run=plan.run_id)
            done = (
                {d.key for d in store.deliveries(plan.run_id) if d.status == DELIVERED}
                if store.run(plan.run_id)
                else set()
            )
            new = sum(
                1 for d in plan.deliveries if d.channel == r.channel.name and d.key not in done
            )
            if new and recent + new > cap:
                raise InputError(
                    f'channel "{r.channel.name}": {new} more post(s) would make {recent + new} in the last hour, '
                    f"over its frequency cap of {cap} (posts_per_hour): nothing was sent",
                    hint="wait, or raise posts_per_hour in channels.toml if this really must go out now",
                )
    finally:
        store.close()


def send(
    ws: Workspace,
    plan: Plan,
    on_event: Callable[[Event], None] = lambda e: None,
    *,
    resend_in_doubt: bool = False,
    break_embargo: str | None = None,
    checked: bool = False,
) -> Outcome:
    """Record the plan (once) and deliver what is not delivered yet (after `preflight`,
    unless the caller ran it already: `checked`)."""
    if not checked:
        preflight(ws, plan, break_embargo=break_embargo)
    new = record_plan(ws, plan)
    return run_deliveries(ws, plan.run_id, on_event, resend_in_doubt=resend_in_doubt, new_run=new)
