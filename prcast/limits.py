"""Server-published limits per channel, cached in the workspace state so rendering stays offline."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict

from prcast.channels.base import Limits
from prcast.config import ChannelConfig
from prcast.fileio import write_atomic
from prcast.workspace import Workspace


def _path(ws: Workspace) -> str:
    return str(ws.state_dir / "limits.json")


def cached_limits(ws: Workspace) -> dict[str, Limits]:
    """The last limits each channel's server published (empty when never fetched)."""
    try:
        with open(_path(ws), encoding="utf-8") as f:
            data = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {name: Limits(**values) for name, values in data.items()}


def save_limits(ws: Workspace, fetched: dict[str, Limits]) -> None:
    data = {name: asdict(lim) for name, lim in {**cached_limits(ws), **fetched}.items()}
    write_atomic(ws.state_dir / "limits.json", json.dumps(data, indent=2, sort_keys=True).encode())


async def refresh_limits(
    ws: Workspace,
    configs: Sequence[ChannelConfig],
    on_unreachable: Callable[[str, str], None] | None = None,
) -> dict[str, Limits]:
    """Ask each channel's server for its limits (where it publishes them) and cache them.
    A server that cannot be asked keeps its cached limits and is told to `on_unreachable`
    (the send goes on, and that channel's deliveries fail on their own); without it, the
    error is raised."""
    from prcast.channels import open_channel
    from prcast.secrets import redact

    fetched: dict[str, Limits] = {}
    for config in configs:
        if not config.server_limits:
            continue
        channel = open_channel(config, ws.root, ws.templates_dir)
        try:
            fetched[config.name] = await channel.fetch_limits()  # type: ignore[attr-defined]
        except Exception as exc:
            if on_unreachable is None:
                raise
            on_unreachable(config.name, redact(f"{type(exc).__name__}: {exc}"))
        finally:
            await channel.close()
    if fetched:
        save_limits(ws, fetched)
    return {**cached_limits(ws), **fetched}
