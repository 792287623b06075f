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
from urllib.parse import parse_qsl, urlsplit

from prcast.errors import InputError, did_you_mean, location
from prcast.fileio import read_input
from prcast.secrets import ENV_FILE, SCHEMES, SecretRef, parse_ref
from prcast.tomlfile import TomlDocument, parse_toml

_SECRET_PREFIXES = tuple(f"{s}:" for s in SCHEMES)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: keys whose value is a URL: none may carry a secret (user:password, a token in path or query)
URL_KEYS = ("instance", "service", "homeserver", "url", "api_base", "base_url", "unsubscribe_url")
_SECRET_QUERY = re.compile(r"(?i)token|key|secret|sig|pass|auth|code|credential|session")
_PIECE = re.compile(r"[-_.~]")


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _range(low: float, high: float) -> dict[str, Any]:
    return {"range": (low, high)}


def url_secret(url: str) -> str | None:
    """What in `url` looks like a secret (for the error message), or None.

    A URL carries a secret when it has a user name or password, a query key such as token, key,
    secret, sig or auth, or a path piece (between "/", "-", "_", "." or "~") of 16 or more
    characters that mixes letters and digits, as Slack, Discord and Teams webhook tokens do."""
    try:
        parts = urlsplit(url)
        user = parts.username or parts.password
    except ValueError:
        return None
    if user:
        return "a user name or password"
    for key, _ in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_QUERY.search(key):
            return f'the query key "{key}"'
    for segment in parts.path.split("/"):
        for piece in _PIECE.split(segment):
            if len(piece) >= 16 and re.search(r"\d", piece) and re.search(r"[A-Za-z]", piece):
                return "a token in its path"
    return None


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
    max_length: int | None = field(default=None, metadata=_range(1, 1_000_000))
    #: delivery policy (delivery.py): attempts per delivery, seconds to keep retrying,
    #: the first backoff delay, a sending rate, and a cap on posts an hour (anti-spam)
    max_attempts: int = field(default=5, metadata=_range(1, 100))
    retry_for: int = field(default=300, metadata=_range(1, 7 * 86_400))
    retry_base: float = field(default=1.0, metadata=_range(0.001, 3_600))
    #: seconds to wait for the service's answer to one request
    timeout: float = field(default=30.0, metadata=_range(0.1, 3_600))
    max_per_minute: int | None = field(default=None, metadata=_range(1, 100_000))
    posts_per_hour: int | None = field(default=None, metadata=_range(1, 100_000))

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
                shown = str(value)  # a SecretRef shows as "env:VAR", never its value
                account = getattr(self, "handle", None) or getattr(self, "room", None)
                return f"{shown} {account}" if account else shown
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
    #: the endpoint; "env:VAR" when the URL carries a token (as Slack's and Discord's do)
    url: str | SecretRef = ""
    secret: SecretRef | None = None
    format: str = field(default="json", metadata=_choices(*WEBHOOK_LIMITS))

    def endpoint(self) -> str:
        """The URL to post to (a secret reference resolved, and then redacted everywhere)."""
        return self.url.resolve() if isinstance(self.url, SecretRef) else self.url

    @property
    def limit(self) -> int:
        return self.max_length or WEBHOOK_LIMITS[self.format]


@dataclass(frozen=True)
class EmailConfig(ChannelConfig):
    type: ClassVar[str] = "email"
    default_limit: ClassVar[int] = 1_000_000
    host: str = ""
    port: int = field(default=587, metadata=_range(1, 65_535))
    tls: str = field(default="starttls", metadata=_choices("starttls", "ssl", "none"))
    username: str | None = None
    password: SecretRef | None = None
    from_address: str = ""
    reply_to: str | None = None
    #: SMTP connections used at once (each is reused for many messages)
    connections: int = field(default=4, metadata=_range(1, 64))
    #: OS processes that send one run together, the connections (and max_per_minute) split
    #: between them; unset: the CPU count less one, at most one per connection and per 500
    #: messages
    processes: int | None = field(default=None, metadata=_range(1, 64))
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

#: "database" and "database_schema" choose the state store (read by workspace.py)
TOP_LEVEL_KEYS = ("channels", "timezone", "database", "database_schema")


