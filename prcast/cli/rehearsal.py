"""What `prcast send --dry-run` shows: exactly what would go, nothing sent.

For each channel its posts with their counts as the platform counts them and their media;
for email, each message's headers and both parts. A large list shows the first message of
each channel and language in full and counts the rest (`--all` shows them all, `--out DIR`
writes every message to a file): building a MIME message per recipient only to count it
would make the rehearsal of a 100,000-member group slow.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prcast import clock
from prcast.cli.common import console, print_json
from prcast.fileio import write_output

if TYPE_CHECKING:
    from prcast.delivery import Delivery, Plan
    from prcast.workspace import Workspace


@dataclass
class Shown:
    """One channel's rehearsal: the messages shown in full, and how many more there are."""

    channel: str
    type: str
    rule: str
    limit: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    more: Counter[str] = field(default_factory=Counter)


def _decoded(value: Any) -> str:
    """A header as a person reads it (RFC 2047 words decoded)."""
    try:
        return str(make_header(decode_header(str(value))))
    except (UnicodeError, LookupError, ValueError):
        return str(value)


def email_view(msg: Message) -> dict[str, Any]:
    """The headers, text and HTML parts and attachments of one email message."""
    view: dict[str, Any] = {
        "headers": {k: _decoded(v) for k, v in msg.items()},
        "text": None,
        "html": None,
        "attachments": [],
    }
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename():
            view["attachments"].append(
                {
                    "filename": part.get_filename(),
                    "type": part.get_content_type(),
                    "bytes": len(data),
                    "alt": _decoded(part.get("Content-Description", "")),
                }
            )
        elif part.get_content_type() in ("text/plain", "text/html"):
            text = data.decode(part.get_content_charset() or "utf-8", errors="replace")
            view["text" if part.get_content_type() == "text/plain" else "html"] = text
    return view


def _post_view(d: Delivery) -> dict[str, Any]:
    p = d.post
    return {
        "part": p.index,
        "parts": p.total,
        "target": p.target,
        "text": p.text,
        "length": p.length,
        "limit": p.limit,
        "over": p.length > p.limit,
        "media": [{"path": str(m.path), "alt": m.alt} for m in p.media],
    }


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", name)[:120]


def collect(
    ws: Workspace, plan: Plan, every: bool = False, out: Path | None = None
) -> tuple[list[Shown], list[Path]]:
    """Walk the plan once: the channels with what to show in full, and the files written."""
    from prcast.channels.email import Composer, build_message
    from prcast.config import EmailConfig

    shown = {
        r.channel.name: Shown(
            r.channel.name,
            r.channel.type,
            r.channel.rule,
            r.posts[0].limit if r.posts else r.channel.limit,
        )
        for r in plan.renderings
    }
    configs = {r.channel.name: r.channel for r in plan.renderings}
    first_target: dict[str, str] = {}
    seen_language: set[tuple[str, str]] = set()
    written: list[Path] = []
    composers: dict[str, Composer] = {}
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from prcast.errors import InputError

            raise InputError(f"--out {out}: cannot create the folder: {exc.strerror}") from None
    for n, d in enumerate(plan.deliveries, 1):
        view = shown[d.channel]
        config = configs[d.channel]
        if d.post.index == 1:
            view.messages += 1
        if isinstance(config, EmailConfig):
            slot = (d.channel, d.post.language)
            full = every or slot not in seen_language
            seen_language.add(slot)
            if not full and out is None:
                view.more[d.post.language] += 1
                continue
            composer = composers.get(d.channel) or composers.setdefault(d.channel, Composer(config))
            msg = build_message(config, d.post, d.key, composer)
            if full:
                view.emails.append(
                    {"to": d.post.target, "language": d.post.language, **email_view(msg)}
                )
            else:
                view.more[d.post.language] += 1
            if out is not None:
                path = out / d.channel / f"{n:06d}-{_safe(d.post.target)}.eml"
                path.parent.mkdir(exist_ok=True)
                write_output(path, msg.as_bytes())
                written.append(path)
            continue
        first = first_target.setdefault(d.channel, d.target)
        if every or d.target == first:
            view.posts.append(_post_view(d))
        elif d.post.index == 1:
            view.more[d.post.language] += 1
        if out is not None:
            name = f"{n:06d}-{_safe(d.target)}-part{d.post.index}.txt"
            path = out / d.channel / name
            path.parent.mkdir(exist_ok=True)
            write_output(path, d.post.text)
            written.append(path)
    return list(shown.values()), written


