"""Channel adapters. `open_channel` turns a channel's config into a working adapter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prcast.channels.base import Channel, Limits, Post, Receipt
from prcast.config import (
    BlueskyConfig,
    ChannelConfig,
    EmailConfig,
    MastodonConfig,
    MatrixConfig,
    OutboxConfig,
    WebhookConfig,
    XConfig,
)
from prcast.errors import InputError

__all__ = ["Channel", "Post", "Receipt", "open_channel"]


def open_channel(
    config: ChannelConfig, workspace_root: Path, templates: Path | None = None
) -> Channel:
    """The adapter for `config`."""
    if isinstance(config, OutboxConfig):
        from prcast.channels.outbox import OutboxChannel

        return OutboxChannel(config, workspace_root, templates)
    if isinstance(config, BlueskyConfig):
        from prcast.channels.bluesky import BlueskyChannel

        return BlueskyChannel(config)
    if isinstance(config, EmailConfig):
        from prcast.channels.email import EmailChannel

        return EmailChannel(config)
    if isinstance(config, MastodonConfig):
        from prcast.channels.mastodon import MastodonChannel

        return MastodonChannel(config)
    if isinstance(config, MatrixConfig):
        from prcast.channels.matrix import MatrixChannel

        return MatrixChannel(config)
    if isinstance(config, WebhookConfig):
        from prcast.channels.webhook import WebhookChannel

        return WebhookChannel(config)
    if isinstance(config, XConfig):
        from prcast.channels.x import XChannel

        return XChannel(config)
    raise InputError(f'channel "{config.name}": no adapter for type {config.type}')


@dataclass(frozen=True)
class ChannelCheck:
    """The outcome of checking one channel's credentials and reachability."""

    name: str
    type: str
    ok: bool
    detail: str
    limits: Limits | None = None


async def check_channel(
    config: ChannelConfig, workspace_root: Path, templates: Path | None = None
) -> ChannelCheck:
    """Log in / ask who we are, without posting anything. Never raises; never shows a secret."""
    import httpx

    from prcast.errors import PrcastError
    from prcast.secrets import redact

    limits: Limits | None = None
    try:
        channel = open_channel(config, workspace_root, templates)
        try:
            detail = await channel.verify()
            if config.server_limits:
                limits = await channel.fetch_limits()  # type: ignore[attr-defined]
                detail += f"; limit {limits.max_length} characters, URLs count {limits.url_length}"
        finally:
            await channel.close()
    except PrcastError as exc:
        return ChannelCheck(config.name, config.type, False, redact(exc.message))
    except httpx.HTTPError as exc:
        return ChannelCheck(
            config.name, config.type, False, redact(f"cannot reach the service: {exc}")
        )
    except OSError as exc:
        return ChannelCheck(config.name, config.type, False, redact(f"{type(exc).__name__}: {exc}"))
    return ChannelCheck(config.name, config.type, True, detail, limits)
