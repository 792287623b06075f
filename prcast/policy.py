"""Confidentiality policy (policy.toml), embargo and approvals: what may go out, and when.

policy.toml holds terms and code names that block or warn, customers that may not be named
without permission, regular-expression rules (optionally only before a date, such as a
results date), an allow-list, and how many approvals a release needs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prcast.errors import InputError, did_you_mean
from prcast.release import Release
from prcast.tomlfile import parse_toml

KEYS = (
    "blocked_terms",
    "warn_terms",
    "customers",
    "customers_allowed",
    "allow",
    "patterns",
    "required_approvals",
    "approval_ttl",
)
PATTERN_KEYS = ("name", "regex", "action", "until", "message")


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: re.Pattern[str]
    action: str  # block | warn
    until: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class Policy:
    path: Path | None = None
    blocked_terms: tuple[str, ...] = ()
    warn_terms: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    customers_allowed: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    required_approvals: int = 0
    #: an approval older than this no longer counts
    approval_ttl: timedelta | None = None


@dataclass(frozen=True)
class Finding:
    rule: str
    action: str  # block | warn
    line: int
    text: str
    message: str

    def show(self, release: Release) -> str:
        from prcast.errors import location

        return f"{location(release.path, self.line)}: {self.action}: {self.rule}: {self.message}"


class PolicyError(InputError):
    """A release blocked by the policy: every blocking finding, each with its line."""

    def __init__(self, release: Release, findings: list[Finding]) -> None:
        self.findings = findings
        lines = "\n".join(f.show(release) for f in findings)
        super().__init__(
            f"blocked by the confidentiality policy ({len(findings)} finding{'s' * (len(findings) != 1)}):\n{lines}",
            hint="remove or reword these, or change policy.toml if they are cleared for release",
        )


def load_policy(workspace_root: Path) -> Policy:
    """policy.toml of the workspace (an empty policy when there is none)."""
    path = workspace_root / "policy.toml"
    if not path.exists():
        return Policy()
    doc = parse_toml(path.read_text(encoding="utf-8"), path)
    data = doc.data
    for key in data:
        if key not in KEYS:
            raise doc.error((key,), f'unknown key "{key}"{did_you_mean(key, KEYS)}')

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise doc.error((key,), f'"{key}" must be a list of non-empty strings')
        return tuple(v.strip() for v in value)

    patterns = []
    for i, p in enumerate(data.get("patterns", [])):
        where = ("patterns", i)
        if not isinstance(p, dict):
            raise doc.error(where, "each [[patterns]] entry must be a table")
        for key in p:
            if key not in PATTERN_KEYS:
                raise doc.error(
                    (*where, key), f'patterns: unknown key "{key}"{did_you_mean(key, PATTERN_KEYS)}'
                )
        if "name" not in p or "regex" not in p:
            raise doc.error(where, "a pattern needs a name and a regex")
        try:
            regex = re.compile(str(p["regex"]))
        except re.error as exc:
            raise doc.error(
                (*where, "regex"), f'pattern "{p["name"]}": invalid regex: {exc}'
            ) from None
        action = p.get("action", "block")
        if action not in ("block", "warn"):
            raise doc.error(
                (*where, "action"), f'pattern "{p["name"]}": action must be "block" or "warn"'
            )
        until = p.get("until")
        if until is not None and (not isinstance(until, datetime) or until.tzinfo is None):
            raise doc.error(
                (*where, "until"),
                f'pattern "{p["name"]}": until must be a date-time with a time zone',
            )
        patterns.append(Pattern(str(p["name"]), regex, action, until, str(p.get("message", ""))))
    approvals = data.get("required_approvals", 0)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or approvals < 0:
        raise doc.error(
            ("required_approvals",), "required_approvals must be a whole number, 0 or more"
        )
    ttl = None
    if "approval_ttl" in data:
        from prcast.approvals import parse_ttl

        try:
            ttl = parse_ttl(data["approval_ttl"])
        except ValueError:
            raise doc.error(
                ("approval_ttl",), 'approval_ttl must be a duration such as "90m", "48h" or "7d"'
            ) from None
    return Policy(
        path=path,
        approval_ttl=ttl,
        blocked_terms=strings("blocked_terms"),
        warn_terms=strings("warn_terms"),
        customers=strings("customers"),
        customers_allowed=strings("customers_allowed"),
        allow=strings("allow"),
        patterns=tuple(patterns),
        required_approvals=approvals,
    )


def _term(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def check_release(policy: Policy, release: Release, now: datetime | None = None) -> list[Finding]:
    """Every finding of the policy in the release's text, with its line in the file."""
    text = release.path.read_text(encoding="utf-8")
    lines = text.splitlines()
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "+++"), 0)
    return check_text(policy, text, now, front_matter_end=end)


