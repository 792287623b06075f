"""Webhooks: the rendered post as JSON (or a Slack, Discord or Teams message), signed with
HMAC-SHA256 when a secret is configured, the delivery key in the Idempotency-Key header."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from prcast import __version__
from prcast.channels.base import Post, Receipt, check, post_record
from prcast.config import WebhookConfig

SIGNATURE_HEADER = "X-Prcast-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def payload(
    config: WebhookConfig, post: Post, key: str, reply_to: Receipt | None
) -> dict[str, Any]:
    """The request body in the configured format."""
    if config.format == "slack":
        return {"text": post.text}
    if config.format == "discord":
        return {"content": post.text, "allowed_mentions": {"parse": []}}
    if config.format == "teams":
        return {"text": post.text}
    return post_record(post, key, config.name, reply_to)


class WebhookChannel:
    """An HTTPS endpoint that receives each post."""

    # the receiver sees the key, but prcast cannot know whether it dedupes: in doubt, do not resend
    dedupes = False

    def __init__(self, config: WebhookConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self.config = config
        self._client = client or httpx.AsyncClient(
            headers={"User-Agent": f"prcast/{__version__}"},
            timeout=httpx.Timeout(config.timeout, connect=min(10.0, config.timeout)),
        )
        self._secret = config.secret.resolve() if config.secret else None
        self._url = config.endpoint()

    async def verify(self) -> str:
        """Reachability only: a webhook has no side-effect-free call, so nothing is posted."""
        r = await self._client.head(self._url)
        return f"{self.config.url} reachable (HTTP {r.status_code} to HEAD)"

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt:
        body = json.dumps(payload(self.config, post, key, reply_to), ensure_ascii=False).encode(
            "utf-8"
        )
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        r = check(
            await self._client.post(self._url, content=body, headers=headers),
            self.name,
            "POST",
        )
        remote = key
        if r.headers.get("content-type", "").startswith("application/json"):
            answer = r.json()
            if isinstance(answer, dict) and answer.get("id"):
                remote = str(answer["id"])
        return Receipt(remote_id=remote)

    async def close(self) -> None:
        await self._client.aclose()
