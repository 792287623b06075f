"""A conference's definition: conferences/NAME.toml, read and checked (every error names
the file and line), and written to fill in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from prcast.config import BlueskyConfig, MastodonConfig
from prcast.errors import InputError, did_you_mean
from prcast.fileio import read_input, write_output
from prcast.tomlfile import parse_toml
from prcast.workspace import Workspace

KINDS = ("announcement", "opening", "closing")
DEFAULT_TEMPLATES = {k: f"conference/{k}.txt.j2" for k in KINDS}
FIELDS = {
    "title",
    "channels",
    "hashtag",
    "start",
    "end",
    "timezone",
    "host",
    "moderators",
    "language",
    "templates",
}


@dataclass(frozen=True)
class Conference:
    """A conference definition: conferences/NAME.toml."""

    name: str
    path: Path
    title: str
    channels: tuple[str, ...]
    hashtag: str  # without the "#"
    start: datetime  # UTC
    end: datetime  # UTC
    zone: str
    host: str
    moderators: tuple[str, ...]
    language: str
    templates: Mapping[str, str]
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.zone))

    def error(self, key: str, message: str, hint: str | None = None) -> InputError:
        return InputError(message, path=self.path, line=self.lines.get(key), hint=hint)


def conferences_dir(ws: Workspace) -> Path:
    return ws.root / "conferences"


def names(ws: Workspace) -> list[str]:
    d = conferences_dir(ws)
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def resolve_name(ws: Workspace, name: str | None) -> str:
    """The conference meant: `name`, or the only one the workspace has."""
    known = names(ws)
    if name:
        if name.endswith(".toml"):
            name = Path(name).stem
        if name not in known:
            raise InputError(
                f'no conference "{name}" in {conferences_dir(ws)}{did_you_mean(name, known)}',
                hint="`prcast conference new NAME` writes one to fill in",
            )
        return name
    if len(known) == 1:
        return known[0]
    if not known:
        raise InputError(
            f"no conference defined: {conferences_dir(ws)} has no .toml file",
            hint="`prcast conference new NAME` writes one to fill in",
        )
    raise InputError(
        f"this workspace has {len(known)} conferences ({', '.join(known)}): say which",
        hint="add --conference NAME",
    )


def _strings(doc: Any, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise doc.error((key,), f'field "{key}" must be a list of strings, e.g. {key} = ["a", "b"]')
    return tuple(v.strip() for v in value)


def load(ws: Workspace, name: str) -> Conference:
    """Read and check conferences/NAME.toml; every error names the file and line."""
    from prcast.release import LANGUAGE_TAG
    from prcast.schedule import parse_when

    path = conferences_dir(ws) / f"{name}.toml"
    doc = parse_toml(read_input(path, what="conference file"), path)
    data = doc.data
    lines = {k[0]: doc.line_of(k) or 0 for k in doc.lines if len(k) == 1 and isinstance(k[0], str)}
    for key in data:
        if key not in FIELDS:
            raise doc.error(
                (key,),
                f'unknown field "{key}"{did_you_mean(key, FIELDS)}',
                hint=f"fields: {', '.join(sorted(FIELDS))}",
            )
    for key in ("title", "channels", "hashtag", "start", "end"):
        if key not in data:
            raise InputError(f'missing field "{key}"', path=path, line=1)

    def text(key: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise doc.error((key,), f'field "{key}" must be a non-empty string')
        return value.strip()

    channels = _strings(doc, "channels", data["channels"])
    if not channels:
        raise doc.error(("channels",), 'field "channels" names no channel')
    config = ws.config
    for ch in channels:
        if ch not in config.channels:
            raise doc.error(
                ("channels",),
                f'unknown channel "{ch}"{did_you_mean(ch, config.channels)}',
                hint=f"channels in channels.toml: {', '.join(config.channels)}",
            )
        c = config.channels[ch]
        if not isinstance(c, MastodonConfig | BlueskyConfig) or c.audience_only:
            raise doc.error(
                ("channels",),
                f'channel "{ch}" ({c.type}) cannot hold a conference: it needs a public '
                "Mastodon or Bluesky account that can take questions in",
            )
    hashtag = text("hashtag").lstrip("#")
    if not re.fullmatch(r"\w+", hashtag):
        raise doc.error(("hashtag",), f'hashtag "{hashtag}" may hold only letters, digits and _')
    zone = text("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise doc.error(
            ("timezone",),
            f'unknown time zone "{zone}"{did_you_mean(zone, available_timezones())}',
            hint="a name such as Europe/Berlin or UTC",
        ) from None
    when: dict[str, datetime] = {}
    for key in ("start", "end"):
        raw = data[key]
        value = raw.isoformat() if isinstance(raw, datetime) else text(key)
        has_offset = isinstance(raw, datetime) and raw.tzinfo is not None
        try:
            when[key], _ = parse_when(value if has_offset else f"{value.replace('T', ' ')} {zone}")
            when[key].astimezone(ZoneInfo(zone))  # year 9999 in a zone east of UTC overflows
        except InputError as exc:
            raise doc.error((key,), exc.detail, exc.hint) from None
        except (OverflowError, ValueError):
            raise doc.error((key,), f'field "{key}": "{value}" is out of range') from None
    if when["end"] <= when["start"]:
        raise doc.error(("end",), "the conference ends before it starts")
    language = text("language", "en")
    if not re.fullmatch(LANGUAGE_TAG, language):
        raise doc.error(("language",), f'"{language}" is not a language tag such as en or de-AT')
    templates = dict(DEFAULT_TEMPLATES)
    given = data.get("templates", {})
    if not isinstance(given, dict):
        raise doc.error(("templates",), 'field "templates" must be a table: [templates]')
    for key, value in given.items():
        if key not in KINDS:
            raise doc.error(
                ("templates", key),
                f'unknown template "{key}"{did_you_mean(key, KINDS)}',
                hint=f"templates: {', '.join(KINDS)}",
            )
        if not isinstance(value, str) or not value.strip():
            raise doc.error(("templates", key), f'template "{key}" must name a template file')
        if value.strip().startswith("/") or ".." in value.replace("\\", "/").split("/"):
            raise doc.error(
                ("templates", key),
                f'template "{key}": "{value}" lies outside the templates folder',
                hint="name a file in the workspace's templates/ folder",
            )
        templates[key] = value.strip()
    return Conference(
        name=name,
        path=path,
        title=text("title"),
        channels=channels,
        hashtag=hashtag,
        start=when["start"],
        end=when["end"],
        zone=zone,
        host=text("host", "our experts"),
        moderators=_strings(doc, "moderators", data.get("moderators", [])),
        language=language,
        templates=templates,
        lines=lines,
    )


def scaffold(ws: Workspace, name: str, channel: str, start: datetime, zone: str) -> Path:
    """Write conferences/NAME.toml to fill in."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError(f'"{name}" is not a usable name: letters, digits, ".", "-" and "_"')
    path = conferences_dir(ws) / f"{name}.toml"
    if path.exists():
        raise InputError(f"{path} exists already")
    local = start.astimezone(ZoneInfo(zone))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_output(  # a full disk leaves no empty file, which "exists already" would keep
        path,
        f'title = "Ask us anything: {name}"\n'
        f'channels = ["{channel}"]\n'
        f'hashtag = "{re.sub(r"[^A-Za-z0-9_]", "", name.title())}"\n'
        f'start = "{local:%Y-%m-%d %H:%M}"\n'
        f'end = "{local + timedelta(hours=1):%Y-%m-%d %H:%M}"\n'
        f'timezone = "{zone}"\n'
        'host = "our experts"\n'
        "moderators = []\n"
        'language = "en"\n'
        "\n"
        "# the posts' templates; a file of the same name in templates/ overrides the shipped one\n"
        "[templates]\n" + "".join(f'{k} = "{v}"\n' for k, v in DEFAULT_TEMPLATES.items()),
    )
    return path
