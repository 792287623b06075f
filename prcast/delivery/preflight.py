"""Everything that can refuse a send before anything is stored or sent: the policy over
every rendered byte, the approvals, the embargo (against the real clock), the ledger (an
edit after publication), the secrets, the frequency cap. Refusals and overrides are audited."""

from __future__ import annotations

import getpass
import html
import re
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prcast import clock
from prcast.audit import AuditLog
from prcast.channels import Post
from prcast.config import EmailConfig
from prcast.delivery.plan import Plan, conflict_error, ledger_conflicts
from prcast.errors import InputError
from prcast.store import DELIVERED, stamp
from prcast.workspace import Workspace

if TYPE_CHECKING:
    from prcast.policy import Policy


def check_embargo(
    ws: Workspace, posts: Sequence[Post], *, overridden: bool = False, at: datetime | None = None
) -> None:
    """Refuse to send anything before its embargo. The one exception is email to journalists
    from a channel with embargo_notice = true, whose messages carry the embargo line.
    `at` is the real clock: no setting moves it."""
    at = at or clock.now()
    for post in posts:
        if not post.embargo or post.embargo <= at or overridden:
            continue
        config = ws.config.channels.get(post.channel)
        if isinstance(config, EmailConfig) and config.embargo_notice:
            continue
        until = post.embargo.astimezone(ws.timezone).isoformat()  # as the team reads clocks
        raise InputError(
            f'release "{post.release_id}" is under embargo until {until}'
            f" ({ws.config.timezone}): nothing was sent",
            hint="schedule it (prcast schedule add), or, if it must go now, "
            '--break-embargo --reason "..." (audited)',
        )


_TAG = re.compile(r"<[^>]*>")


def _published_fields(post: Post) -> Iterator[tuple[str, str]]:
    """Every text of a post that its receiver sees, named for a finding."""
    yield "text", post.text
    if post.subject:
        yield "subject", post.subject
    if post.html:
        yield "HTML part", html.unescape(_TAG.sub(" ", post.html))
    if post.title:
        yield "title", post.title
    if post.content_warning:
        yield "content warning", post.content_warning
    for i, m in enumerate(post.media, start=1):
        yield f"alt text of image {i}", m.alt
    for link in post.links:
        yield "link", f"{link.url} {link.title or ''}".strip()
    for tag in post.hashtags:
        yield "hashtag", "#" + tag


def policy_findings(
    ws: Workspace, posts: Sequence[Post]
) -> tuple[list[str], list[dict[str, object]]]:
    """The confidentiality policy over every rendered byte that would be sent (texts,
    subjects, HTML parts, alt texts, links, hashtags), so a term a template adds is caught
    like one in the release: (lines naming channel, part, field and match; audit records)."""
    from prcast import policy

    rules = policy.load_policy(ws.root)
    if not policy.has_rules(rules):
        return [], []
    records: list[dict[str, object]] = []
    lines: list[str] = []
    seen: dict[str, list[policy.Finding]] = {}
    shown: set[tuple[str, str, str, str]] = set()
    for post in posts:
        for name, text in _published_fields(post):
            found = seen.get(text)
            if found is None:
                found = [f for f in policy.check_text(rules, text) if f.action == "block"]
                seen[text] = found
            for f in found:
                records.append({"channel": post.channel, "part": post.index,
                                "target": post.target, "field": name, "rule": f.rule,
                                "match": f.text, "line": f.line})  # fmt: skip
                if (post.channel, name, f.rule, f.text) in shown:
                    continue
                shown.add((post.channel, name, f.rule, f.text))
                where = f"{post.channel} part {post.index}/{post.total}"
                if post.target and post.target != "public":
                    where += f" to {post.target}"
                lines.append(f'  {where}, {name} line {f.line}: {f.rule}: "{f.text}" ({f.message})')
    return lines, records


