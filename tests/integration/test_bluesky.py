"""The Bluesky adapter against the reference PDS (npm @atproto/pds) on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from prcast.channels.base import Post
from prcast.channels.bluesky import BlueskyChannel, record_key
from prcast.config import BlueskyConfig
from prcast.secrets import SecretRef
from prcast.text.counting import bluesky_length
from prcast.workspace import Workspace
from tests.conftest import Invoke
from tests.integration.conftest import LINK, PersonalDataServer, add_channel, unique, write_release


@pytest.fixture
def account(
    pds: PersonalDataServer, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    handle, did, app_password = pds.create_account(unique("press"))
    monkeypatch.setenv("PRCAST_BLUESKY_APP_PASSWORD", app_password)
    return handle, did


def config(pds: PersonalDataServer, handle: str) -> BlueskyConfig:
    return BlueskyConfig(
        name="bsky",
        service=pds.url,
        handle=handle,
        app_password=SecretRef("PRCAST_BLUESKY_APP_PASSWORD"),
    )


def records(pds: PersonalDataServer, did: str) -> list[dict[str, Any]]:
    listed = pds.get(
        "com.atproto.repo.listRecords", repo=did, collection="app.bsky.feed.post", limit="100"
    )
    return list(listed["records"])


def facet_texts(text: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    raw = text.encode("utf-8")
    out = []
    for f in record.get("facets", []):
        piece = raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode("utf-8")
        out.append((f["features"][0]["$type"].split("#")[1], piece))
    return out


def test_release_is_published_as_a_thread_with_facets_image_and_replies(
    ws: Workspace, cli: Invoke, pds: PersonalDataServer, account: tuple[str, str]
) -> None:
    handle, did = account
    friend_handle, friend_did, _ = pds.create_account(unique("friend"))
    add_channel(ws, f'[channels.bsky]\ntype = "bluesky"\nservice = "{pds.url}"\nhandle = "{handle}"\n'
                    'app_password = "env:PRCAST_BLUESKY_APP_PASSWORD"')  # fmt: skip
    write_release(ws, mention=f"@{friend_handle}")
    result = cli("send", "launch", "--channel", "bsky", "--yes")
    assert result.exit_code == 0, result.output
    rows = json.loads(cli("report", "--format", "json").stdout)["deliveries"]
    assert len(rows) >= 3
    by_uri = {r["uri"]: r for r in records(pds, did)}
    posts = [by_uri[row["remote_id"]]["value"] for row in rows]
    first = posts[0]
    assert "reply" not in first
    [image] = first["embed"]["images"]
    assert image["alt"] == "Two technicians repairing a laptop at a workbench"
    assert image["image"]["mimeType"] == "image/png"
    root = {"uri": rows[0]["remote_id"], "cid": by_uri[rows[0]["remote_id"]]["cid"]}
    for parent_row, post in zip(rows, posts[1:], strict=False):
        assert post["reply"]["root"] == root
        assert post["reply"]["parent"] == {
            "uri": parent_row["remote_id"],
            "cid": by_uri[parent_row["remote_id"]]["cid"],
        }
    found = [pair for post in posts for pair in facet_texts(post["text"], post)]
    assert ("link", LINK) in found
    assert ("tag", "#repair") in found
    assert ("mention", f"@{friend_handle}") in found
    mention = next(
        f for p in posts for f in p.get("facets", []) if "mention" in f["features"][0]["$type"]
    )
    assert mention["features"][0]["did"] == friend_did
    assert all(p["langs"] == ["en"] for p in posts)
    assert all(bluesky_length(p["text"]) <= 300 for p in posts)


def test_facet_byte_offsets_with_umlauts_and_emoji_before_the_link(
    pds: PersonalDataServer, account: tuple[str, str]
) -> None:
    handle, did = account
    text = f"Größe 🛠️👩‍🔧 ändert alles: {LINK} #Nachhaltigkeit"

    async def publish() -> str:
        channel = BlueskyChannel(config(pds, handle))
        try:
            return (await channel.publish(Post(channel="bsky", release_id="r", title="t", text=text, language="de"),
                                          "f" * 32)).remote_id  # fmt: skip
        finally:
            await channel.close()

    uri = asyncio.run(publish())
    record = pds.get(
        "com.atproto.repo.getRecord",
        repo=did,
        collection="app.bsky.feed.post",
        rkey=uri.rsplit("/", 1)[1],
    )
    stored = record["value"]
    assert facet_texts(stored["text"], stored) == [("link", LINK), ("tag", "#Nachhaltigkeit")]
    link = stored["facets"][0]["index"]
    assert (
        link["byteStart"] == len(text[: text.index("https")].encode("utf-8")) > text.index("https")
    )


def test_a_repeated_delivery_creates_one_record(
    pds: PersonalDataServer, account: tuple[str, str]
) -> None:
    handle, did = account
    post = Post(
        channel="bsky",
        release_id="r",
        title="t",
        text="Exactly once.",
        planned_at="2026-11-23T09:00:00+00:00",
    )

    async def twice() -> tuple[Any, Any]:
        one, two = BlueskyChannel(config(pds, handle)), BlueskyChannel(config(pds, handle))
        try:
            first = await one.publish(post, "d" * 32)
            second = await two.publish(post, "d" * 32)  # a retry after the answer was lost
        finally:
            await one.close()
            await two.close()
        return first, second

    first, second = asyncio.run(twice())
    assert first.remote_id == second.remote_id and second.duplicate
    assert [r["value"]["text"] for r in records(pds, did)] == ["Exactly once."]
    assert first.remote_id.endswith("/" + record_key("d" * 32, post.planned_at, 1))


def test_the_session_is_refreshed_not_recreated(
    pds: PersonalDataServer, account: tuple[str, str]
) -> None:
    handle, did = account

    async def run() -> tuple[str, str, int]:
        channel = BlueskyChannel(config(pds, handle))
        logins = 0
        original = channel._client.post

        async def counting_post(url: str, **kwargs: Any) -> Any:
            nonlocal logins
            logins += url.endswith("createSession")
            return await original(url, **kwargs)

        channel._client.post = counting_post  # type: ignore[method-assign]
        try:
            await channel.publish(
                Post(channel="bsky", release_id="r", title="t", text="before refresh"), "r1" * 16
            )
            before = channel._session["refreshJwt"] if channel._session else ""
            await channel._refresh()
            after = channel._session["refreshJwt"] if channel._session else ""
            await channel.publish(
                Post(channel="bsky", release_id="r", title="t", text="after refresh"), "r2" * 16
            )
        finally:
            await channel.close()
        return before, after, logins

    before, after, logins = asyncio.run(run())
    assert before != after
    assert logins == 1
    assert sorted(r["value"]["text"] for r in records(pds, did)) == [
        "after refresh",
        "before refresh",
    ]
