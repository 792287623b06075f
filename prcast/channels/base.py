"""The Channel contract: Post in, Receipt out. Adapters are thin."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from prcast.release import Link, Media


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


@dataclass(frozen=True)
class Receipt:
    """What a service answered for a published post."""

    remote_id: str
    url: str | None = None
    #: True when the service recognised the key and did not publish again
    duplicate: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    """A delivery target. `publish` must be idempotent per key where `dedupes` is True."""

    name: str
    #: the channel recognises a repeated key and never publishes twice (safe to retry in doubt)
    dedupes: bool

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt: ...

    async def close(self) -> None: ...