@dataclass(frozen=True)
class Config:
    """The validated channels.toml."""

    path: Path
    channels: Mapping[str, ChannelConfig]
    #: the workspace's time zone (`timezone = "Europe/Berlin"`): for times given without a
    #: zone and for display. UTC when not set.
    timezone: str = "UTC"

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
    if SecretRef in options and isinstance(value, str) and value.startswith(_SECRET_PREFIXES):
        target = SecretRef
    if target is SecretRef:
        origin = location(doc.path, doc.line_of(key))
        ref = (
            parse_ref(value, origin, str(doc.path.parent / ENV_FILE))
            if isinstance(value, str)
            else None
        )
        if ref is None:
            raise doc.error(
                key,
                f'{where} must reference a secret as "env:VARIABLE" or "keyring:SERVICE/NAME", not hold it',
                hint='secrets are never stored in channels.toml: write token = "env:PRCAST_TOKEN" and export the '
                "variable (or put it in the workspace's .env), or keyring:prcast/NAME for the system keyring",
            )
        return ref
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, target) and not (target is int and isinstance(value, bool))
    if not ok:
        raise doc.error(key, f"{where} must be {_type_name(target)}, got {type(value).__name__}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise doc.error(key, f'{where} must be one of {", ".join(choices)}, got "{value}"')
    if target in (int, float):
        low, high = f.metadata.get("range", (0, 1e12))
        if not (value > 0 and low <= value <= high):  # also refuses nan
            raise doc.error(key, f"{where} must be a number from {low:g} to {high:g}, got {value}")
    if target is str:
        if _CONTROL.search(value):
            raise doc.error(key, f"{where} holds a control character (a line break?)")
        if f.name in URL_KEYS and (found := url_secret(value)):
            if SecretRef in options:
                hint = f'write {f.name} = "env:PRCAST_{key[1].upper().replace("-", "_")}_URL" and export the URL'
            else:
                hint = "secrets are never stored in channels.toml"
            raise doc.error(key, f"{where}: the URL carries a secret ({found}): refused", hint=hint)
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
    _confine(doc, base, values)
    # a secret's account, so that its Basic and PLAIN auth forms are redacted too
    user = values.get("username") or values.get("handle")
    for key, value in values.items():
        if isinstance(value, SecretRef) and isinstance(user, str) and user:
            values[key] = dataclasses.replace(value, user=user)
    return cls(**values)


def _confine(doc: TomlDocument, base: tuple[str, ...], values: dict[str, Any]) -> None:
    """The outbox folder and a channel's template stay inside the workspace."""
    from prcast.workspace import confined, confinement_hint

    root = doc.path.resolve().parent
    name = base[1]
    template = values.get("template")
    if template is not None:
        pieces = template.replace("\\", "/").split("/")
        inside = confined(root / "templates" / template, root) is not None
        if template.startswith("/") or ".." in pieces or not inside:
            raise doc.error(
                (*base, "template"),
                f'channel "{name}": template "{template}" lies outside the templates folder',
                hint=confinement_hint(root),
            )
    if "path" in values and confined(root / values["path"], root) is None:
        raise doc.error(
            (*base, "path"),
            f'channel "{name}": the outbox folder "{values["path"]}" lies outside the workspace',
            hint=confinement_hint(root),
        )


def load_config(path: Path) -> Config:
    """Read and validate channels.toml; any problem is one InputError with file and line."""
    if not path.is_file():
        raise InputError(
            "file not found", path=path, hint="run `prcast init` to create a workspace"
        )
    doc = parse_toml(read_input(path), path)
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
            line=doc.line_of(("channels",)) or 1,
            hint='add a [channels.NAME] table with type = "outbox"',
        )
    return Config(path=path, channels=channels, timezone=_timezone(doc))


def _timezone(doc: TomlDocument) -> str:
    """The top-level `timezone`, checked to be a zone the system knows."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = doc.data.get("timezone", "UTC")
    if not isinstance(value, str) or not value.strip():
        raise doc.error(("timezone",), 'timezone must be a zone name such as "Europe/Berlin"')
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise doc.error(
            ("timezone",),
            f'unknown time zone "{value}"{did_you_mean(value, _zone_names())}',
            hint='a name from the tz database, such as "Europe/Berlin" or "UTC"',
        ) from None
    return value


def _zone_names() -> list[str]:
    from zoneinfo import available_timezones

    return sorted(available_timezones())
