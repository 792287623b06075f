"""Bluesky (AT Protocol): app.bsky.feed.post records with facets, threads by strong refs,
images with alt text, and a record key derived from the delivery key, so a repeated create
is recognised instead of doubled."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from prcast import __version__
from prcast.channels.base import ChannelError, Incoming, Post, RateState, Receipt, check
from prcast.config import BlueskyConfig
from prcast.text.facets import facets, spans

COLLECTION = "app.bsky.feed.post"
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid(micros: int, clock_id: int) -> str:
    """An atproto TID: 53 bits of microseconds and 10 bits of clock id, base32-sortable."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def record_key(key: str, planned_at: str, part: int) -> str:
    """The record key of a delivery: its plan time (plus a millisecond per part) and a clock
    id from the delivery key. The same delivery always gets the same key."""
    digest = hashlib.sha256(key.encode()).digest()
    if planned_at:
        micros = int(datetime.fromisoformat(planned_at).timestamp() * 1_000_000) + part * 1000
    else:  # no plan time (direct adapter use): a stable time derived from the key
        micros = 1_700_000_000_000_000 + int.from_bytes(digest[:6], "big") % 10**14
    return tid(micros, int.from_bytes(digest[6:8], "big"))


class BlueskyChannel:
    """A Bluesky account on its PDS."""

    dedupes = True  # deterministic record keys: a second create finds the first record

    def __init__(self, config: BlueskyConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        #: what the service's rate-limit headers last said (read by the delivery gate)
        self.rate = RateState()
        self.config = config
        self._client = client or httpx.AsyncClient(
            event_hooks={"response": [self._observe]},
            base_url=config.service.rstrip("/") + "/xrpc",
            headers={"User-Agent": f"prcast/{__version__}"},
            timeout=httpx.Timeout(config.timeout, connect=min(10.0, config.timeout)),
        )
        self._session: dict[str, Any] | None = None
        self._dids: dict[str, str | None] = {}

    async def _login(self) -> dict[str, Any]:
        """One createSession per run (it is rate-limited); refreshSession after that."""
        if self._session is None:
            assert self.config.app_password is not None  # required by the schema
            r = await self._client.post(
                "/com.atproto.server.createSession",
                json={
                    "identifier": self.config.handle,
                    "password": self.config.app_password.resolve(),
                },
            )
            self._session = dict(check(r, self.name, "logging in (createSession)").json())
        return self._session

    async def _refresh(self) -> None:
        assert self._session is not None
        r = await self._client.post(
            "/com.atproto.server.refreshSession",
            headers={"Authorization": f"Bearer {self._session['refreshJwt']}"},
        )
        if r.status_code >= 400:  # the refresh token expired too: log in again
            self._session = None
            await self._login()
            return
        self._session.update(r.json())

    async def _call(self, method: str, nsid: str, action: str, **kwargs: Any) -> httpx.Response:
        session = await self._login()
        for attempt in (1, 2):
            headers = {
                **kwargs.pop("headers", {}),
                "Authorization": f"Bearer {session['accessJwt']}",
            }
            r = await self._client.request(method, f"/{nsid}", headers=headers, **kwargs)
            if attempt == 1 and r.status_code in (400, 401) and _error(r) == "ExpiredToken":
                await self._refresh()
                session = await self._login()
                continue
            return r
        raise AssertionError("unreachable")

    async def _observe(self, response: httpx.Response) -> None:
        self.rate.observe(response)

    async def verify(self) -> str:
        r = check(
            await self._call("GET", "com.atproto.server.getSession", "getSession"),
            self.name,
            "getSession",
        )
        return f"@{r.json()['handle']} ({r.json()['did']}) on {self.config.service}"

    async def _resolve(self, handle: str) -> str | None:
        if handle not in self._dids:
            r = await self._client.get(
                "/com.atproto.identity.resolveHandle", params={"handle": handle}
            )
            self._dids[handle] = str(r.json()["did"]) if r.status_code == 200 else None
        return self._dids[handle]

    async def _blob(self, path: Any) -> dict[str, Any]:
        data = path.read_bytes()
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        r = await self._call("POST", "com.atproto.repo.uploadBlob", "uploadBlob", content=data,
                             headers={"Content-Type": mime})  # fmt: skip
        return dict(check(r, self.name, f"uploading {path.name}").json()["blob"])

    async def _existing(self, did: str, rkey: str) -> dict[str, Any] | None:
        r = await self._client.get(
            "/com.atproto.repo.getRecord",
            params={"repo": did, "collection": COLLECTION, "rkey": rkey},
        )
        return dict(r.json()) if r.status_code == 200 else None

    def _receipt(
        self, uri: str, cid: str, rkey: str, reply_to: Receipt | None, duplicate: bool
    ) -> Receipt:
        root_uri = reply_to.extra.get("root_uri", reply_to.remote_id) if reply_to else uri
        root_cid = (
            reply_to.extra.get("root_cid", reply_to.extra.get("cid", "")) if reply_to else cid
        )
        handle = (self._session or {}).get("handle", self.config.handle)
        return Receipt(
            remote_id=uri,
            url=f"https://bsky.app/profile/{handle}/post/{rkey}",
            duplicate=duplicate,
            extra={"cid": cid, "root_uri": root_uri, "root_cid": root_cid},
        )

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt:
        session = await self._login()
        did = str(session["did"])
        rkey = record_key(key, post.planned_at, post.index)
        if (found := await self._existing(did, rkey)) is not None:
            return self._receipt(found["uri"], found["cid"], rkey, reply_to, duplicate=True)
        dids = {
            s.value.lower(): d
            for s in spans(post.text)
            if s.kind == "mention" and (d := await self._resolve(s.value.lower()))
        }
        record: dict[str, Any] = {
            "$type": COLLECTION,
            "text": post.text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "langs": [post.language],
        }
        if rich := facets(post.text, dids):
            record["facets"] = rich
        if reply_to is not None:
            parent = {"uri": reply_to.remote_id, "cid": reply_to.extra["cid"]}
            root = {"uri": reply_to.extra.get("root_uri", parent["uri"]),
                    "cid": reply_to.extra.get("root_cid", parent["cid"])}  # fmt: skip
            record["reply"] = {"root": root, "parent": parent}
        if post.media:
            images = [{"alt": m.alt, "image": await self._blob(m.path)} for m in post.media]
            record["embed"] = {"$type": "app.bsky.embed.images", "images": images}
        r = await self._call(
            "POST",
            "com.atproto.repo.createRecord",
            "createRecord",
            json={"repo": did, "collection": COLLECTION, "rkey": rkey, "record": record},
        )
        if not r.is_success and (found := await self._existing(did, rkey)) is not None:
            # created by an earlier attempt whose answer was lost (this PDS answers 500 then)
            return self._receipt(found["uri"], found["cid"], rkey, reply_to, duplicate=True)
        body = check(r, self.name, "posting (createRecord)").json()
        return self._receipt(body["uri"], body["cid"], rkey, reply_to, duplicate=False)

    async def account(self) -> str:
        """The handle of the account."""
        return str((await self._login())["handle"])

    async def _newest_first(
        self, nsid: str, key: str, since: str, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Items of a newest-first listing (listNotifications, searchPosts) down to `since`
        (an indexedAt time; items at it are read again, the store knows them by uri)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            if (wait := self.rate.wait(time.time())) > 0:
                await asyncio.sleep(min(wait, 60.0))
            query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
            r = check(await self._call("GET", nsid, nsid, params=query), self.name, nsid)
            body = r.json()
            page = body.get(key, [])
            fresh = [i for i in page if str(i.get("indexedAt", "")) >= since]
            items += fresh
            cursor = body.get("cursor")
            if not cursor or len(fresh) < len(page) or not page:
                return items

    async def mentions(
        self, cursors: dict[str, str], hashtag: str | None = None, threads: Sequence[str] = ()
    ) -> tuple[list[Incoming], dict[str, str]]:
        """Posts addressed to this account since `cursors`: mentions, replies and quotes
        (app.bsky.notification.listNotifications, served by the AppView through the PDS)
        and, with `hashtag`, the posts that carry it (app.bsky.feed.searchPosts). Bluesky's
        direct messages live in a separate chat service and are not read. The replies
        anywhere under the posts `threads` names (the conference's own) are read with
        app.bsky.feed.getPostThread, since a reply deep in a thread notifies nobody. A post found by
        two routes (a mention with the hashtag) comes once per route."""
        cursors = dict(cursors)
        found: dict[tuple[str, str], Incoming] = {}
        notes = await self._newest_first(
            "app.bsky.notification.listNotifications",
            "notifications",
            cursors.get("notifications", ""),
            {"reasons": ["mention", "reply", "quote"]},
        )
        for note in notes:
            item = _incoming(note, note.get("reason", "mention"))
            found.setdefault((item.remote_id, item.via), item)
        if notes:
            cursors["notifications"] = max(str(n["indexedAt"]) for n in notes)
        if hashtag:
            since = cursors.get("tag", "")
            params: dict[str, Any] = {"q": f"#{hashtag}", "sort": "latest"}
            if since:
                params["since"] = since
            posts = await self._newest_first("app.bsky.feed.searchPosts", "posts", since, params)
            for post in posts:
                found.setdefault((post["uri"], "hashtag"), _incoming(post, "hashtag"))
            if posts:
                cursors["tag"] = max(str(p["indexedAt"]) for p in posts)
        for root in threads:
            if (wait := self.rate.wait(time.time())) > 0:
                await asyncio.sleep(min(wait, 60.0))
            nsid = "app.bsky.feed.getPostThread"
            r = await self._call("GET", nsid, nsid, params={"uri": root, "depth": 1000})
            if r.status_code == 400 and _error(r) == "NotFound":  # deleted meanwhile
                continue
            thread = check(r, self.name, nsid).json().get("thread", {})
            waiting = list(thread.get("replies") or [])
            while waiting:
                node = waiting.pop()
                post = node.get("post")
                if post:  # not a blocked or deleted reply
                    found.setdefault((str(post["uri"]), "reply"), _incoming(post, "reply"))
                waiting += node.get("replies") or []
        return sorted(found.values(), key=lambda i: i.created_at), cursors

    async def close(self) -> None:
        await self._client.aclose()


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


__all__ = ["BlueskyChannel", "ChannelError", "record_key", "tid"]


def _incoming(item: dict[str, Any], via: str) -> Incoming:
    """A notification or post view as an Incoming question."""
    record = item.get("record") or {}
    author = item.get("author") or {}
    uri = str(item["uri"])
    reply = record.get("reply") or {}
    root = reply.get("root") or {"uri": uri, "cid": item["cid"]}
    created = str(record.get("createdAt") or item.get("indexedAt"))
    return Incoming(
        remote_id=uri,
        author=str(author.get("handle", "")),
        author_name=str(author.get("displayName") or author.get("handle", "")),
        text=str(record.get("text", "")),
        created_at=datetime.fromisoformat(created.replace("Z", "+00:00"))
        .astimezone(UTC)
        .isoformat(timespec="milliseconds"),
        url=f"https://bsky.app/profile/{author.get('handle', '')}/post/{uri.rsplit('/', 1)[-1]}",
        visibility="public",
        in_reply_to=(reply.get("parent") or {}).get("uri"),
        via="mention" if via == "quote" else via,
        extra={"cid": str(item["cid"]), "root_uri": str(root["uri"]), "root_cid": str(root["cid"])},
    )
