"""channels.toml: the schema of every channel type and its validation with file:line errors."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from prcast.errors import InputError, did_you_mean, location
from prcast.secrets import SecretRef
from prcast.tomlfile import TomlDocument, parse_toml

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


@dataclass(frozen=True)
class ChannelConfig:
    """Settings every channel has; each channel type adds its own."""

    name: str
    type: ClassVar[str] = ""
    #: counting rule for text/counting.py and the default limit
    rule: ClassVar[str] = "plain"
    default_limit: ClassVar[int] = 5000
    #: the server publishes its limits (fetched on send, cached for render)
    server_limits: ClassVar[bool] = False
    #: images per post and bytes per image the service accepts (None: no limit known)
    max_media: ClassVar[int | None] = None
    media_bytes: ClassVar[int | None] = None
    template: str | None = None
    max_length: int | None = None
    #: delivery policy (delivery.py): attempts per delivery, seconds to keep retrying,
    #: the first backoff delay, a sending rate, and a cap on posts an hour (anti-spam)
    max_attempts: int = 5
    retry_for: int = 300
    retry_base: float = 1.0
    #: seconds to wait for the service's answer to one request
    timeout: float = 30.0
    max_per_minute: int | None = None
    posts_per_hour: int | None = None

    @property
    def limit(self) -> int:
        """The post length limit in this channel's counting rule."""
        return self.max_length or self.default_limit

    @property
    def audience_only(self) -> bool:
        """The channel delivers to the release's audience (people), not to a public feed."""
        return getattr(self, "visibility", None) == "direct"

    def secrets(self) -> list[SecretRef]:
        """The secrets this channel names (never their values)."""
        found = (getattr(self, f.name) for f in dataclasses.fields(self))
        return [v for v in found if isinstance(v, SecretRef)]

    def where(self) -> str:
        """Where this channel delivers, for people: server and account, room, URL or folder."""
        for attr in ("instance", "service", "homeserver", "url", "api_base", "host", "path"):
            if value := getattr(self, attr, None):
                account = getattr(self, "handle", None) or getattr(self, "room", None)
                return f"{value} {account}" if account else str(value)
        return ""


@dataclass(frozen=True)
class OutboxConfig(ChannelConfig):
    """The built-in press room: JSON files, an Atom feed and a static index in the workspace."""

    type: ClassVar[str] = "outbox"
    default_limit: ClassVar[int] = 100_000
    path: str = "outbox"
    title: str = "Press room"
    author: str = "Press office"
    base_url: str = "https://press.example.org/"


@dataclass(frozen=True)
class MastodonConfig(ChannelConfig):
    type: ClassVar[str] = "mastodon"
    rule: ClassVar[str] = "mastodon"
    default_limit: ClassVar[int] = 500
    server_limits: ClassVar[bool] = True
    max_media: ClassVar[int | None] = 4
    instance: str = ""
    token: SecretRef | None = None
    visibility: str = field(
        default="public", metadata=_choices("public", "unlisted", "private", "direct")
    )
    language: str | None = None


@dataclass(frozen=True)
class BlueskyConfig(ChannelConfig):
    type: ClassVar[str] = "bluesky"
    rule: ClassVar[str] = "bluesky"
    default_limit: ClassVar[int] = 300
    max_media: ClassVar[int | None] = 4
    media_bytes: ClassVar[int | None] = 1_000_000
    service: str = "https://bsky.social"
    handle: str = ""
    app_password: SecretRef | None = None


@dataclass(frozen=True)
class XConfig(ChannelConfig):
    type: ClassVar[str] = "x"
    rule: ClassVar[str] = "x"
    default_limit: ClassVar[int] = 280
    max_media: ClassVar[int | None] = 4
    media_bytes: ClassVar[int | None] = 5 * 1024 * 1024
    api_base: str = "https://api.x.com"
    consumer_key: SecretRef | None = None
    consumer_secret: SecretRef | None = None
    access_token: SecretRef | None = None
    access_token_secret: SecretRef | None = None


@dataclass(frozen=True)
class MatrixConfig(ChannelConfig):
    type: ClassVar[str] = "matrix"
    default_limit: ClassVar[int] = 30_000
    homeserver: str = ""
    room: str = ""
    token: SecretRef | None = None


#: message length limits of the chat services whose webhook formats prcast speaks
WEBHOOK_LIMITS = {"json": 100_000, "slack": 40_000, "discord": 2_000, "teams": 28_000}


@dataclass(frozen=True)
class WebhookConfig(ChannelConfig):
    type: ClassVar[str] = "webhook"
    default_limit: ClassVar[int] = 100_000
    url: str = ""
    secret: SecretRef | None = None
    format: str = field(default="json", metadata=_choices(*WEBHOOK_LIMITS))

    @property
    def limit(self) -> int:
        return self.max_length or WEBHOOK_LIMITS[self.format]


@dataclass(frozen=True)
class EmailConfig(ChannelConfig):
    type: ClassVar[str] = "email"
    default_limit: ClassVar[int] = 1_000_000
    host: str = ""
    port: int = 587
    tls: str = field(default="starttls", metadata=_choices("starttls", "ssl", "none"))
    username: str | None = None
    password: SecretRef | None = None
    from_address: str = ""
    reply_to: str | None = None
    #: SMTP connections used at once (each is reused for many messages)
    connections: int = 4
    #: may send before a release's embargo; subject and body then carry the embargo line
    embargo_notice: bool = False
    #: one-click unsubscribe URL ("{email}" is replaced); also sets List-Unsubscribe-Post
    unsubscribe_url: str | None = None
    #: a CA bundle to trust for the server's certificate (an internal CA)
    ca_file: str | None = None

    @property
    def audience_only(self) -> bool:
        return True


