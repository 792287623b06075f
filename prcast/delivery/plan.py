"""Planning: a release rendered for its channels becomes one Delivery per publication
("release R, edition e, on channel C, to target T, part k"), each keyed by that identity,
and a run that lists them. The key does not depend on the run, the channel selection or the
time of planning, so a wider selection, a re-plan or a resume finds what was published."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import getpass
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from prcast import clock, limits
from prcast.audit import canonical
from prcast.channels import Post
from prcast.errors import InputError, did_you_mean
from prcast.lists import PressList, Resolution
from prcast.release import Link, Media, Release, load_release
from prcast.render import Rendering, render_release, with_fields
from prcast.store import (
    PLANNED,
    PUBLISHED,
    SUPPRESSED,
    UNADDRESSED,
    Conflict,
    DeliveryRow,
    RunRow,
    now,
)
from prcast.store.migrations import content_digest, publication_identity, release_key_of, sha
from prcast.workspace import Workspace

PUBLIC = "public"


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
    #: the key of the thread's first part (a thread is claimed as one chain)
    chain: str = ""


@dataclass(frozen=True)
class Plan:
    """What a send would do: the run id and its deliveries, nothing sent yet."""

    run_id: str
    release: Release
    renderings: tuple[Rendering, ...]
    deliveries: tuple[Delivery, ...]
    #: the release's identity in the ledger: its front-matter `id`, else its workspace path
    release_key: str = ""
    edition: int = 1
    #: the workspace's random id (part of every key)
    workspace: str = ""


def release_key(ws: Workspace, release: Release) -> str:
    """A release's identity in the publication ledger."""
    return release.key or release_key_of(str(release.path), ws.root)


def _planned(post: Post, planned_at: str) -> Post:
    """`replace(post, planned_at=...)` without its per-call field checks (a plan of 100,000
    emails spent seconds there, and a second in copy.copy)."""
    return with_fields(post, planned_at=planned_at)


def make_plan(
    release: Release,
    renderings: Sequence[Rendering],
    workspace: str,
    key: str = "",
    edition: int = 1,
    planned_at: str = "",
) -> Plan:
    """Plan a run. Each delivery is keyed by its publication (release, edition, channel,
    target, part); the run id comes from the release and the exact posts, so sending the
    same release the same way again continues the same run. `planned_at`: the moment the
    posts were rendered for (now when not given); a post stamped with it is not copied."""
    key = key or release.id
    content = canonical(
        [[r.channel.name, [[p.target, p.text, p.subject] for p in r.posts]] for r in renderings]
    )
    run_id = "run-" + sha(f"{workspace}\x00{key}\x00{edition}\x00{content}")[:12]
    deliveries: list[Delivery] = []
    planned_at = planned_at or now()
    for r in renderings:
        parents: dict[str, str] = {}
        firsts: dict[str, str] = {}
        channel = r.channel.name
        for post in r.posts:
            target = post.target
            dkey = publication_identity(workspace, key, edition, channel, target, post.index)
            first = firsts.setdefault(target, dkey)
            if post.planned_at != planned_at:  # emails come stamped (render_release)
                post = _planned(post, planned_at)
            delivery = Delivery(dkey, len(deliveries) + 1, channel, target, post,
                                parents.get(target), first)  # fmt: skip
            deliveries.append(delivery)
            parents[target] = dkey
    return Plan(run_id, release, tuple(renderings), tuple(deliveries), key, edition, workspace)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Python's cycle collector paused while a plan is built: planning makes a few objects
    per recipient, none in a cycle, and the collector walking them again and again took a
    third of the time of a plan for 100,000 recipients. It runs as before afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare(
    ws: Workspace,
    release_arg: str,
    channels: Sequence[str] = (),
    *,
    to: Sequence[str] = (),
    refresh_limits: bool = False,
    on_unreachable: Any = None,
) -> Plan:
    """Load, validate and render a release for its channels, and plan the run.

    With `refresh_limits`, each channel's server is asked for its current limits first
    (a send does this); otherwise the limits cached by the last send or `channels test`.
    A server that cannot be asked keeps its cached limits (`on_unreachable(name, reason)`)."""
    with _collection_paused():
        return _prepare(ws, release_arg, channels, to=to, refresh_limits=refresh_limits,
                        on_unreachable=on_unreachable)  # fmt: skip


def _prepare(
    ws: Workspace,
    release_arg: str,
    channels: Sequence[str] = (),
    *,
    to: Sequence[str] = (),
    refresh_limits: bool = False,
    on_unreachable: Any = None,
) -> Plan:
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
        published = asyncio.run(limits.refresh_limits(ws, configs, on_unreachable))
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
    planned_at = now()
    renderings = render_release(
        release, configs, ws.templates_dir, published, audience, planned_at=planned_at
    )
    key = release_key(ws, release)
    workspace, edition = ledger_position(ws, key)
    return make_plan(release, renderings, workspace, key, edition, planned_at)


def ledger_position(ws: Workspace, key: str) -> tuple[str, int]:
    """The workspace's id and the release's current edition, for planning."""
    store = ws.store()
    try:
        return store.workspace_id(), store.edition(key)
    finally:
        store.close()


#: the rows of the last plan asked for: a send asks three times (the ledger pre-check,
#: record_plan's check and its insert), and each row hashes its post's canonical JSON
_last_rows: tuple[Plan, list[DeliveryRow]] | None = None


def _rows(plan: Plan) -> list[DeliveryRow]:
    global _last_rows
    if _last_rows is not None and _last_rows[0] is plan:
        return _last_rows[1]
    rows = _plan_rows(plan)
    _last_rows = (plan, rows)
    return rows


