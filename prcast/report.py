"""Reports of a run, or of a release across its runs, built only from the state store and the
audit log, and rendered from templates (templates/report/) in the release's language."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from prcast import i18n
from prcast.audit import AuditLog
from prcast.errors import InputError, PrcastError
from prcast.store import DeliveryRow, RunRow
from prcast.workspace import Workspace

#: every status a delivery row can end in, in the order a report lists them
STATUSES = ("delivered", "failed", "in-doubt", "skipped", "suppressed", "no-address", "planned")
#: statuses of rows that were never meant to be sent (a recipient excluded from the audience)
NOT_SENT = ("suppressed", "no-address")
FINISHED = ("delivery.succeeded", "delivery.failed", "delivery.in-doubt", "delivery.skipped")
OUTCOME = {"delivery.succeeded": "delivered", "delivery.failed": "failed",
           "delivery.in-doubt": "in-doubt", "delivery.retry": "retry"}  # fmt: skip
CSV_COLUMNS = ("run", "edition", "channel", "target", "part", "status", "time", "error", "url")


@dataclass(frozen=True)
class ReportRow:
    channel: str
    target: str
    part: int
    parts: int
    status: str
    remote_id: str | None
    url: str | None
    error: str | None
    attempts: int
    attempted_at: str | None
    finished_at: str | None
    group: str = ""
    run: str = ""
    edition: int = 1


@dataclass(frozen=True)
class Tally:
    """The summary figures of a channel, a group or the whole report."""

    name: str
    #: deliveries meant to be sent (recipients excluded from the audience not counted)
    planned: int = 0
    #: targets (a feed, a recipient) that received every part
    reached: int = 0
    delivered: int = 0
    failed: int = 0
    in_doubt: int = 0
    #: recipients left out: suppressed, opted out, without an address
    not_sent: int = 0
    #: not sent yet (the run is unfinished)
    pending: int = 0


@dataclass(frozen=True)
class ErrorGroup:
    """One cause of failure and every delivery it hit."""

    channel: str
    status: str
    message: str
    targets: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class Approval:
    """A release.approved record: who signed, when, over which text."""

    by: str
    at: str
    signed: bool
    #: the approver's name in approvers.toml, when the signing key is registered there
    registered: str | None
    release_sha256: str
    channels: dict[str, str]
    note: str | None
    #: whether the approved release file is the one the runs sent
    covers: bool


@dataclass(frozen=True)
class Override:
    """An embargo broken on purpose, or a new edition published on purpose (audited)."""

    kind: str  # "embargo" | "new-edition"
    at: str
    by: str
    host: str
    reason: str
    run: str | None = None
    edition: int | None = None
    embargo: str | None = None


@dataclass(frozen=True)
class RunInfo:
    run: RunRow
    edition: int = 1
    started: str | None = None
    finished: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One request that left prcast, and how it ended."""

    run: str
    channel: str
    target: str
    at: str
    outcome: str  # delivered | failed | in-doubt | retry | unanswered


