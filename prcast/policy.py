"""Confidentiality policy (policy.toml), embargo and approvals: what may go out, and when.

policy.toml holds terms and code names that block or warn, customers that may not be named
without permission, regular-expression rules (optionally only before a date, such as a
results date), an allow-list, and how many approvals a release needs."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import regex as regexlib

from prcast.errors import InputError, did_you_mean, location
from prcast.fileio import read_input
from prcast.release import Release
from prcast.tomlfile import TomlDocument, parse_toml

#: seconds one [[patterns]] rule may spend on one text (a release, an answer) in total;
#: a regex that backtracks catastrophically is stopped there and reported
PATTERN_BUDGET = 0.25

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
    regex: regexlib.Pattern[str]
    action: str  # block | warn
    until: datetime | None = None
    message: str = ""
    #: where the rule stands in policy.toml, for errors
    path: Path | None = None
    line: int | None = None


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
    doc = parse_toml(read_input(path), path)
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
    given = data.get("patterns", [])
    if not isinstance(given, list):
        raise doc.error(("patterns",), '"patterns" must be [[patterns]] tables')
    for i, p in enumerate(given):
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
        for key in ("name", "regex", "message"):
            if key in p and not isinstance(p[key], str):
                raise doc.error((*where, key), f"patterns: {key} must be a string")
        regex = _compile(doc, where, p["name"], p["regex"])
        action = p.get("action", "block")
        if action not in ("block", "warn"):
            raise doc.error(
                (*where, "action"), f'pattern "{p["name"]}": action must be "block" or "warn"'
            )
        until = p.get("until")
        if until is not None and not _aware(until):
            raise doc.error(
                (*where, "until"),
                f'pattern "{p["name"]}": until must be a date-time with a time zone (and in range)',
            )
        patterns.append(
            Pattern(
                p["name"],
                regex,
                action,
                until,
                p.get("message", ""),
                path=path,
                line=doc.line_of((*where, "regex")),
            )
        )
    approvals = data.get("required_approvals", 0)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or not 0 <= approvals <= 100:
        raise doc.error(
            ("required_approvals",), "required_approvals must be a whole number from 0 to 100"
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


def _aware(value: Any) -> bool:
    """A date-time with a time zone that converts to UTC (year 1 or 9999 with an offset does not)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return False
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return True


def _compile(
    doc: TomlDocument, where: tuple[str | int, ...], name: str, source: str
) -> regexlib.Pattern[str]:
    try:
        regex = regexlib.compile(source)
    except (regexlib.error, OverflowError, RecursionError, ValueError) as exc:
        raise doc.error((*where, "regex"), f'pattern "{name}": invalid regex: {exc}') from None
    try:
        empty = regex.fullmatch("", timeout=PATTERN_BUDGET) is not None
    except TimeoutError:
        empty = False
    if empty:
        raise doc.error(
            (*where, "regex"), f'pattern "{name}": the regex matches empty text (every line)'
        )
    return regex


def _term(term: str) -> regexlib.Pattern[str]:
    return regexlib.compile(rf"(?<!\w){regexlib.escape(term)}(?!\w)", regexlib.IGNORECASE)


def check_release(policy: Policy, release: Release, now: datetime | None = None) -> list[Finding]:
    """Every finding of the policy in the release's text, with its line in the file."""
    text = read_input(release.path, what="release file")
    lines = text.splitlines()
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "+++"), 0)
    return check_text(policy, text, now, front_matter_end=end, source=location(release.path, None))


def _timed_out(pattern: Pattern, number: int, source: str) -> InputError:
    return InputError(
        f'pattern "{pattern.name}" ran longer than {PATTERN_BUDGET} s on line {number} of '
        f"{source} and was stopped: the regex backtracks catastrophically",
        path=pattern.path,
        line=pattern.line,
        hint="rewrite it without nested repetition such as (a+)+ or (a|a)*",
    )


def check_text(
    policy: Policy,
    text: str,
    now: datetime | None = None,
    *,
    front_matter_end: int = 0,
    source: str = "the text",
) -> list[Finding]:
    """Every finding of the policy in `text`, with its line (a conference answer, say).

    Each [[patterns]] rule has PATTERN_BUDGET seconds for the whole text; a rule that takes
    longer is an InputError naming the rule's line in policy.toml."""
    now = now or datetime.now(UTC)
    lines = text.splitlines()
    end = front_matter_end
    allowed = [_term(a) for a in policy.allow]
    rules: list[tuple[str, str, regexlib.Pattern[str], str]] = []
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
    patterns = [p for p in policy.patterns if p.until is None or now < p.until]
    for p in patterns:
        until = f" before {p.until.isoformat()}" if p.until else ""
        rules.append((p.name, p.action, p.regex, p.message or f'matches "{p.name}"{until}'))
    terms = len(rules) - len(patterns)
    spent = [0.0] * len(rules)
    findings = []
    for number, line in enumerate(lines, start=1):
        if 1 < number <= end and line.lstrip().startswith("#"):
            continue  # a comment in the front matter is not published
        spans = [m.span() for a in allowed for m in a.finditer(line)]
        for i, (rule, action, regex, message) in enumerate(rules):
            user_rule = i >= terms  # terms are escaped literals: they cannot backtrack
            started = time.perf_counter()
            try:
                matches = list(
                    regex.finditer(line, timeout=max(0.001, PATTERN_BUDGET - spent[i]))
                    if user_rule
                    else regex.finditer(line)
                )
            except TimeoutError:
                raise _timed_out(patterns[i - terms], number, source) from None
            if user_rule:
                spent[i] += time.perf_counter() - started
            for m in matches:
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


def has_rules(policy: Policy) -> bool:
    """Whether the policy can find anything at all (an empty policy costs nothing)."""
    return bool(policy.blocked_terms or policy.warn_terms or policy.customers or policy.patterns)
