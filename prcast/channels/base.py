"""The Channel contract: Post in, Receipt out. Adapters are thin; retries and
idempotency bookkeeping live in delivery.py."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
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
    #: the post (not of this run) the first part replies to: remote_id, url and what the
    #: channel needs besides (e.g. Bluesky's cid and thread root); a conference answer
    reply_to: dict[str, str] | None = None


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
class Incoming:
    """A post addressed to the account (a mention, a direct message, a reply, a hashtag post):
    what a conference takes in as a question."""

    remote_id: str
    author: str  # the handle, without a leading @ (Mastodon acct, Bluesky handle)
    author_name: str
    text: str  # plain text
    created_at: str  # ISO 8601, UTC
    url: str | None
    #: "direct" for a private message, else "public"
    visibility: str
    #: the remote id of the post it replies to, if any
    in_reply_to: str | None
    #: how it was found: "mention", "direct", "hashtag", "reply"
    via: str
    #: what a reply to it needs besides the id (e.g. Bluesky's cid and thread root)
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
        maybe_sent: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f'channel "{channel}": {message}', hint)
        self.channel = channel
        self.status = status
        self.transient = transient
        #: the service may have acted on the request (a lost answer, a gateway error)
        self.maybe_sent = maybe_sent
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
    transient = status in (408, 425, 429) or status >= 500
    # 429, 503 and 408 say the request was not processed; a 500/502/504 does not say so
    maybe_sent = status >= 500 and status != 503
    hint = None
    if status == 401:
        hint = "the credential was refused: check the secret named in channels.toml"
    raise ChannelError(
        channel,
        f"{action} failed: HTTP {status}: {service_message(response)}",
        status=status,
        transient=transient,
        maybe_sent=maybe_sent,
        retry_after=retry_after_seconds(response),
        hint=hint,
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds the service asks to wait: Retry-After (seconds or HTTP date), or for a 429 the
    reset time of its rate-limit headers."""
    value = response.headers.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    if response.status_code == 429:
        try:  # Matrix: {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2000}
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("retry_after_ms"), int | float):
                return float(body["retry_after_ms"]) / 1000
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        state = RateState()
        state.observe(response)
        if state.reset_at is not None:
            return max(0.0, state.reset_at - time.time())
    return None


@dataclass
class RateState:
    """What a service's rate-limit headers last said: requests left and when the window
    resets (Mastodon X-RateLimit-*, Bluesky RateLimit-*, X x-rate-limit-*)."""

    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds

    def observe(self, response: httpx.Response) -> None:
        headers = response.headers
        for prefix in ("x-ratelimit-", "ratelimit-", "x-rate-limit-"):
            remaining = headers.get(prefix + "remaining")
            if remaining is None:
                continue
            try:
                self.remaining = int(float(remaining))
            except ValueError:
                return
            self.reset_at = _reset_time(headers.get(prefix + "reset", ""))
            return

    def wait(self, now: float) -> float:
        """Seconds to wait before the next request so the window is not exceeded: spread what
        is left of the window over the requests that are left."""
        if self.remaining is None or self.reset_at is None or self.reset_at <= now:
            return 0.0
        if self.remaining <= 0:
            return self.reset_at - now
        return (self.reset_at - now) / (self.remaining + 1)


def _reset_time(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    # epoch seconds (X, Bluesky) or, if small, seconds from now (IETF RateLimit drafts)
    return number if number > 1_000_000_000 else time.time() + number


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
