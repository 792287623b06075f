from pathlib import Path

import pytest

from prcast.config import MastodonConfig, OutboxConfig
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


def test_too_long_token_names_the_release_line(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text('+++\ntitle = "T"\n+++\nText\n\n' + "x" * 600 + "\n", encoding="utf-8")
    masto = MastodonConfig(name="m", instance="https://m.example", token=SecretRef("X"))
    with pytest.raises(InputError) as info:
        render_release(load_release(path), [masto], ws.templates_dir)
    assert info.value.line == 6 and 'channel "m"' in info.value.message


def test_reflow_joins_soft_breaks_but_keeps_lists() -> None:
    assert reflow("a\nb\n\n- x\n- y") == "a b\n\n- x\n- y"