@dataclass(frozen=True)
class Report:
    run: RunRow
    rows: list[ReportRow]
    counts: dict[str, int]
    audit_ok: bool
    audit_message: str
    events: list[dict[str, Any]] = field(default_factory=list)
    #: for a scheduled run: when it was due and when it fired
    scheduled: dict[str, Any] | None = None
    #: the latest signed audit checkpoint and its verifier key, published with every report
    checkpoint: tuple[str, str] | None = None
    title: str = ""
    language: str = "en"
    #: the time zone the report shows times in (IANA name, or the machine's zone name)
    zone: str = "UTC"
    #: every run the report covers, oldest first (one, or all of a release's)
    runs: list[RunInfo] = field(default_factory=list)
    #: set for the view of a release across its runs
    release: str | None = None
    embargo: str | None = None
    approvals: list[Approval] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    tz: tzinfo = UTC
    #: what the audit check found, for the report's own wording: records, the size of the
    #: signed checkpoint matched (0: none), the bytes of a torn last line left out
    audit_records: int = 0
    audit_checkpoint: int = 0
    audit_torn: int = 0

    @property
    def groups(self) -> dict[str, dict[str, int]]:
        """Per audience group: how many deliveries ended in each status."""
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            if r.group:
                counts = out.setdefault(r.group, {})
                counts[r.status] = counts.get(r.status, 0) + 1
        return out

    @property
    def failed(self) -> list[ReportRow]:
        return [r for r in self.rows if r.status in ("failed", "skipped")]

    @property
    def in_doubt(self) -> list[ReportRow]:
        return [r for r in self.rows if r.status == "in-doubt"]

    @property
    def total(self) -> Tally:
        return tally("", self.rows)

    @property
    def by_channel(self) -> list[Tally]:
        names = list(dict.fromkeys(r.channel for r in self.rows))
        return [tally(n, [r for r in self.rows if r.channel == n]) for n in names]

    @property
    def by_group(self) -> list[Tally]:
        names = list(dict.fromkeys(r.group for r in self.rows if r.group))
        return [tally(n, [r for r in self.rows if r.group == n]) for n in names]

    @property
    def errors(self) -> list[ErrorGroup]:
        return group_errors(self.rows)

    @property
    def published(self) -> list[ReportRow]:
        """Every delivered post with a web address (receipts' URLs), in run order."""
        return [r for r in self.rows if r.status == "delivered" and r.url]

    @property
    def started(self) -> str | None:
        found = [i.started for i in self.runs if i.started] or [
            r.attempted_at for r in self.rows if r.attempted_at
        ]
        return min(found) if found else None

    @property
    def finished(self) -> str | None:
        found = [i.finished for i in self.runs if i.finished] or [
            r.finished_at for r in self.rows if r.finished_at
        ]
        return max(found) if found else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "language": self.language,
            "timezone": self.zone,
            "release": self.release,
            "run": asdict(self.run),
            "runs": [
                {
                    **asdict(i.run),
                    "edition": i.edition,
                    "started": i.started,
                    "finished": i.finished,
                }
                for i in self.runs
            ],
            "counts": self.counts,
            "summary": {
                "total": _tally_dict(self.total),
                "channels": {t.name: _tally_dict(t) for t in self.by_channel},
                "groups": {t.name: _tally_dict(t) for t in self.by_group},
            },
            "groups": self.groups,
            "errors": [
                {
                    "channel": g.channel,
                    "status": g.status,
                    "message": g.message,
                    "count": g.count,
                    "targets": list(g.targets),
                }
                for g in self.errors
            ],
            "published": [
                {
                    "run": r.run,
                    "channel": r.channel,
                    "target": r.target,
                    "part": r.part,
                    "url": r.url,
                    "time": r.finished_at,
                }
                for r in self.published
            ],
            "embargo": self.embargo,
            "approvals": [asdict(a) for a in self.approvals],
            "overrides": [asdict(o) for o in self.overrides],
            "in_doubt": {
                "count": len(self.in_doubt),
                "advice": IN_DOUBT_ADVICE.format(run=self.run.id) if self.in_doubt else None,
            },
            "audit": {
                "verified": self.audit_ok,
                "message": self.audit_message,
                "checkpoint": self.checkpoint[0] if self.checkpoint else None,
                "key": self.checkpoint[1] if self.checkpoint else None,
            },
            "scheduled": self.scheduled,
            "deliveries": [asdict(r) for r in self.rows],
            "attempts": [asdict(a) for a in self.attempts],
            "events": self.events,
        }


def _tally_dict(t: Tally) -> dict[str, int]:
    return {k: v for k, v in asdict(t).items() if k != "name"}


def tally(name: str, rows: Sequence[ReportRow]) -> Tally:
    """Summary figures over some delivery rows."""
    status = [r.status for r in rows]
    parts: dict[tuple[str, str, str], list[str]] = {}
    for r in rows:
        if r.status not in NOT_SENT:
            parts.setdefault((r.run, r.channel, r.target), []).append(r.status)
    return Tally(
        name,
        planned=sum(1 for s in status if s not in NOT_SENT),
        reached=sum(1 for p in parts.values() if all(s == "delivered" for s in p)),
        delivered=status.count("delivered"),
        failed=status.count("failed") + status.count("skipped"),
        in_doubt=status.count("in-doubt"),
        not_sent=sum(1 for s in status if s in NOT_SENT),
        pending=sum(1 for s in status if s in ("planned", "attempting")),
    )


_AFTER_ATTEMPTS = re.compile(r" after \d+ attempts$")
_SPACE = re.compile(r"\s+")


def normalise_error(error: str, target: str, channel: str = "") -> str:
    """The cause of a failure without what differs per delivery (the recipient, the number
    of attempts) or what the report says beside it (the channel), so one cause is one line."""
    text = _AFTER_ATTEMPTS.sub("", error.strip()).removeprefix(f'channel "{channel}": ')
    if target and target != "public":
        text = text.replace(target, "…")
    return _SPACE.sub(" ", text)


