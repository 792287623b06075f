"""The outbox: a publishable press room in the workspace (JSON per post, Atom feed, index.html).

Each post is one file named by its delivery key, so publishing the same key
again finds the file and adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prcast.channels.base import ChannelError, Post, Receipt, post_record
from prcast.config import OutboxConfig
from prcast.fileio import write_atomic

ATOM = "http://www.w3.org/2005/Atom"
#: the feed-level element carrying the latest signed audit checkpoint
CHECKPOINT_NS = "urn:prcast:audit"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class OutboxChannel:
    """Publishes into a folder of the workspace."""

    dedupes = True

    def __init__(
        self, config: OutboxConfig, workspace_root: Path, templates: Path | None = None
    ) -> None:
        self.name = config.name
        self.templates = templates
        self.config = config
        self.root = (workspace_root / config.path).resolve()
        self.posts_dir = self.root / "posts"
        self.base_url = config.base_url if config.base_url.endswith("/") else config.base_url + "/"

    def _url(self, key: str) -> str:
        return f"{self.base_url}index.html#{key}"

    def _copy_media(self, post: Post) -> list[dict[str, str]]:
        out = []
        for m in post.media:
            data = m.path.read_bytes()
            name = f"{hashlib.sha256(data).hexdigest()[:12]}-{m.path.name}"
            target = self.root / "media" / name
            if not target.exists():
                write_atomic(target, data)
            out.append({"file": f"media/{name}", "alt": m.alt})
        return out

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt:
        """Write the post's entry unless an entry for `key` already exists."""
        path = self.posts_dir / f"{key}.json"
        if path.exists():
            existing = json.loads(path.read_text(encoding="utf-8"))
            return Receipt(remote_id=existing["id"], url=existing["url"], duplicate=True)
        entry: dict[str, Any] = {
            **post_record(post, key, self.name, reply_to),
            "url": self._url(key),
            "media": self._copy_media(post),
            "published": _now(),
        }
        data = json.dumps(entry, ensure_ascii=False, indent=2).encode("utf-8")
        write_atomic(path, data)
        return Receipt(remote_id=key, url=entry["url"])

    def entries(self) -> list[dict[str, Any]]:
        """Every published entry, newest first."""
        if not self.posts_dir.is_dir():
            return []
        items = [json.loads(p.read_text(encoding="utf-8")) for p in self.posts_dir.glob("*.json")]
        items.sort(key=lambda e: (e["published"], e["release"], e["part"]), reverse=True)
        return items

    async def verify(self) -> str:
        """The folder exists (or can be made) and is writable."""
        probe = self.root / ".prcast-write-test"
        try:
            write_atomic(probe, b"ok", durable=False)
            probe.unlink()
        except OSError as exc:
            raise ChannelError(self.name, f"cannot write to {self.root}: {exc.strerror}") from None
        return f"folder {self.root}"

    async def close(self) -> None:
        self.rebuild()

    def publish_checkpoint(self, note: str, vkey: str) -> None:
        """Publish a signed audit checkpoint: checkpoint.txt (the latest), checkpoints/ (each
        one, so a mirror of the press room keeps them all), audit-key.txt, page and feed."""
        size = note.split("\n", 2)[1]
        write_atomic(self.root / "checkpoints" / f"{int(size):012d}.checkpoint", note.encode())
        write_atomic(self.root / "checkpoint.txt", note.encode("utf-8"))
        write_atomic(self.root / "audit-key.txt", (vkey + "\n").encode("utf-8"))
        self.rebuild()

    def _checkpoint(self) -> tuple[str | None, str | None]:
        try:
            note = (self.root / "checkpoint.txt").read_text(encoding="utf-8")
            vkey = (self.root / "audit-key.txt").read_text(encoding="utf-8").strip()
        except OSError:
            return None, None
        return note, vkey

    def rebuild(self) -> None:
        """Regenerate feed.xml and index.html from the entries."""
        entries = self.entries()
        write_atomic(self.root / "feed.xml", self._feed(entries))
        write_atomic(self.root / "index.html", self._index(entries).encode("utf-8"))

    def _feed(self, entries: list[dict[str, Any]]) -> bytes:
        ET.register_namespace("", ATOM)

        def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
            el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
            if text is not None:
                el.text = text
            return el

        feed = ET.Element(f"{{{ATOM}}}feed")
        sub(feed, "title", self.config.title)
        sub(feed, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self.base_url)}")
        sub(feed, "updated", entries[0]["published"] if entries else _now())
        author = sub(feed, "author")
        sub(author, "name", self.config.author)
        sub(feed, "link", rel="self", href=f"{self.base_url}feed.xml")
        sub(feed, "link", rel="alternate", href=f"{self.base_url}index.html")
        sub(feed, "generator", "prcast")
        note, vkey = self._checkpoint()
        if note is not None and vkey is not None:
            ET.register_namespace("prcast", CHECKPOINT_NS)
            el = ET.SubElement(feed, f"{{{CHECKPOINT_NS}}}checkpoint", {"key": vkey})
            el.text = note
        for e in entries:
            entry = sub(feed, "entry")
            title = e["title"] if e["parts"] == 1 else f"{e['title']} ({e['part']}/{e['parts']})"
            sub(entry, "title", title)
            sub(entry, "id", f"urn:uuid:{uuid.UUID(hex=e['id'][:32])}")
            sub(entry, "published", e["published"])
            sub(entry, "updated", e["published"])
            sub(entry, "link", rel="alternate", href=e["url"])
            for tag in e["hashtags"]:
                sub(entry, "category", term=tag)
            content = sub(entry, "content", e["text"], type="text")
            content.set("{http://www.w3.org/XML/1998/namespace}lang", e["language"])
        body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + body

    def _index(self, entries: list[dict[str, Any]]) -> str:
        from prcast.render import environment

        env = environment(self.templates)
        note, vkey = self._checkpoint()
        return env.get_template("outbox_index.html.j2").render(
            title=self.config.title, entries=entries, feed_url="feed.xml",
            checkpoint=note, checkpoint_key=vkey,
        )  # fmt: skip
