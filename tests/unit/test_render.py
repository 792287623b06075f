from pathlib import Path

import pytest

from prcast.config import BlueskyConfig, MastodonConfig, OutboxConfig
from prcast.errors import InputError
from prcast.release import load_release
from prcast.render import reflow, render_release
from prcast.secrets import SecretRef
from prcast.workspace import Workspace


def test_workspace_template_overrides_shipped_one(ws: Workspace) -> None:
    (ws.templates_dir / "outbox.md.j2").write_text("OVERRIDE {{ title }}\n", encoding="utf-8")
    release = load_release(ws.releases_dir / "example.md")
    [r] = render_release(release, [OutboxConfig(name="press-room")], ws.templates_dir)
    assert r.text == f"OVERRIDE {release.title}"


def test_undefined_variable_names_template_file_and_line(ws: Workspace) -> None:
    (ws.templates_dir / "outbox.md.j2").write_text(
        "{{ title }}\n\n{{ subtitle }}\n", encoding="utf-8"
    )
    release = load_release(ws.releases_dir / "example.md")
    with pytest.raises(InputError) as info:
        render_release(release, [OutboxConfig(name="press-room")], ws.templates_dir)
    err = info.value
    assert err.path == ws.templates_dir / "outbox.md.j2"
    assert err.line == 3
    assert "subtitle" in err.message


def test_template_syntax_error_names_line(ws: Workspace) -> None:
    (ws.templates_dir / "outbox.md.j2").write_text("ok\n{% if title %}\nno end\n", encoding="utf-8")
    release = load_release(ws.releases_dir / "example.md")
    with pytest.raises(InputError) as info:
        render_release(release, [OutboxConfig(name="press-room")], ws.templates_dir)
    assert info.value.path == ws.templates_dir / "outbox.md.j2"
    assert "syntax error" in info.value.message