def group_errors(rows: Iterable[ReportRow]) -> list[ErrorGroup]:
    """Failures, in-doubt and skipped deliveries grouped by cause, the most frequent first."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for r in rows:
        if r.status in ("failed", "in-doubt", "skipped"):
            key = (r.channel, r.status, normalise_error(r.error or "", r.target, r.channel))
            groups.setdefault(key, []).append(r.target if r.parts <= 1 else f"{r.target} ({r.part}/{r.parts})")  # fmt: skip
    out = [ErrorGroup(c, s, m, tuple(t)) for (c, s, m), t in groups.items()]
    return sorted(out, key=lambda g: -g.count)


def list_runs(ws: Workspace) -> list[RunRow]:
    store = ws.store()
    try:
        return store.runs()
    finally:
        store.close()


def chain_status(log: AuditLog) -> tuple[bool, str]:
    """Whether the audit log verifies (its chain, and against every signed checkpoint
    prcast knows), and the sentence a report says about it."""
    ok, message, _ = chain_figures(log)
    return ok, message


def chain_figures(log: AuditLog) -> tuple[bool, str, tuple[int, int, int]]:
    """`chain_status` and its figures: records, the signed checkpoint's size matched (0
    for none), the bytes of a torn last line left out — for a report to word itself."""
    from prcast.checkpoint import verify

    verdict = verify(Workspace(log.path.parent.parent))
    size = verdict.checked[-1].checkpoint.size if verdict.checked else 0
    figures = (verdict.records, size, verdict.torn)
    if not verdict.ok:
        return False, "AUDIT CHAIN BROKEN: " + "; ".join(verdict.problems), figures
    notes = []
    if verdict.checked:
        notes.append(f"matches the signed checkpoint of {size}")
    if verdict.torn:
        notes.append(f"a torn last line ({verdict.torn} bytes, a crash mid-append) left out")
    detail = "".join(f"; {n}" for n in notes)
    return True, f"audit chain verified ({verdict.records} records{detail})", figures


def latest_checkpoint(ws: Workspace) -> tuple[str, str] | None:
    """(signed note, verifier key) of the latest checkpoint signed with this account's key."""
    from prcast.checkpoint import latest, trusted_keys

    signed = latest(ws, trusted_keys())
    return (signed.note, signed.key.vkey) if signed else None


