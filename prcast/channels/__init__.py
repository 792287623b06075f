"""Channel adapters. `open_channel` turns a channel's config into a working adapter."""

from __future__ import annotations

from pathlib import Path

from prcast.channels.base import Channel, Post, Receipt
from prcast.config import (
    BlueskyConfig,
    ChannelConfig,
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
    """The adapter for `config`; InputError for a type that cannot deliver yet."""
    if isinstance(config, OutboxConfig):
        from prcast.channels.outbox import OutboxChannel

        return OutboxChannel(config, workspace_root, templates)
    if isinstance(config, BlueskyConfig):
        from prcast.channels.bluesky import BlueskyChannel

        return BlueskyChannel(config)
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
    raise InputError(
        f'channel "{config.name}": delivery to {config.type} is not available in this version of prcast',
        hint="render and check work for it; send to an outbox channel, or leave it out with --channel",
    )
