"""Matrix: internal news to a private room. The delivery key is the transaction id, so a
retried PUT never creates a second event; a room anyone can join or read is refused."""

from __future__ import annotations

import html
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from prcast import __version__
from prcast.channels.base import ChannelError, Post, Receipt, check
from prcast.config import MatrixConfig
from prcast.text.markup import to_html

#: join rules under which only invited members can read along
PRIVATE_JOIN_RULES = {"invite", "knock", "restricted", "private"}


class MatrixChannel:
    """A private Matrix room."""

    dedupes = True  # the homeserver answers a repeated transaction id with the same event

    def __init__(self, config: MatrixConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self.config = config
        self._client = client
        self._room_id: str | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            assert self.config.token is not None  # required by the schema
            self._client = httpx.AsyncClient(
                base_url=self.config.homeserver.rstrip("/") + "/_matrix/client/v3",
                headers={
                    "Authorization": f"Bearer {self.config.token.resolve()}",
                    "User-Agent": f"prcast/{__version__}",
                },
                timeout=httpx.Timeout(self.config.timeout, connect=min(10.0, self.config.timeout)),
            )
        return self._client

    async def room_id(self) -> str:
        """The room's id (an alias such as #staff:example.org is resolved), checked to be private."""
        if self._room_id is None:
            room = self.config.room
            if room.startswith("#"):
                r = check(
                    await self.client.get(f"/directory/room/{quote(room)}"),
                    self.name,
                    f"resolving {room}",
                )
                room = str(r.json()["room_id"])
            await self._check_private(room)
            self._room_id = room
        return self._room_id

    async def _state(self, room: str, event_type: str) -> dict[str, Any]:
        r = await self.client.get(f"/rooms/{quote(room)}/state/{event_type}/")
        if r.status_code == 404:
            return {}
        return dict(check(r, self.name, f"reading the room's {event_type}").json())

    async def _check_private(self, room: str) -> None:
        join_rule = (await self._state(room, "m.room.join_rules")).get("join_rule", "invite")
        history = (await self._state(room, "m.room.history_visibility")).get(
            "history_visibility", "shared"
        )
        if join_rule not in PRIVATE_JOIN_RULES or history == "world_readable":
            raise ChannelError(
                self.name,
                f"room {self.config.room} is not private (join rule {join_rule}, history {history}):"
                " internal news is only sent to rooms nobody outside can join or read",
                hint="make the room invite-only with history visible to members, or use another room",
            )

    async def verify(self) -> str:
        r = check(await self.client.get("/account/whoami"), self.name, "whoami")
        room = await self.room_id()
        return f"{r.json()['user_id']} in private room {room}"

    async def _upload(self, path: Path) -> str:
        """An mxc:// URI for the file, from the homeserver's media repository."""
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        r = check(
            await self.client.post(
                self.config.homeserver.rstrip("/") + "/_matrix/media/v3/upload",
                params={"filename": path.name},
                content=path.read_bytes(),
                headers={"Content-Type": mime},
            ),
            self.name,
            f"uploading {path.name}",
        )
        return str(r.json()["content_uri"])

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt:
        room = await self.room_id()
        images = ""
        for m in post.media:
            alt = html.escape(m.alt)
            images += f'<img src="{await self._upload(m.path)}" alt="{alt}" title="{alt}">'

        content: dict[str, Any] = {
            "msgtype": "m.text",
            "body": post.text,
            "format": "org.matrix.custom.html",
            "formatted_body": to_html(post.text) + images,
        }
        if reply_to is not None:
            root = reply_to.extra.get("thread_root", reply_to.remote_id)
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": reply_to.remote_id},
            }
        path = f"/rooms/{quote(room)}/send/m.room.message/{quote(key)}"
        r = check(await self.client.put(path, json=content), self.name, "sending the message")
        event_id = str(r.json()["event_id"])
        root = reply_to.extra.get("thread_root", reply_to.remote_id) if reply_to else event_id
        return Receipt(
            remote_id=event_id,
            url=f"https://matrix.to/#/{room}/{event_id}",
            extra={"thread_root": root},
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
