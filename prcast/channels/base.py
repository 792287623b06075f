"""The Channel contract: Post in, Receipt out. Adapters are thin; retries and
idempotency bookkeeping live in delivery.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from prcast.errors import ExitCode, PrcastError
from prcast.release import Link, Media

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class Post:
    """One post of a channel: a whole message, or one part of a thread."""

    channel: str
    release_id: str
    title: str
    text: str
    index: int = 1
    total: int = 1
    length: int = 0
    limit: int = 0
    language: str = "en"
    links: tuple[Link, ...] = ()
    hashtags: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    embargo: datetime | None = None
    content_warning: str | None = None
    #: when the run was planned (ISO 8601, UTC); stable across retries
    planned_at: str = ""
    #: "public" for a channel's own feed; a recipient (email) or batch for deliveries to people
    target: str = "public"
    #: the audience group the recipients were addressed through
    group: str = ""
    #: who receives it: an email address, or the handles a direct message mentions
    recipients: tuple[str, ...] = ()
    recipient_name: str = ""
    subject: str = ""
    html: str = ""


def post_record(post: Post, key: str, channel: str, reply_to: Receipt | None) -> dict[str, Any]:
    """A post as a JSON object: what the outbox stores and a JSON webhook receives."""
    return {
        "id": key,
        "channel": channel,
        "release": post.release_id,
        "title": post.title,
        "text": post.text,
        "part": post.index,
        "parts": post.total,
        "in_reply_to": reply_to.remote_id if reply_to else None,
        "language": post.language,
        "links": [{"url": link.url, "title": link.title} for link in post.links],
        "hashtags": list(post.hashtags),
        "media": [{"file": m.path.name, "alt": m.alt} for m in post.media],
        "embargo": post.embargo.isoformat() if post.embargo else None,
    }


@dataclass(frozen=True)
class Receipt:
    """What a service answered for a published post."""

    remote_id: str
    url: str | None = None
    #: True when the service recognised the key and did not publish again
    duplicate: bool = False
    #: what a reply to this post needs besides the id (e.g. Bluesky's cid and thread root)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """What a server says about its limits (cached per channel)."""

    max_length: int
    url_length: int = 23
    max_media: int = 4
    media_bytes: int | None = None
    alt_length: int | None = None


class ChannelError(PrcastError):
    """A service refused or failed a request. `transient` errors may be retried."""

    exit_code = ExitCode.DELIVERY_FAILED

    def __init__(
        self,
        channel: str,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f'channel "{channel}": {message}', hint)
        self.channel = channel
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


def service_message(response: httpx.Response) -> str:
    """The human part of a service's error body (Mastodon, atproto, X, Matrix shapes)."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error_description", "message", "detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("detail") or errors[0])
    return str(body)[:200]


def check(response: httpx.Response, channel: str, action: str) -> httpx.Response:
    """`response` if it is a success, else a ChannelError saying what the service said."""
    if response.is_success:
        return response
    status = response.status_code
    retry_after = response.headers.get("retry-after")
    transient = status in (408, 425, 429) or status >= 500
    hint = None
    if status == 401:
        hint = "the credential was refused: check the secret named in channels.toml"
    raise ChannelError(
        channel,
        f"{action} failed: HTTP {status}: {service_message(response)}",
        status=status,
        transient=transient,
        retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        hint=hint,
    )


class Channel(Protocol):
    """A delivery target. `publish` must be idempotent per key where `dedupes` is True."""

    name: str
    #: the channel recognises a repeated key and never publishes twice (safe to retry in doubt)
    dedupes: bool

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt: ...

    async def verify(self) -> str:
        """Check credentials and reachability without posting; say who we are."""
        ...

    async def close(self) -> None: ...