def test_long_text_becomes_a_thread_within_the_channel_limit(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text(
        '+++\ntitle = "T"\n+++\n' + "Sentence number one is here. " * 60, encoding="utf-8"
    )
    masto = MastodonConfig(name="m", instance="https://m.example", token=SecretRef("X"))
    [r] = render_release(load_release(path), [masto], ws.templates_dir)
    assert len(r.posts) > 1
    assert all(p.length <= 500 for p in r.posts)
    assert [p.index for p in r.posts] == list(range(1, len(r.posts) + 1))


def test_url_longer_than_a_post_names_the_release_line(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    url = "https://example.com/" + "x" * 600  # Bluesky counts a link in full
    path.write_text('+++\ntitle = "T"\n+++\nText\n\n' + url + "\n", encoding="utf-8")
    bluesky = BlueskyConfig(name="m", handle="press.example.org")
    with pytest.raises(InputError) as info:
        render_release(load_release(path), [bluesky], ws.templates_dir)
    assert info.value.line == 6 and 'channel "m"' in info.value.message


def test_reflow_joins_soft_breaks_but_keeps_lists() -> None:
    assert reflow("a\nb\n\n- x\n- y") == "a b\n\n- x\n- y"


def test_server_published_limit_is_used_unless_channels_toml_sets_one(
    ws: Workspace, tmp_path: Path
) -> None:
    from prcast.channels.base import Limits

    path = tmp_path / "long.md"
    path.write_text(
        '+++\ntitle = "T"\n+++\n' + "Sentence number one is here. " * 60, encoding="utf-8"
    )
    masto = MastodonConfig(name="m", instance="https://m.example", token=SecretRef("X"))
    release = load_release(path)
    [r] = render_release(release, [masto], ws.templates_dir, {"m": Limits(max_length=1000)})
    assert max(p.length for p in r.posts) > 500 and all(p.limit == 1000 for p in r.posts)
    shorter = MastodonConfig(
        name="m", instance="https://m.example", token=SecretRef("X"), max_length=300
    )
    [r] = render_release(release, [shorter], ws.templates_dir, {"m": Limits(max_length=1000)})
    assert all(p.length <= 300 for p in r.posts)


def test_too_many_or_too_large_images_are_bad_input(ws: Workspace, tmp_path: Path) -> None:
    from prcast.config import BlueskyConfig

    for i in range(5):
        (tmp_path / f"i{i}.png").write_bytes(b"\x89PNG" + b"0" * 10)
    media = "".join(f'[[media]]\npath = "i{i}.png"\nalt = "image {i}"\n' for i in range(5))
    path = tmp_path / "many.md"
    path.write_text(f'+++\ntitle = "T"\n{media}+++\nBody\n', encoding="utf-8")
    bsky = BlueskyConfig(name="b", handle="x.test", app_password=SecretRef("X"))
    with pytest.raises(InputError, match="at most 4 images"):
        render_release(load_release(path), [bsky], ws.templates_dir)
    (tmp_path / "big.png").write_bytes(b"0" * 1_000_001)
    path.write_text(
        '+++\ntitle = "T"\n[[media]]\npath = "big.png"\nalt = "big"\n+++\nBody\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="1,000,001 bytes"):
        render_release(load_release(path), [bsky], ws.templates_dir)


def test_direct_messages_are_batched_so_mentions_and_text_fit(
    ws: Workspace, tmp_path: Path
) -> None:
    from prcast.lists import Contact, Recipient, Resolution

    people = tuple(
        Recipient(Contact(name=f"P{i}", mastodon=f"@person{i:03d}@social.example"), ("x",))
        for i in range(40)
    )
    audience = [Resolution("staff", people, ())]
    masto = MastodonConfig(
        name="dm", instance="https://m.example", token=SecretRef("X"), visibility="direct"
    )
    release = load_release(ws.releases_dir / "example.md")
    [r] = render_release(release, [masto], ws.templates_dir, audience=audience)
    batches = {p.target: p.recipients for p in r.posts}
    assert len(batches) > 1
    assert sorted(h for b in batches.values() for h in b) == sorted(
        p.contact.mastodon for p in people
    )
    from prcast.text.counting import mastodon_length

    for post in r.posts:
        assert mastodon_length(" ".join(post.recipients) + " " + post.text) <= 500
        assert mastodon_length(" ".join(post.recipients)) <= 250


def test_email_under_embargo_notice_carries_the_embargo_line(ws: Workspace, tmp_path: Path) -> None:
    from prcast.config import EmailConfig
    from prcast.lists import Contact, Recipient, Resolution

    path = tmp_path / "e.md"
    path.write_text(
        '+++\ntitle = "Results"\nembargo = 2026-12-01T09:30:00+01:00\n+++\nNumbers.\n',
        encoding="utf-8",
    )
    people = (Recipient(Contact(name="Anna", email="anna@example.org"), ("x",)),)
    mail = EmailConfig(name="m", host="h", from_address="p@example.org", embargo_notice=True)
    [r] = render_release(
        load_release(path), [mail], ws.templates_dir, audience=[Resolution("g", people, ())]
    )
    assert r.posts[0].subject == "EMBARGOED UNTIL December 1, 2026, 9:30 AM GMT+1: Results"
    assert r.posts[0].text.startswith("EMBARGOED UNTIL December 1, 2026, 9:30\u202fAM GMT+1\n")
    plain = EmailConfig(name="m", host="h", from_address="p@example.org")
    [r] = render_release(
        load_release(path), [plain], ws.templates_dir, audience=[Resolution("g", people, ())]
    )
    assert r.posts[0].subject == "Results"


def test_render_json_shows_the_platform_length_and_bluesky_bytes(
    ws: Workspace, tmp_path: Path
) -> None:
    from prcast.cli.publish import _renderings_json

    path = tmp_path / "cjk.md"
    path.write_text(
        '+++\ntitle = "新しい修理工房"\n+++\n' + "学校のノートパソコンを無料で修理します。" * 30,
        encoding="utf-8",
    )
    bluesky = BlueskyConfig(name="b", handle="press.example.org")
    [data] = _renderings_json(render_release(load_release(path), [bluesky], ws.templates_dir))
    posts = data["posts"]
    assert isinstance(posts, list) and len(posts) > 1
    for post in posts:
        assert post["length"] == len(post["text"]) <= 300  # one grapheme per character here
        assert post["bytes"] == len(post["text"].encode()) and post["max_bytes"] == 3000


def test_a_character_x_refuses_is_an_error_naming_its_line(ws: Workspace, tmp_path: Path) -> None:
    from prcast.config import XConfig

    path = tmp_path / "bom.md"
    path.write_text(
        '+++\ntitle = "T"\n+++\nText\n\nA zero\ufeffwidth no-break space\n', encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        render_release(load_release(path), [XConfig(name="x")], ws.templates_dir)
    assert info.value.line == 6 and "U+FEFF" in info.value.message
