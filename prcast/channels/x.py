"""X (API v2): POST /2/tweets with OAuth 1.0a user context (signed by Authlib), threads by
reply.in_reply_to_tweet_id, images via /2/media/upload with alt text. X has no idempotency
key, so a post whose answer was lost is never sent again blindly (dedupes = False)."""

from __future__ import annotations

import mimetypes
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
from authlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_HEADER, ClientAuth

from prcast import __version__
from prcast.channels.base import Post, RateState, Receipt, check
from prcast.config import XConfig


class OAuth1(httpx.Auth):
    """OAuth 1.0a header signing (RFC 5849, HMAC-SHA1) by Authlib. JSON and multipart bodies
    are not part of the signature base string, as the RFC and X specify."""

    def __init__(
        self, consumer_key: str, consumer_secret: str, token: str, token_secret: str
    ) -> None:
        self.client = ClientAuth(
            consumer_key,
            consumer_secret,
            token=token,
            token_secret=token_secret,
            signature_method=SIGNATURE_HMAC_SHA1,
            signature_type=SIGNATURE_TYPE_HEADER,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        _, signed, _ = self.client.prepare(request.method, str(request.url), headers, b"")
        request.headers["Authorization"] = signed["Authorization"]
        yield request


class XChannel:
    """An X account."""

    dedupes = False

    def __init__(self, config: XConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        #: what the service's rate-limit headers last said (read by the delivery gate)
        self.rate = RateState()
        self.config = config
        self._client = client

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            c = self.config
            assert c.consumer_key and c.consumer_secret and c.access_token and c.access_token_secret
            self._client = httpx.AsyncClient(
                event_hooks={"response": [self._observe]},
                base_url=c.api_base.rstrip("/"),
                auth=OAuth1(
                    c.consumer_key.resolve(),
                    c.consumer_secret.resolve(),
                    c.access_token.resolve(),
                    c.access_token_secret.resolve(),
                ),
                headers={"User-Agent": f"prcast/{__version__}"},
                timeout=httpx.Timeout(self.config.timeout, connect=min(10.0, self.config.timeout)),
            )
        return self._client

    def _check(self, response: httpx.Response, action: str) -> httpx.Response:
        return check(response, self.name, action)

    async def _observe(self, response: httpx.Response) -> None:
        self.rate.observe(response)

    async def verify(self) -> str:
        r = self._check(await self.client.get("/2/users/me"), "users/me")
        return f"@{r.json()['data']['username']} on X"

    async def _upload(self, path: Path, alt: str) -> str:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        r = self._check(
            await self.client.post(
                "/2/media/upload",
                files={"media": (path.name, path.read_bytes(), mime)},
                data={"media_category": "tweet_image"},
            ),
            f"uploading {path.name}",
        )
        media_id = str(r.json()["data"]["id"])
        self._check(
            await self.client.post(
                "/2/media/metadata", json={"id": media_id, "metadata": {"alt_text": {"text": alt}}}
            ),
            f"setting alt text of {path.name}",
        )
        return media_id

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt:
        body: dict[str, Any] = {"text": post.text}
        if reply_to is not None:
            body["reply"] = {"in_reply_to_tweet_id": reply_to.remote_id}
        media_ids = [await self._upload(m.path, m.alt) for m in post.media]
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        r = self._check(await self.client.post("/2/tweets", json=body), "posting")
        tweet_id = str(r.json()["data"]["id"])
        return Receipt(remote_id=tweet_id, url=f"https://x.com/i/web/status/{tweet_id}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
