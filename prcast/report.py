"""Reports of a run, built only from the state store and the audit log."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any

from prcast.audit import AuditLog
from prcast.errors import InputError
from prcast.store import RunRow
from prcast.workspace import Workspace


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": asdict(self.run),
            "counts": self.counts,
            "groups": self.groups,
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
            "events": self.events,
        }


def list_runs(ws: Workspace) -> list[RunRow]:
    store = ws.store()
    try:
        return store.runs()
    finally:
        store.close()


def chain_status(log: AuditLog) -> tuple[bool, str]:
    """Whether the audit log verifies (its chain, and against every signed checkpoint
    prcast knows), and the sentence a report says about it."""
    from prcast.checkpoint import verify

    verdict = verify(Workspace(log.path.parent.parent))
    if not verdict.ok:
        return False, "AUDIT CHAIN BROKEN: " + "; ".join(verdict.problems)
    notes = []
    if verdict.checked:
        notes.append(f"matches the signed checkpoint of {verdict.checked[-1].checkpoint.size}")
    if verdict.torn:
        notes.append(f"a torn last line ({verdict.torn} bytes, a crash mid-append) left out")
    detail = "".join(f"; {n}" for n in notes)
    return True, f"audit chain verified ({verdict.records} records{detail})"


def latest_checkpoint(ws: Workspace) -> tuple[str, str] | None:
    """(signed note, verifier key) of the latest checkpoint signed with this account's key."""
    from prcast.checkpoint import latest, trusted_keys

    signed = latest(ws, trusted_keys())
    return (signed.note, signed.key.vkey) if signed else None


def build_report(ws: Workspace, run_id: str | None = None) -> Report:
    """The report of `run_id`, or of the most recently active run."""
    store = ws.store()
    try:
        run = store.run(run_id) if run_id else store.latest_run()
        if run is None:
            raise InputError(
                f'no run "{run_id}" in this workspace'
                if run_id
                else "no runs yet in this workspace",
                hint="send a release first: prcast send releases/example.md",
            )
        deliveries = store.deliveries(run.id)
    finally:
        store.close()
    log = ws.audit()
    audit_ok, audit_message = chain_status(log)
    scheduled: dict[str, Any] | None = None
    attempted: dict[str, str] = {}
    finished: dict[str, str] = {}
    events = []
    for rec in log.records():
        if rec.get("run") != run.id:
            continue
        events.append(
            {"seq": rec["seq"], "ts": rec["ts"], "type": rec["type"], "key": rec.get("key")}
        )
        if rec["type"] == "schedule.fired":
            scheduled = {"schedule": rec["schedule"], "due": rec["due"], "fired": rec["fired"],
                         "delay_seconds": rec["delay_seconds"]}  # fmt: skip
        key = rec.get("key")
        if not key:
            continue
        if rec["type"] == "delivery.attempted":
            attempted.setdefault(key, rec["ts"])
        elif rec["type"] in (
            "delivery.succeeded",
            "delivery.failed",
            "delivery.in-doubt",
            "delivery.skipped",
        ):
            finished[key] = rec["ts"]
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
        )
        for d in deliveries
    ]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    if scheduled is not None and attempted:
        scheduled["first_send"] = min(attempted.values())
    return Report(run, rows, counts, audit_ok, audit_message, events, scheduled,
                  latest_checkpoint(ws))  # fmt: skip


def _summary(report: Report) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))


IN_DOUBT_ADVICE = (
    "In doubt: the request left prcast but its answer was never recorded (a crash, a lost "
    "connection), and this channel cannot recognise a repeat, so prcast did not send it again. "
    "Check whether it arrived (the account's posts, or ask the recipient); if it did not, run "
    "`prcast resume {run} --resend-in-doubt`."
)

STATUSES = ("delivered", "failed", "in-doubt", "skipped", "suppressed", "no-address", "planned")


def _scheduled_line(s: dict[str, Any]) -> str:
    return (f"- Scheduled (#{s['schedule']}): due {s['due']}, fired {s['fired']} "
            f"({s['delay_seconds']:+.1f} s), first send {s.get('first_send', '-')}")  # fmt: skip