def workspace_zone(ws: Workspace) -> tuple[tzinfo, str]:
    """The time zone a report shows times in: the workspace's `timezone` setting
    (channels.toml) where it names one, else this machine's zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = _declared_zone(ws)
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    local = datetime.now().astimezone().tzinfo or UTC
    return local, datetime.now(local).tzname() or "UTC"


def _declared_zone(ws: Workspace) -> str | None:
    """The zone channels.toml names (a default the file does not state is not a choice)."""
    try:
        value = getattr(ws.config, "timezone", None)
    except PrcastError:  # a broken channels.toml does not keep the report from being read
        return None
    if isinstance(value, tzinfo):
        value = str(getattr(value, "key", "") or "")
    if not isinstance(value, str) or not value.strip():
        return None
    from prcast.tomlfile import parse_toml

    try:
        stated = (
            "timezone"
            in parse_toml(ws.channels_file.read_text(encoding="utf-8"), ws.channels_file).data
        )
    except (OSError, PrcastError, UnicodeDecodeError):
        stated = False
    return value.strip() if stated or value.strip() != "UTC" else None


def resolve_runs(ws: Workspace, release: str) -> tuple[str, list[RunRow]]:
    """The runs of a release named by its file (a path, or a name under releases/) or its id,
    oldest first, and the name the report gives it."""
    runs = list_runs(ws)
    wanted: set[str] = {release}
    try:
        path = ws.release_path(release)
    except InputError:
        path = None
    if path is not None:
        from prcast.delivery.plan import release_key
        from prcast.release import load_release

        try:
            loaded = load_release(path, ws.root)
            wanted |= {release_key(ws, loaded), loaded.id}
        except (PrcastError, OSError):
            pass
        wanted.add(str(path))
    found = [
        r
        for r in runs
        if r.release_key in wanted or r.release_id in wanted or r.release_path in wanted
    ]
    if not found:
        raise InputError(
            f'no run of release "{release}" in this workspace',
            hint="`prcast report --list` shows the runs and their releases",
        )
    return release, sorted(found, key=lambda r: r.created_at)


def build_report(
    ws: Workspace,
    run_id: str | None = None,
    *,
    release: str | None = None,
    language: str | None = None,
) -> Report:
    """The report of `run_id` (default: the most recently active run), or of every run of
    `release`; in `language` (default: the release's)."""
    if (
        language is not None
        and i18n.locale_of(language).language != language.replace("-", "_").split("_")[0].lower()
    ):
        raise InputError(
            f'--language "{language}" is not a language prcast knows',
            hint=f"a language tag such as {', '.join(i18n.shipped_languages())} or de-AT",
        )
    store = ws.store()
    try:
        if release is not None:
            name, runs = resolve_runs(ws, release)
        else:
            run = store.run(run_id) if run_id else store.latest_run()
            if run is None:
                raise InputError(
                    f'no run "{run_id}" in this workspace'
                    if run_id
                    else "no runs yet in this workspace",
                    hint="send a release first: prcast send releases/example.md",
                )
            name, runs = "", [run]
        deliveries: list[DeliveryRow] = []
        seen: set[str] = set()
        for run in runs:  # a publication two runs share is counted once, for the first
            for d in store.deliveries(run.id):
                if d.key not in seen:
                    seen.add(d.key)
                    deliveries.append(d)
    finally:
        store.close()
    return _assemble(ws, runs, deliveries, name or None, language)


def _assemble(
    ws: Workspace,
    runs: list[RunRow],
    deliveries: list[DeliveryRow],
    release: str | None,
    language: str | None,
) -> Report:
    log = ws.audit()
    audit_ok, audit_message, (audit_records, audit_size, audit_torn) = chain_figures(log)
    run_ids = {r.id for r in runs}
    latest = max(runs, key=lambda r: r.updated_at)
    release_ids = {r.release_id for r in runs}
    release_keys = {r.release_key for r in runs if r.release_key}
    sha256s = {r.release_sha256 for r in runs}
    scheduled: dict[str, Any] | None = None
    attempted: dict[str, str] = {}
    finished: dict[str, str] = {}
    editions: dict[str, int] = {}
    started: dict[str, str] = {}
    ended: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    attempts: dict[str, list[list[str]]] = {}  # key -> [[at, outcome], ...]
    targets: dict[str, tuple[str, str, str]] = {}
    approvals: list[dict[str, Any]] = []
    overrides: list[Override] = []
    for rec in log.records():
        kind = rec.get("type")
        if kind == "release.approved" and rec.get("release") in release_ids:
            approvals.append(rec)
            continue
        if kind == "release.new_edition" and (
            rec.get("release_key") in release_keys or rec.get("release") in release_ids
        ):
            overrides.append(Override("new-edition", rec["ts"], str(rec.get("by", "")),
                                      str(rec.get("host", "")), str(rec.get("reason", "")),
                                      edition=rec.get("edition")))  # fmt: skip
            continue
        run_id = rec.get("run")
        if run_id not in run_ids:
            continue
        events.append({"seq": rec["seq"], "ts": rec["ts"], "type": kind, "key": rec.get("key"),
                       "run": run_id})  # fmt: skip
        if kind == "run.planned":
            editions[run_id] = int(rec.get("edition") or 1)
        elif kind in ("run.started", "run.resumed"):
            started.setdefault(run_id, rec["ts"])
        elif kind == "run.finished":
            ended[run_id] = rec["ts"]
        elif kind == "embargo.broken":
            overrides.append(Override("embargo", rec["ts"], str(rec.get("by", "")),
                                      str(rec.get("host", "")), str(rec.get("reason", "")),
                                      run=run_id, embargo=rec.get("embargo")))  # fmt: skip
        elif kind == "schedule.fired":
            scheduled = {"schedule": rec["schedule"], "due": rec["due"], "fired": rec["fired"],
                         "delay_seconds": rec["delay_seconds"]}  # fmt: skip
        key = rec.get("key")
        if not key:
            continue
        if kind == "delivery.attempted":
            attempted.setdefault(key, rec["ts"])
            attempts.setdefault(key, []).append([rec["ts"], "unanswered"])
            targets[key] = (run_id, str(rec.get("channel", "")), str(rec.get("target", "")))
        elif kind in OUTCOME:
            items = attempts.setdefault(key, [])
            if items and items[-1][1] == "unanswered":
                items[-1][1] = OUTCOME[kind]
            else:  # refused before it was committed (email: at RCPT): an attempt all the same
                items.append([rec["ts"], OUTCOME[kind]])
                targets[key] = (run_id, str(rec.get("channel", "")), str(rec.get("target", "")))
        if kind in FINISHED:
            finished[key] = rec["ts"]
    first_run = {d.key: d.run_id for d in deliveries}
    rows = [
        ReportRow(
            d.channel,
            d.target,
            d.part,
            d.parts,
            d.status,
            d.remote_id,
            d.url,
            d.error,
            d.attempts,
            attempted.get(d.key),
            finished.get(d.key),
            d.grp,
            first_run[d.key] or "",
            editions.get(first_run[d.key] or "", 1),
        )
        for d in deliveries
    ]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    if scheduled is not None and attempted:
        scheduled["first_send"] = min(attempted.values())
    title, lang, embargo = _release_facts(ws, latest, deliveries)
    tz, zone = workspace_zone(ws)
    from prcast.approvals import load_approvers, signer_of

    try:
        registered = {a.key.public: a.name for a in load_approvers(ws.root)}
    except PrcastError:
        registered = {}
    judged = []
    for rec in approvals:
        vk = signer_of(rec)
        channels = rec.get("channels")
        judged.append(
            Approval(
                str(rec.get("by", "")),
                str(rec.get("signed_at") or rec.get("ts", "")),
                vk is not None,
                registered.get(vk.public) if vk is not None else None,
                str(rec.get("release_sha256", "")),
                dict(channels) if isinstance(channels, dict) else {},
                rec.get("note"),
                rec.get("release_sha256") in sha256s,
            )
        )
    wanted = {d.key for d in deliveries}
    tries = [
        Attempt(*targets[key], at, outcome)
        for key, items in attempts.items()
        if key in wanted
        for at, outcome in items
    ]
    infos = [RunInfo(r, editions.get(r.id, 1), started.get(r.id), ended.get(r.id)) for r in runs]
    return Report(latest, rows, counts, audit_ok, audit_message, events, scheduled,
                  latest_checkpoint(ws), title, language or lang, zone, infos, release, embargo,
                  judged, sorted(overrides, key=lambda o: o.at), sorted(tries, key=lambda a: a.at),
                  tz, audit_records, audit_size, audit_torn)  # fmt: skip


def _release_facts(
    ws: Workspace, run: RunRow, deliveries: Sequence[DeliveryRow]
) -> tuple[str, str, str | None]:
    """(title, language, embargo) of the release: from what was sent, else from its file."""
    public = [d.post for d in deliveries if d.post and d.target == "public"]
    posts = public or [d.post for d in deliveries if d.post]
    title = str(posts[0].get("title") or "") if posts else ""
    language = str(posts[0].get("language") or "") if public else ""
    embargo = next((str(p["embargo"]) for p in posts if p.get("embargo")), None)
    if not (title and language):
        from prcast.release import load_release

        try:
            loaded = load_release(Path(run.release_path), ws.root)
            title = title or loaded.title
            language = language or loaded.language
            if embargo is None and loaded.embargo is not None:
                embargo = loaded.embargo.isoformat()
        except (PrcastError, OSError):  # the file moved or changed: what was sent says enough
            pass
    return title or run.release_id, language or i18n.SOURCE_LANGUAGE, embargo


# -- rendering --------------------------------------------------------------------------------

IN_DOUBT_ADVICE = (
    "In doubt: the request left prcast but its answer was never recorded (a crash, a lost "
    "connection), and this channel cannot recognise a repeat, so prcast did not send it again. "
    "Check whether it arrived (the account's posts, or ask the recipient); if it did not, run "
    "`prcast resume {run} --resend-in-doubt`."
)


def _moment(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def human_time(report: Report, value: str | datetime | None, format: str = "medium") -> str:
    """A time as the report's language writes it, in the workspace's time zone."""
    moment = _moment(value)
    if moment is None:
        return ""
    return i18n.format_datetime(moment, report.language, report.tz, format=format)


def local_iso(report: Report, value: str | None) -> str:
    """ISO 8601 in the workspace's time zone (for CSV)."""
    moment = _moment(value)
    return moment.astimezone(report.tz).isoformat(timespec="seconds") if moment else ""


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    outcome: str
    label: str


@dataclass(frozen=True)
class Timeline:
    """The run drawn as attempts over time, one lane per channel (coordinates of an SVG)."""

    width: int
    height: int
    left: int
    right: int
    lanes: list[tuple[str, float]]
    marks: list[Mark]
    ticks: list[tuple[float, str]]
    lines: list[tuple[str, float, str]]  # (kind: start | end | embargo, x, label)


def timeline(report: Report) -> Timeline:
    """Lay out the timeline: the time axis spans the attempts, each run's start and end and
    the embargo when it lies near them."""
    width, left, right, top, lane_h = 960, 150, 930, 34, 34
    channels = list(dict.fromkeys([r.channel for r in report.rows if r.status not in NOT_SENT]))
    lanes = [(c, top + lane_h * (i + 0.5)) for i, c in enumerate(channels)]
    height = top + lane_h * max(1, len(lanes)) + 40
    times = [m for a in report.attempts if (m := _moment(a.at))]
    for info in report.runs:
        times += [m for v in (info.started, info.finished) if (m := _moment(v))]
    if not times:
        return Timeline(width, height, left, right, lanes, [], [], [])
    t0, t1 = min(times), max(times)
    embargo = _moment(report.embargo)
    span = max(t1 - t0, timedelta(seconds=60))
    if embargo is not None and t0 - span <= embargo <= t1 + span:
        t0, t1 = min(t0, embargo), max(t1, embargo)
    elif embargo is not None:
        embargo = None
    if t1 - t0 < timedelta(seconds=10):
        t1 = t0 + timedelta(seconds=10)
    total = (t1 - t0).total_seconds()

    def x(m: datetime) -> float:
        return round(left + (right - left) * (m - t0).total_seconds() / total, 1)

    y_of = dict(lanes)
    marks = []
    for a in report.attempts:
        m = _moment(a.at)
        if m is not None and a.channel in y_of:
            label = f"{a.channel} → {a.target}: {a.outcome}, {human_time(report, m)}"
            marks.append(Mark(x(m), y_of[a.channel], a.outcome, label))
    # the clock alone for a run within a day, the locale's short date and time across days
    pattern = "HH:mm:ss" if t1 - t0 < timedelta(hours=20) else "short"
    ticks = [
        (x(t0 + (t1 - t0) * i / 4), i18n.format_datetime(t0 + (t1 - t0) * i / 4, report.language,
                                                            report.tz, format=pattern))
        for i in range(5)
    ]  # fmt: skip
    lines: list[tuple[str, float, str]] = []
    for info in report.runs:
        if (s := _moment(info.started)) is not None:
            lines.append(("start", x(s), human_time(report, s)))
        if (e := _moment(info.finished)) is not None:
            lines.append(("end", x(e), human_time(report, e)))
    if embargo is not None:
        lines.append(("embargo", x(embargo), human_time(report, embargo)))
    return Timeline(width, height, left, right, lanes, marks, ticks, lines)


def _environment(templates: Path | None) -> Any:
    from prcast.render import environment

    return environment(templates)


def _context(report: Report) -> dict[str, Any]:
    return {
        "r": report,
        "language": report.language,
        "when": lambda v, f="medium": human_time(report, v, f),
        "timeline": timeline(report),
        "web": lambda url: isinstance(url, str) and url.startswith(("https://", "http://")),
        "md": _md_text,
    }


def _md_text(value: object) -> str:
    """User text (a title, an address, an error, a reason) inside the Markdown report: its
    HTML and Markdown neutralised, as the conference report does."""
    from prcast.conference.report import _md

    return _md(str(value or ""))


def _render(report: Report, name: str, templates: Path | None) -> str:
    from prcast.render import render_template

    return render_template(_environment(templates), f"report/{name}", _context(report))


def to_markdown(report: Report, templates: Path | None = None) -> str:
    """The report as Markdown (templates/report/report.md.j2)."""
    return _render(report, "report.md.j2", templates).rstrip("\n") + "\n"


def to_html(report: Report, templates: Path | None = None) -> str:
    """The report as one HTML page with an SVG timeline (templates/report/report.html.j2)."""
    return _render(report, "report.html.j2", templates).rstrip("\n") + "\n"


def to_text(report: Report, templates: Path | None = None) -> str:
    """The report as plain text for a terminal or a pipe (templates/report/report.txt.j2)."""
    return _render(report, "report.txt.j2", templates).rstrip("\n") + "\n"


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"


def to_csv(report: Report) -> str:
    """One row per delivery: run, edition, channel, target, part, status, time, error, url."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.rows:
        writer.writerow([r.run, r.edition, r.channel, r.target, r.part, r.status,
                         local_iso(report, r.finished_at or r.attempted_at), r.error or "",
                         r.url or ""])  # fmt: skip
    return buf.getvalue()