CHANNEL_TYPES: dict[str, type[ChannelConfig]] = {
    c.type: c
    for c in (
        OutboxConfig,
        MastodonConfig,
        BlueskyConfig,
        XConfig,
        MatrixConfig,
        WebhookConfig,
        EmailConfig,
    )
}

#: keys a channel type must have (beyond `type`)
REQUIRED: dict[str, tuple[str, ...]] = {
    "mastodon": ("instance", "token"),
    "bluesky": ("handle", "app_password"),
    "x": ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    "matrix": ("homeserver", "room", "token"),
    "webhook": ("url",),
    "email": ("host", "from_address"),
}

TOP_LEVEL_KEYS = ("channels",)


@dataclass(frozen=True)
class Config:
    """The validated channels.toml."""

    path: Path
    channels: Mapping[str, ChannelConfig]

    def channel(self, name: str) -> ChannelConfig:
        try:
            return self.channels[name]
        except KeyError:
            raise InputError(
                f'unknown channel "{name}"{did_you_mean(name, self.channels)}',
                hint=f"channels in {location(self.path, None)}: {', '.join(self.channels) or 'none'}",
            ) from None


def _type_name(tp: Any) -> str:
    if tp is SecretRef:
        return 'a secret reference ("env:VAR")'
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(
    doc: TomlDocument, key: tuple[str, ...], value: Any, f: dataclasses.Field[Any], tp: Any
) -> Any:
    options = typing.get_args(tp) if isinstance(tp, types.UnionType) else (tp,)
    options = tuple(o for o in options if o is not type(None))
    target = options[0]
    where = f'channel "{key[1]}": key "{key[-1]}"'
    if target is SecretRef:
        if not isinstance(value, str) or not value.startswith("env:") or len(value) <= 4:
            raise doc.error(
                key,
                f'{where} must reference a secret as "env:VARIABLE", not hold it',
                hint='secrets are never stored in channels.toml: write token = "env:PRCAST_TOKEN" and export the variable',
            )
        line = doc.line_of(key)
        return SecretRef(value[4:], origin=location(doc.path, line))
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, target) and not (target is int and isinstance(value, bool))
    if not ok:
        raise doc.error(key, f"{where} must be {_type_name(target)}, got {type(value).__name__}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise doc.error(key, f'{where} must be one of {", ".join(choices)}, got "{value}"')
    if target in (int, float) and value <= 0:
        raise doc.error(key, f"{where} must be a positive number")
    return value


def _channel(doc: TomlDocument, name: str, table: Any) -> ChannelConfig:
    base = ("channels", name)
    if not _NAME.match(name):
        raise doc.error(
            base, f'channel name "{name}" must be lower-case letters, digits, "-" or "_"'
        )
    if not isinstance(table, dict):
        raise doc.error(base, f'channel "{name}" must be a table ([channels.{name}])')
    ctype = table.get("type")
    if ctype is None:
        raise doc.error(
            base,
            f'channel "{name}": missing key "type"',
            hint=f"one of: {', '.join(CHANNEL_TYPES)}",
        )
    if ctype not in CHANNEL_TYPES:
        raise doc.error(
            (*base, "type"),
            f'channel "{name}": unknown channel type "{ctype}"{did_you_mean(str(ctype), CHANNEL_TYPES)}',
            hint=f"known types: {', '.join(CHANNEL_TYPES)}",
        )
    cls = CHANNEL_TYPES[ctype]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "name"}
    values: dict[str, Any] = {"name": name}
    for key, value in table.items():
        if key == "type":
            continue
        if key not in fields:
            raise doc.error(
                (*base, key),
                f'channel "{name}": unknown key "{key}"{did_you_mean(key, fields)}',
                hint=f"keys for type {ctype}: type, {', '.join(fields)}",
            )
        values[key] = _convert(doc, (*base, key), value, fields[key], hints[key])
    for key in REQUIRED.get(ctype, ()):
        if key not in values:
            raise doc.error(base, f'channel "{name}" (type {ctype}): missing key "{key}"')
    return cls(**values)


def load_config(path: Path) -> Config:
    """Read and validate channels.toml; any problem is one InputError with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "file not found", path=path, hint="run `prcast init` to create a workspace"
        ) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path=path) from None
    doc = parse_toml(text, path)
    for key in doc.data:
        if key not in TOP_LEVEL_KEYS:
            raise doc.error(
                (key,), f'unknown top-level key "{key}"{did_you_mean(key, TOP_LEVEL_KEYS)}'
            )
    raw = doc.data.get("channels", {})
    if not isinstance(raw, dict):
        raise doc.error(("channels",), '"channels" must be a table of channel tables')
    channels = {name: _channel(doc, name, table) for name, table in raw.items()}
    if not channels:
        raise InputError(
            "no channels defined",
            path=path,
            hint='add a [channels.NAME] table with type = "outbox"',
        )
    return Config(path=path, channels=channels)