def to_markdown(report: Report) -> str:
    run = report.run
    out = [
        f"# Delivery report: {run.release_id}",
        "",
        f"- Run: `{run.id}` ({run.status})",
        f"- Release: `{run.release_path}` (sha256 `{run.release_sha256[:16]}…`)",
        f"- Planned: {run.created_at}; last activity: {run.updated_at}",
        f"- Deliveries: {_summary(report)}",
        *([_scheduled_line(report.scheduled)] if report.scheduled else []),
        f"- Audit: {report.audit_message}",
        "",
    ]
    if report.groups:
        out += [
            "## Per group",
            "",
            "| Group | " + " | ".join(STATUSES) + " |",
            "| --- |" + " --- |" * len(STATUSES),
        ]
        for group, counts in report.groups.items():
            out.append(f"| {group} | " + " | ".join(str(counts.get(s, 0)) for s in STATUSES) + " |")
        out.append("")
    doubtful = [r for r in report.rows if r.status == "in-doubt"]
    if doubtful:
        out += ["## In doubt", "", IN_DOUBT_ADVICE.format(run=run.id), ""]
        out += [
            f"- {r.channel} → {r.target} (part {r.part}/{r.parts}): {r.error or ''}"
            for r in doubtful
        ]
        out.append("")
    out += [
        "## Deliveries",
        "",
        "| Channel | Target | Part | Status | Remote id / URL | Sent at | Error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.rows:
        where = r.url or r.remote_id or ""
        err = (r.error or "").replace("|", "\\|")
        out.append(
            f"| {r.channel} | {r.target} | {r.part}/{r.parts} | {r.status} | {where} | {r.finished_at or ''} | {err} |"
        )
    if report.checkpoint:
        note, key = report.checkpoint
        out += ["", "## Audit checkpoint", "",
                f"Signed checkpoint of the audit log (verifier key `{key}`):", "",
                "```", note.rstrip("\n"), "```"]  # fmt: skip
    return "\n".join(out) + "\n"


def to_html(report: Report) -> str:
    run = report.run
    e = html.escape
    rows = "\n".join(
        f'<tr class="{e(r.status)}"><td>{e(r.channel)}</td><td>{e(r.target)}</td><td>{r.part}/{r.parts}</td>'
        f"<td>{e(r.status)}</td><td>{_link(r)}</td><td>{e(r.finished_at or '')}</td><td>{e(r.error or '')}</td></tr>"
        for r in report.rows
    )
    audit_class = "ok" if report.audit_ok else "broken"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Delivery report: {e(run.release_id)}</title>
<style>body{{font:15px/1.4 system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}.failed td,.in-doubt td{{background:#fdd}}
.broken{{color:#b00;font-weight:bold}}.ok{{color:#070}}</style></head><body>
<h1>Delivery report: {e(run.release_id)}</h1>
<ul><li>Run: <code>{e(run.id)}</code> ({e(run.status)})</li>
<li>Release: <code>{e(run.release_path)}</code></li>
<li>Planned: {e(run.created_at)}; last activity: {e(run.updated_at)}</li>
<li>Deliveries: {e(_summary(report))}</li>
{"<li>" + e(_scheduled_line(report.scheduled)[2:]) + "</li>" if report.scheduled else ""}
<li class="{audit_class}">Audit: {e(report.audit_message)}</li></ul>
{_groups_html(report)}{_doubt_html(report)}
<table><thead><tr><th>Channel</th><th>Target</th><th>Part</th><th>Status</th><th>Remote</th><th>Sent at</th><th>Error</th></tr></thead>
<tbody>
{rows}
</tbody></table>{_checkpoint_html(report)}</body></html>
"""


def _checkpoint_html(report: Report) -> str:
    if not report.checkpoint:
        return ""
    note, key = report.checkpoint
    e = html.escape
    return (f'<h2>Audit checkpoint</h2><p>Signed checkpoint of the audit log (verifier key '
            f"<code>{e(key)}</code>):</p><pre>{e(note)}</pre>")  # fmt: skip


def _doubt_html(report: Report) -> str:
    if not report.in_doubt:
        return ""
    e = html.escape
    items = "".join(
        f"<li>{e(r.channel)} → {e(r.target)} (part {r.part}/{r.parts})</li>"
        for r in report.in_doubt
    )
    return f'<h2 class="broken">In doubt</h2><p>{e(IN_DOUBT_ADVICE.format(run=report.run.id))}</p><ul>{items}</ul>'


def _groups_html(report: Report) -> str:
    if not report.groups:
        return ""
    e = html.escape
    head = "".join(f"<th>{e(s)}</th>" for s in STATUSES)
    body = "".join(
        f"<tr><td>{e(g)}</td>" + "".join(f"<td>{c.get(s, 0)}</td>" for s in STATUSES) + "</tr>"
        for g, c in report.groups.items()
    )
    return f"<h2>Per group</h2><table><thead><tr><th>Group</th>{head}</tr></thead><tbody>{body}</tbody></table><h2>Deliveries</h2>"


def _link(r: ReportRow) -> str:
    if r.url:
        return f'<a href="{html.escape(r.url)}">{html.escape(r.remote_id or r.url)}</a>'
    return html.escape(r.remote_id or "")