def check_text(
    policy: Policy, text: str, now: datetime | None = None, *, front_matter_end: int = 0
) -> list[Finding]:
    """Every finding of the policy in `text`, with its line (a conference answer, say)."""
    now = now or datetime.now(UTC)
    lines = text.splitlines()
    end = front_matter_end
    allowed = [_term(a) for a in policy.allow]
    rules: list[tuple[str, str, re.Pattern[str], str]] = []
    for t in policy.blocked_terms:
        rules.append(("blocked term", "block", _term(t), f'"{t}" is a blocked term or code name'))
    for t in policy.warn_terms:
        rules.append(("warn term", "warn", _term(t), f'"{t}" is on the warning list'))
    cleared = {c.lower() for c in policy.customers_allowed}
    for c in policy.customers:
        if c.lower() not in cleared:
            rules.append(
                (
                    "customer",
                    "block",
                    _term(c),
                    f'customer "{c}" may not be named without permission',
                )
            )
    for p in policy.patterns:
        if p.until is None or now < p.until:
            until = f" before {p.until.isoformat()}" if p.until else ""
            rules.append((p.name, p.action, p.regex, p.message or f'matches "{p.name}"{until}'))
    findings = []
    for number, line in enumerate(lines, start=1):
        if 1 < number <= end and line.lstrip().startswith("#"):
            continue  # a comment in the front matter is not published
        spans = [m.span() for a in allowed for m in a.finditer(line)]
        for rule, action, regex, message in rules:
            for m in regex.finditer(line):
                if any(s <= m.start() and m.end() <= e for s, e in spans):
                    continue
                findings.append(Finding(rule, action, number, m.group(0), message))
    return findings


def enforce(policy: Policy, release: Release) -> list[Finding]:
    """Raise PolicyError on blocking findings; return the warnings."""
    findings = check_release(policy, release)
    blocking = [f for f in findings if f.action == "block"]
    if blocking:
        raise PolicyError(release, blocking)
    return findings


def finding_records(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]


def content_digests(renderings: Sequence[Any]) -> dict[str, str]:
    """Per channel, the SHA-256 of exactly what would be sent (every post, subject, target)."""
    out = {}
    for r in renderings:
        h = hashlib.sha256()
        for p in r.posts:
            for part in (p.target, str(p.index), p.subject, p.text):
                h.update(part.encode("utf-8") + b"\x00")
        out[r.channel.name] = h.hexdigest()
    return out


def approvals_of(records: Sequence[dict[str, Any]], release_id: str) -> list[dict[str, Any]]:
    """The release.approved records of a release, oldest first."""
    return [
        r for r in records if r.get("type") == "release.approved" and r.get("release") == release_id
    ]


def check_approvals(
    policy: Policy,
    approvals: Sequence[dict[str, Any]],
    release: Release,
    digests: dict[str, str],
    now: datetime | None = None,
) -> list[str]:
    """The registered approvers whose signed approval covers exactly this content and has
    not expired; InputError when too few. Each signature is checked here: a record in the
    audit log is not trusted for saying who approved."""
    from prcast import approvals as signed

    needed = policy.required_approvals
    if not needed:
        return []
    approvers = signed.load_approvers(policy.path.parent) if policy.path else []
    standings = signed.judge(approvals, digests, approvers, policy.approval_ttl, now)
    valid = signed.counted(standings, approvers)
    if len(valid) >= needed:
        return valid
    reasons = []
    changed = sorted({ch for s in standings if s.signed and s.registered for ch in s.changed})
    if changed:
        reasons.append(
            f"the text for channel(s) {', '.join(changed)} changed after it was approved"
        )
    unsigned = sum(1 for s in standings if not s.signed)
    if unsigned:
        reasons.append(f"{unsigned} approval record(s) without a valid signature ignored")
    unknown = sum(1 for s in standings if s.signed and s.registered is None)
    if unknown:
        reasons.append(f"{unknown} approval(s) by keys not in approvers.toml ignored")
    expired = sum(1 for s in standings if s.signed and s.registered and s.expired and not s.changed)
    if expired:
        reasons.append(f"{expired} approval(s) expired (approval_ttl)")
    detail = "; ".join(
        [*reasons, f"{len(valid)} of {needed} required approvals cover the current text"]
    )
    hint = (
        f"prcast approve {release.path.name} (each registered approver, with their own key)"
        if approvers
        else 'no approvers registered: each approver runs `prcast approver init --name "..."` '
        "and their key is added with `prcast approver add`"
    )
    raise InputError(
        f'release "{release.id}" is not approved: {detail}: nothing was sent',
        path=release.path,
        hint=hint,
    )