def held_until(plan: Plan) -> str | None:
    """The embargo a real send would wait for (ISO 8601), when it lies ahead."""
    embargo = plan.release.embargo
    return embargo.isoformat() if embargo is not None and embargo > clock.now() else None


def rehearse(
    ws: Workspace, plan: Plan, every: bool = False, out: Path | None = None, as_json: bool = False
) -> None:
    """Print (or, with `as_json`, emit as JSON) what a send of `plan` would do."""
    channels, written = collect(ws, plan, every, out)
    held = held_until(plan)
    if as_json:
        print_json(
            {
                "run": plan.run_id,
                "release": plan.release.id,
                "dry_run": True,
                "embargo": plan.release.embargo.isoformat() if plan.release.embargo else None,
                "held_until": held,
                "channels": [
                    {
                        "channel": c.channel,
                        "type": c.type,
                        "rule": c.rule,
                        "limit": c.limit,
                        "messages": c.messages,
                        "posts": c.posts,
                        "emails": c.emails,
                        "more": dict(c.more),
                    }
                    for c in channels
                ],
                "written": [str(p) for p in written],
            }
        )
        return
    _print(ws, channels, written, plan, held)


def _print(
    ws: Workspace, channels: list[Shown], written: list[Path], plan: Plan, held: str | None
) -> None:
    from rich.panel import Panel
    from rich.text import Text

    con = console()
    zone = ws.timezone
    for c in channels:
        con.print(Text(f"{c.channel} ({c.type}, {c.rule} counting, limit {c.limit})", style="bold"))
        for p in c.posts:
            body = Text(p["text"])
            if p["over"]:
                body.stylize("on red", p["limit"])
            count = Text(f"{p['length']}/{p['limit']}", style="bold red" if p["over"] else "green")
            title = f"part {p['part']}/{p['parts']}" + (
                f" to {p['target']}" if p["target"] != "public" else ""
            )
            con.print(Panel(body, title=title, subtitle=count, expand=False))
            for m in p["media"]:
                con.print(f"  media: {m['path']} (alt: {m['alt']})", markup=False)
        for e in c.emails:
            con.print(f"--- email to {e['to']} ({e['language']}) ---", markup=False)
            for name, value in e["headers"].items():
                con.print(f"{name}: {value}", markup=False, highlight=False)
            con.print("--- text/plain ---", style="dim", markup=False)
            con.print(e["text"] or "(none)", markup=False, highlight=False)
            con.print("--- text/html ---", style="dim", markup=False)
            con.print(e["html"] or "(none)", markup=False, highlight=False)
            for a in e["attachments"]:
                con.print(
                    f"attachment: {a['filename']} ({a['type']}, {a['bytes']} bytes; alt: {a['alt']})",
                    markup=False,
                )
        for language, n in sorted(c.more.items()):
            kind = "messages" if c.type == "email" else "more targets"
            con.print(
                f"... and {n} more {kind} in language {language} "
                "(--all shows them, --out DIR writes them)",
                markup=False,
            )
    if written:
        con.print(f"wrote {len(written)} file(s) under {written[0].parent.parent}", markup=False)
    if held is not None and plan.release.embargo is not None:
        local = plan.release.embargo.astimezone(zone)
        con.print(
            f"Under embargo: a real send would hold it until {local:%Y-%m-%d %H:%M %Z} "
            f"({held}); schedule it with `prcast schedule add`.",
            style="yellow",
            markup=False,
        )
    con.print("Dry run: nothing was sent.")