def _refuse(
    audit: AuditLog,
    lines: list[str],
    records: list[dict[str, object]],
    run_id: str = "",
    release: dict[str, object] | None = None,
) -> None:
    audit.append("policy.blocked", run=run_id or None, findings=records[:200],
                 total=len(records), **(release or {}))  # fmt: skip
    more = len(records) - len(lines)
    in_file = sum(1 for r in records if "file" in r)
    sent = len(records) - in_file
    counts = [f"{in_file} finding{'s' * (in_file != 1)} in the release"] if in_file else []
    counts += [f"{sent} in what would be sent"] if sent else []
    raise InputError(
        f"blocked by the confidentiality policy ({', '.join(counts)}):\n"
        + "\n".join(lines[:50])
        + (f"\n  ... and {more} more in other posts or recipients" if more > 0 else ""),
        hint="a match may come from a template (workspace or channel) rather than the release: "
        "reword it there, or change policy.toml if it is cleared for release; nothing was sent",
    )


def check_posts_policy(
    ws: Workspace, posts: Sequence[Post], audit: AuditLog, run_id: str = ""
) -> None:
    """Refuse posts the policy blocks (see `policy_findings`)."""
    lines, records = policy_findings(ws, posts)
    if records:
        _refuse(audit, lines, records, run_id)


def check_content(
    ws: Workspace, plan: Plan, rules: Policy, audit: AuditLog, *, ledger: bool = True
) -> list[dict[str, Any]]:
    """What a send checks in what it would send, whenever and wherever it is sent: the
    policy over the release file and every rendered byte, the ledger (unless `ledger` is
    false, as for a new edition), the approvals over the exact text. Returns the approval
    records that covered it (none when the policy asks for none)."""
    from prcast import policy

    release = plan.release
    in_file = [f for f in policy.check_release(rules, release) if f.action == "block"]
    lines, records = policy_findings(ws, [d.post for d in plan.deliveries])
    if in_file or records:
        lines += [f"  {f.show(release)}" for f in in_file]
        records += [{"file": str(release.path), **r} for r in policy.finding_records(in_file)]
        _refuse(audit, lines, records, plan.run_id,
                {"release": release.id, "release_sha256": release.sha256})  # fmt: skip
    if ledger:
        conflicts = ledger_conflicts(ws, plan)
        if conflicts:
            raise conflict_error(plan, conflicts, ws.timezone)
    if not rules.required_approvals:
        return []
    # from a verified chain; check_approvals checks each signature
    approvals = policy.approvals_of(audit.verified_records(), release.id)
    policy.check_approvals(rules, approvals, release, policy.content_digests(plan.renderings))
    return approvals


def preflight(
    ws: Workspace,
    plan: Plan,
    *,
    break_embargo: str | None = None,
    new_edition: bool = False,
    rehearsal: bool = False,
) -> None:
    """Everything that can refuse a send before anything is stored or sent. A rehearsal
    (`send --dry-run`) sends nothing, so the embargo does not stop it."""
    from prcast import policy

    rules = policy.load_policy(ws.root)
    audit = ws.audit()
    release = plan.release
    check_content(ws, plan, rules, audit, ledger=not new_edition)
    early = [d.post for d in plan.deliveries if d.post.embargo and d.post.embargo > clock.now()]
    check_embargo(ws, early, overridden=bool(break_embargo) or rehearsal)
    if early and break_embargo and not rehearsal:
        audit.append("embargo.broken", run=plan.run_id, release=release.id,
                     embargo=early[0].embargo.isoformat() if early[0].embargo else None,
                     reason=break_embargo, by=getpass.getuser(), host=socket.gethostname())  # fmt: skip
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
    hour_ago = stamp(datetime.now(UTC) - timedelta(hours=1))
    store = ws.store()
    try:
        known = store.published([d.key for d in plan.deliveries])
        for r in capped:
            cap = r.channel.posts_per_hour or 0
            recent = store.delivered_since(r.channel.name, hour_ago)
            new = sum(
                1
                for d in plan.deliveries
                if d.channel == r.channel.name
                and (d.key not in known or known[d.key].status != DELIVERED)
            )
            if new and recent + new > cap:
                raise InputError(
                    f'channel "{r.channel.name}": {new} more post(s) would make {recent + new} in the last hour, '
                    f"over its frequency cap of {cap} (posts_per_hour): nothing was sent",
                    hint="wait, or raise posts_per_hour in channels.toml if this really must go out now",
                )
    finally:
        store.close()
