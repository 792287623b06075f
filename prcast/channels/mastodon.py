"""Mastodon: statuses, threads by in_reply_to_id, media with alt text, Idempotency-Key."""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from prcast import __version__
from prcast.channels.base import (
    ChannelError,
    Incoming,
    Limits,
    Post,
    RateState,
    Receipt,
    check,
)
from prcast.config import MastodonConfig

#: items per page of a listing (Mastodon's maximum)
PAGE = 40
#: how long to wait for the server to finish processing an uploaded image
MEDIA_WAIT_SECONDS = 60.0


class MastodonChannel:
    """A Mastodon account (or any server with the Mastodon client API)."""

    dedupes = True  # Mastodon keeps Idempotency-Key for an hour and answers with the same status

    def __init__(self, config: MastodonConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        #: what the service's rate-limit headers last said (read by the delivery gate)
        self.rate = RateState()
        self.config = config
        self._client = client
        self._token: str | None = None
        self._instance_domain: str | None = None
        self.concurrency = 2

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            assert self.config.token is not None  # required by the schema
            self._token = self.config.token.resolve()
            self._client = httpx.AsyncClient(
                event_hooks={"response": [self._observe]},
                base_url=self.config.instance.rstrip("/"),
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "User-Agent": f"prcast/{__version__}",
                },
                timeout=httpx.Timeout(self.config.timeout, connect=min(10.0, self.config.timeout)),
            )
        return self._client

    async def _domain(self) -> str:
        if self._instance_domain is None:
            r = await self.client.get("/api/v2/instance")
            self._instance_domain = str(r.json().get("domain", "")) if r.status_code == 200 else ""
        return self._instance_domain

    async def _observe(self, response: httpx.Response) -> None:
        self.rate.observe(response)

    async def verify(self) -> str:
        r = check(
            await self.client.get("/api/v1/accounts/verify_credentials"),
            self.name,
            "verify_credentials",
        )
        account = r.json()
        return f"@{account.get('acct')} on {self.config.instance}"

    async def fetch_limits(self) -> Limits:
        """Limits as the server publishes them (GET /api/v2/instance)."""
        r = check(await self.client.get("/api/v2/instance"), self.name, "reading instance limits")
        conf: dict[str, Any] = r.json().get("configuration", {})
        statuses = conf.get("statuses", {})
        media = conf.get("media_attachments", {})
        return Limits(
            max_length=int(statuses.get("max_characters", 500)),
            url_length=int(statuses.get("characters_reserved_per_url", 23)),
            max_media=int(statuses.get("max_media_attachments", 4)),
            media_bytes=media.get("image_size_limit"),
            alt_length=media.get("description_limit"),
        )

    async def _upload(self, path: Any, alt: str) -> str:
        data = path.read_bytes()
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        r = check(
            await self.client.post(
                "/api/v2/media", files={"file": (path.name, data, mime)}, data={"description": alt}
            ),
            self.name,
            f"uploading {path.name}",
        )
        media = r.json()
        media_id = str(media["id"])
        if r.status_code == 202 or media.get("url") is None:
            await self._wait_processed(media_id)
        return media_id

    async def _wait_processed(self, media_id: str) -> None:
        delay, waited = 0.2, 0.0
        while waited < MEDIA_WAIT_SECONDS:
            r = await self.client.get(f"/api/v1/media/{media_id}")
            if r.status_code == 200 and r.json().get("url"):
                return
            if r.status_code not in (200, 206):
                check(r, self.name, "waiting for media processing")
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)
        raise ChannelError(
            self.name,
            f"media {media_id} was still processing after {MEDIA_WAIT_SECONDS:.0f}s",
            transient=True,
        )

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt:
        if post.recipients:  # a direct message to the audience
            return await self.send_direct(list(post.recipients), post, key, reply_to)
        media_ids = [await self._upload(m.path, m.alt) for m in post.media]
        return await self._status(post.text, key, reply_to, media_ids, self.config.visibility, post)

    async def send_direct(
        self, recipients: list[str], post: Post, key: str, reply_to: Receipt | None = None
    ) -> Receipt:
        """A direct message: visibility direct, mentioning each recipient (`@user@host`).
        Accounts on this server are mentioned in their local form, `@user`."""
        domain = await self._domain()
        handles = [r if r.startswith("@") else f"@{r}" for r in recipients]
        mentions = " ".join(h.removesuffix(f"@{domain}") if domain else h for h in handles)
        media_ids = [await self._upload(m.path, m.alt) for m in post.media]
        return await self._status(
            f"{mentions} {post.text}", key, reply_to, media_ids, "direct", post
        )

    async def _status(
        self,
        text: str,
        key: str,
        reply_to: Receipt | None,
        media_ids: list[str],
        visibility: str,
        post: Post,
    ) -> Receipt:
        body: dict[str, Any] = {
            "status": text,
            "visibility": visibility,
            "language": (self.config.language or post.language).split("-")[0],
        }
        if post.content_warning:
            body["spoiler_text"] = post.content_warning
        if reply_to:
            body["in_reply_to_id"] = reply_to.remote_id
        if media_ids:
            body["media_ids"] = media_ids
        r = check(
            await self.client.post("/api/v1/statuses", json=body, headers={"Idempotency-Key": key}),
            self.name,
            "posting status",
        )
        status = r.json()
        return Receipt(remote_id=str(status["id"]), url=status.get("url") or status.get("uri"))

    async def account(self) -> str:
        """The handle of the account the token belongs to (its `acct`)."""
        r = check(
            await self.client.get("/api/v1/accounts/verify_credentials"),
            self.name,
            "verify_credentials",
        )
        return str(r.json()["acct"])

    async def _pages(self, path: str, cursor: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item newer than `cursor`, oldest first: pages by min_id (Mastodon's
        forward pagination), each page one request within the rate limit."""
        items: list[dict[str, Any]] = []
        while True:
            if (wait := self.rate.wait(time.time())) > 0:
                await asyncio.sleep(min(wait, 60.0))
            r = check(
                await self.client.get(path, params={**params, "min_id": cursor, "limit": PAGE}),
                self.name,
                f"reading {path}",
            )
            page = sorted(r.json(), key=lambda item: _id_order(str(item["id"])))
            items.extend(page)
            if len(page) < PAGE:  # a short page is the last one
                return items
            cursor = str(page[-1]["id"])

    async def mentions(
        self, cursors: dict[str, str], hashtag: str | None = None, threads: Sequence[str] = ()
    ) -> tuple[list[Incoming], dict[str, str]]:
        """Posts addressed to this account since `cursors`: mentions and direct messages
        (GET /api/v1/notifications, types[]=mention), direct conversations
        (GET /api/v1/conversations) and, with `hashtag`, the public posts that carry it
        (GET /api/v1/timelines/tag/:hashtag), and the replies anywhere under the posts
        `threads` names, the conference's own (GET /api/v1/statuses/:id/context: a reply
        that does not mention the account notifies nobody). Returns them and the new cursors; a post
        found by two routes (a mention with the hashtag) comes once per route."""
        found: dict[tuple[str, str], Incoming] = {}
        cursors = dict(cursors)
        notes = await self._pages(
            "/api/v1/notifications", cursors.get("notifications", "0"), {"types[]": "mention"}
        )
        for note in notes:
            if note.get("status"):
                status = note["status"]
                via = "direct" if status.get("visibility") == "direct" else "mention"
                found.setdefault((str(status["id"]), via), _incoming(status, via))
        if notes:
            cursors["notifications"] = str(notes[-1]["id"])
        r = check(
            await self.client.get("/api/v1/conversations", params={"limit": 40}),
            self.name,
            "reading /api/v1/conversations",
        )
        for conversation in r.json():
            status = conversation.get("last_status")
            if status:
                found.setdefault((str(status["id"]), "direct"), _incoming(status, "direct"))
        if hashtag:
            tagged = await self._pages(
                f"/api/v1/timelines/tag/{hashtag.lstrip('#')}", cursors.get("tag", "0"), {}
            )
            for status in tagged:
                found.setdefault((str(status["id"]), "hashtag"), _incoming(status, "hashtag"))
            if tagged:
                cursors["tag"] = str(tagged[-1]["id"])
        for root in threads:
            if (wait := self.rate.wait(time.time())) > 0:
                await asyncio.sleep(min(wait, 60.0))
            r = await self.client.get(f"/api/v1/statuses/{root}/context")
            if r.status_code == 404:  # deleted meanwhile: nothing under it to read
                continue
            check(r, self.name, f"reading /api/v1/statuses/{root}/context")
            for status in r.json().get("descendants", []):
                via = "direct" if status.get("visibility") == "direct" else "reply"
                found.setdefault((str(status["id"]), via), _incoming(status, via))
        return sorted(found.values(), key=lambda i: _id_order(i.remote_id)), cursors

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _id_order(remote_id: str) -> tuple[int, str]:
    """Mastodon ids are numbers in strings (snowflakes): compare them as numbers."""
    return (int(remote_id), "") if remote_id.isdigit() else (0, remote_id)


class _Text(HTMLParser):
    """A status's HTML content as plain text: paragraphs and line breaks kept, tags dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()


def _incoming(status: dict[str, Any], via: str) -> Incoming:
    account = status.get("account") or {}
    return Incoming(
        remote_id=str(status["id"]),
        author=str(account.get("acct", "")),
        author_name=str(account.get("display_name") or account.get("acct", "")),
        text=plain_text(str(status.get("content", ""))),
        created_at=datetime.fromisoformat(str(status["created_at"]).replace("Z", "+00:00"))
        .astimezone(UTC)
        .isoformat(timespec="milliseconds"),
        url=status.get("url") or status.get("uri"),
        visibility="direct" if status.get("visibility") == "direct" else "public",
        in_reply_to=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
        via=via,
    )
