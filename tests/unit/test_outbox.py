import asyncio
import json
from pathlib import Path

import feedparser

from prcast.channels.base import Post
from prcast.channels.outbox import OutboxChannel
from prcast.config import OutboxConfig
from prcast.release import Link, Media


def post(
    text: str = "Hello <world> & friends", index: int = 1, total: int = 1, **kw: object
) -> Post:
    return Post(
        channel="press-room",
        release_id="rel",
        title="Launch <b>day</b>",
        text=text,
        index=index,
        total=total,
        links=(Link("https://example.org/x"),),
        hashtags=("launch",),
        **kw,
    )  # type: ignore[arg-type]


def channel(tmp_path: Path) -> OutboxChannel:
    return OutboxChannel(OutboxConfig(name="press-room", title="Room & Co"), tmp_path)


def test_publishing_the_same_key_twice_adds_one_entry(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    first = asyncio.run(ch.publish(post(), "a" * 32))
    again = asyncio.run(ch.publish(post("changed"), "a" * 32))
    assert list((tmp_path / "outbox" / "posts").iterdir()) == [
        tmp_path / "outbox" / "posts" / f"{'a' * 32}.json"
    ]
    assert not first.duplicate and again.duplicate and again.remote_id == first.remote_id
    assert (
        json.loads((tmp_path / "outbox/posts" / f"{'a' * 32}.json").read_text())["text"]
        == "Hello <world> & friends"
    )


def test_feed_is_atom_that_a_feed_parser_accepts(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    first = asyncio.run(ch.publish(post("part one", 1, 2), "1" * 32))
    asyncio.run(ch.publish(post("part two", 2, 2), "2" * 32, reply_to=first))
    asyncio.run(ch.close())
    feed = feedparser.parse((tmp_path / "outbox" / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Room & Co"
    # the two parts of one release are one page and one entry, its content HTML
    [entry] = feed.entries
    assert entry.title == "Launch <b>day</b>"
    assert entry.content[0].type == "text/html"
    assert "<p>part one</p>" in entry.content[0].value
    assert "<p>part two</p>" in entry.content[0].value
    assert entry.link.startswith("https://press.example.org/releases/")
    reply = json.loads((tmp_path / "outbox/posts" / f"{'2' * 32}.json").read_text())
    assert reply["in_reply_to"] == first.remote_id


def test_index_html_escapes_post_text(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    asyncio.run(ch.publish(post("<script>alert(1)</script>"), "b" * 32))
    asyncio.run(ch.close())
    entry = json.loads((tmp_path / "outbox/posts" / f"{'b' * 32}.json").read_text())
    html = (tmp_path / "outbox" / entry["path"]).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="../feed.xml"' in html


def test_media_is_copied_with_alt_text(tmp_path: Path) -> None:
    image = tmp_path / "pic.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    ch = channel(tmp_path)
    asyncio.run(ch.publish(post(media=(Media(image, "A workbench"),)), "c" * 32))
    entry = json.loads((tmp_path / "outbox/posts" / f"{'c' * 32}.json").read_text())
    assert entry["media"][0]["alt"] == "A workbench"
    assert (tmp_path / "outbox" / entry["media"][0]["file"]).read_bytes() == image.read_bytes()