def _plan_rows(plan: Plan, only: set[str] | None = None) -> list[DeliveryRow]:
    """The plan's rows for the ledger; `only`: just the deliveries with these identities
    (and none of the excluded recipients)."""
    stamp = now()
    rows = []
    for d in plan.deliveries:
        if only is not None and d.key not in only:
            continue
        post = post_to_dict(d.post)
        rows.append(
            DeliveryRow(d.key, plan.run_id, d.seq, d.channel, d.target, d.post.index, d.post.total,
                        d.parent_key, post, PLANNED, None, None, None, 0, stamp, grp=d.post.group,
                        identity=d.key, chain=d.chain, content_sha256=content_digest(post))
        )  # fmt: skip
    if only is not None:
        return rows
    seq = len(rows)
    for r in plan.renderings:
        for e in r.excluded:
            seq += 1
            status = SUPPRESSED if e.reason.startswith("suppressed") else UNADDRESSED
            identity = publication_identity(
                plan.workspace, plan.release_key, plan.edition, r.channel.name,
                "excluded:" + e.recipient, 0,
            )  # fmt: skip
            rows.append(
                DeliveryRow(identity, plan.run_id, seq, r.channel.name, e.recipient, 0, 0, None,
                            {}, status, None, None, e.reason, 0, stamp, grp=e.group,
                            identity=identity, chain=identity, content_sha256=content_digest({}))
            )  # fmt: skip
    return rows


def ledger_conflicts(ws: Workspace, plan: Plan) -> list[Conflict]:
    """The publications of the plan that went out before with another text (read only)."""
    store = ws.store()
    try:
        if _last_rows is not None and _last_rows[0] is plan:
            return store.conflicts(_last_rows[1])
        # only a publication the world may have seen can conflict: the others' texts are not
        # serialised and hashed for this check (a dry run to 100,000 spent a third of its
        # time there). Excluded recipients are never sent, so never published.
        known = store.published([d.key for d in plan.deliveries])
        seen = {identity for identity, row in known.items() if row.status in PUBLISHED}
        return store.conflicts(_plan_rows(plan, only=seen)) if seen else []
    finally:
        store.close()


def conflict_error(plan: Plan, conflicts: Sequence[Conflict], zone: tzinfo = UTC) -> InputError:
    """The refusal of an edit after publication: which channels, when (in `zone`, the
    workspace's), and what to do."""
    by_channel: dict[str, list[Conflict]] = {}
    for c in conflicts:
        by_channel.setdefault(c.channel, []).append(c)
    lines = []
    for channel, items in by_channel.items():
        when = sorted(c.published_at for c in items if c.published_at)
        seen = f"published {clock.shown(when[0], zone)}" if when else "sent, answer unknown"
        what = "post" if len(items) == 1 else "posts"
        lines.append(
            f"  {channel}: {len(items)} {what} with the earlier text ({seen}, run {items[0].run_id})"
        )
    release = plan.release
    return InputError(
        f'release "{release.id}" changed after it was published; nothing was sent. '
        "Publishing it again would put a second copy on:\n" + "\n".join(lines),
        path=release.path,
        hint="publish a correction instead (prcast correct, planned), or, to publish the edited "
        'text as a new release on purpose: prcast send ... --new-edition --reason "..." (audited)',
    )


def record_plan(ws: Workspace, plan: Plan) -> bool:
    """Record the planned run against the ledger and audit it; False when the run existed.
    A publication the world may have seen with another text refuses the whole plan."""
    store = ws.store()
    try:
        release = plan.release
        rows = _rows(plan)
        run = RunRow(plan.run_id, release.id, str(release.path), release.sha256, now(), now(),
                     PLANNED, plan.release_key)  # fmt: skip
        existed = store.run(plan.run_id) is not None
        if not existed:
            conflicts = ledger_conflicts(ws, plan)
            if conflicts:
                raise conflict_error(plan, conflicts, ws.timezone)
            # the durable record first: a crash after it leaves a plan the store may lack
            excluded = [(r.channel.name, e) for r in plan.renderings for e in r.excluded]
            ws.audit().append(
                "run.planned",
                run=plan.run_id,
                release=release.id,
                release_key=plan.release_key,
                edition=plan.edition,
                release_path=str(release.path),
                release_sha256=release.sha256,
                channels=[r.channel.name for r in plan.renderings],
                deliveries=[
                    {"key": d.key, "channel": d.channel, "target": d.target, "group": d.post.group,
                     "part": d.post.index, "parts": d.post.total, "text_sha256": sha(d.post.text)}
                    for d in plan.deliveries
                ],
                excluded=[{"channel": ch, "group": e.group, "recipient": e.recipient, "reason": e.reason}
                          for ch, e in excluded],
            )  # fmt: skip
        new, conflicts = store.record_run(run, rows, plan.edition)
        if conflicts:
            raise conflict_error(plan, conflicts, ws.timezone)
        return new
    finally:
        store.close()


def new_edition(ws: Workspace, plan: Plan, reason: str) -> int:
    """Make the release's next edition (audited with who, where and why): it is then
    published afresh on every channel it is sent to."""
    store = ws.store()
    try:
        edition = store.new_edition(plan.release_key)
    finally:
        store.close()
    ws.audit().append(
        "release.new_edition",
        release=plan.release.id,
        release_key=plan.release_key,
        edition=edition,
        reason=reason,
        by=getpass.getuser(),
        host=socket.gethostname(),
    )
    return edition
