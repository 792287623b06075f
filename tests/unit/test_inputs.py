"""Input hardening: confined paths, bounded patterns, limits, addresses and redaction."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from prcast import secrets
from prcast.config import load_config, url_secret
from prcast.errors import InputError
from prcast.fileio import read_input
from prcast.lists import email_address
from prcast.policy import Pattern, Policy, check_text, load_policy
from prcast.release import load_release
from prcast.tomlfile import parse_toml
from prcast.workspace import ALLOW_ENV

RELEASE = """\
+++
title = "Title"
[[media]]
path = "{path}"
alt = "alt text"
+++
Body.
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "releases").mkdir(parents=True)
    (ws / "channels.toml").write_text('[channels.room]\ntype = "outbox"\n', encoding="utf-8")
    (tmp_path / "outside.png").write_bytes(b"secret")
    (ws / "releases" / "photo.png").write_bytes(b"png")
    return ws


def release_with_media(root: Path, path: str) -> Path:
    file = root / "releases" / "r.md"
    file.write_text(RELEASE.format(path=path), encoding="utf-8")
    return file


# -- confined paths -------------------------------------------------------------------------


def test_media_inside_the_workspace_is_taken(root: Path) -> None:
    rel = load_release(release_with_media(root, "photo.png"))
    assert rel.media[0].path == (root / "releases" / "photo.png").resolve()


@pytest.mark.parametrize("path", ["../../outside.png", "../../../../../../etc/passwd"])
def test_media_escaping_by_a_relative_path_is_refused(root: Path, path: str) -> None:
    with pytest.raises(InputError) as exc:
        load_release(release_with_media(root, path))
    assert exc.value.line == 4 and "outside the workspace" in exc.value.detail
    assert ALLOW_ENV in (exc.value.hint or "")


def test_media_at_an_absolute_path_is_refused(root: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_release(release_with_media(root, str(root.parent / "outside.png")))
    assert exc.value.line == 4 and "outside the workspace" in exc.value.detail


def test_media_through_a_symlink_out_of_the_workspace_is_refused(root: Path) -> None:
    (root / "releases" / "link.png").symlink_to(root.parent / "outside.png")
    with pytest.raises(InputError) as exc:
        load_release(release_with_media(root, "link.png"))
    assert exc.value.line == 4 and "outside the workspace" in exc.value.detail


def test_a_symlink_loop_is_refused_not_a_crash(root: Path) -> None:
    (root / "releases" / "a.png").symlink_to(root / "releases" / "b.png")
    (root / "releases" / "b.png").symlink_to(root / "releases" / "a.png")
    with pytest.raises(InputError) as exc:
        load_release(release_with_media(root, "a.png"))
    assert exc.value.line == 4


def test_a_symlinked_folder_out_of_the_workspace_is_refused(root: Path) -> None:
    (root / "releases" / "assets").symlink_to(root.parent)
    with pytest.raises(InputError, match="outside the workspace"):
        load_release(release_with_media(root, "assets/outside.png"))


def test_an_allowed_folder_opens_media_outside_the_workspace(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_ENV, str(root.parent))
    rel = load_release(release_with_media(root, "../../outside.png"))
    assert rel.media[0].path == (root.parent / "outside.png").resolve()


@pytest.mark.parametrize("path", ["../elsewhere", "/tmp/prcast-outbox", "link"])
def test_an_outbox_folder_outside_the_workspace_is_refused(root: Path, path: str) -> None:
    (root / "link").symlink_to(root.parent)
    config = root / "channels.toml"
    config.write_text(f'[channels.room]\ntype = "outbox"\npath = "{path}"\n', encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_config(config)
    assert exc.value.line == 3 and "outside the workspace" in exc.value.detail


def test_an_outbox_folder_in_an_allowed_folder_is_taken(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_ENV, str(root.parent / "public"))
    config = root / "channels.toml"
    config.write_text('[channels.room]\ntype = "outbox"\npath = "../public/press"\n', "utf-8")
    assert load_config(config).channels["room"].path == "../public/press"  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["../../secret.j2", "/etc/passwd", "sub/../../x.j2", "link.j2"])
def test_a_channel_template_outside_the_templates_folder_is_refused(root: Path, name: str) -> None:
    (root / "templates").mkdir()
    (root / "templates" / "link.j2").symlink_to(root.parent / "outside.png")
    config = root / "channels.toml"
    config.write_text(f'[channels.room]\ntype = "outbox"\ntemplate = "{name}"\n', "utf-8")
    with pytest.raises(InputError) as exc:
        load_config(config)
    assert exc.value.line == 3 and "outside the templates folder" in exc.value.detail


def test_a_workspace_template_symlinked_out_of_the_workspace_is_refused(root: Path) -> None:
    from prcast.render import environment, render_template

    (root / "templates").mkdir()
    (root.parent / "evil.j2").write_text("{{ title }}", encoding="utf-8")
    (root / "templates" / "release.md.j2").symlink_to(root.parent / "evil.j2")
    env = environment(root / "templates")
    with pytest.raises(InputError, match="outside the workspace") as exc:
        render_template(env, "release.md.j2", {"title": "x"})
    assert exc.value.path is not None and exc.value.line == 1


# -- bounded patterns -----------------------------------------------------------------------


def test_a_catastrophic_pattern_is_stopped_and_names_the_rule_and_its_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "policy.toml").write_text(
        'blocked_terms = ["x"]\n\n[[patterns]]\nname = "slow"\nregex = \'(a|aa)+$\'\n',
        encoding="utf-8",
    )
    policy = load_policy(tmp_path)
    text = "fine\n" + "a" * 40 + "!\n"
    with pytest.raises(InputError) as exc:
        check_text(policy, text, source="r.md")
    assert exc.value.path == tmp_path / "policy.toml" and exc.value.line == 5
    assert 'pattern "slow"' in exc.value.detail and "line 2 of r.md" in exc.value.detail


def test_a_pattern_spends_its_budget_once_per_text_not_per_line() -> None:
    import regex

    slow = Pattern("slow", regex.compile("(a|aa)+$"), "block", line=3)
    text = ("a" * 22 + "!\n") * 200  # each line alone is quick, all of them are not
    with pytest.raises(InputError, match='pattern "slow"'):
        check_text(Policy(patterns=(slow,)), text * 5)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("regex = 5", "regex must be a string"),
        ("regex = '('", "invalid regex"),
        ("regex = 'x*'", "matches empty text"),
    ],
)
def test_a_pattern_of_the_wrong_kind_is_refused_with_its_line(
    tmp_path: Path, line: str, fragment: str
) -> None:
    (tmp_path / "policy.toml").write_text(f'[[patterns]]\nname = "p"\n{line}\n', "utf-8")
    with pytest.raises(InputError) as exc:
        load_policy(tmp_path)
    assert exc.value.line == 3 and fragment in exc.value.detail


# -- limits and decoding --------------------------------------------------------------------


def test_invalid_utf8_names_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_bytes(b"a = 1\nb = 2\nc = '\xc3\x28'\n")
    with pytest.raises(InputError) as exc:
        read_input(path)
    assert exc.value.line == 3 and "not UTF-8" in exc.value.detail


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_bytes(b"\xef\xbb\xbfa = 1\n")
    assert read_input(path) == "a = 1\n"


def test_a_toml_error_at_the_end_names_the_last_line() -> None:
    with pytest.raises(InputError) as exc:
        parse_toml('a = 1\nb = 2\nc = "open', Path("x.toml"))
    assert exc.value.line == 3


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 10_000 + "]" * 10_000,
        "a = " + "{b = " * 5_000 + "1" + "}" * 5_000,
        "a" + ".a" * 2_000 + " = 1",
        "[" + ".".join("t" * 1 for _ in range(2_000)) + "]",
    ],
)
def test_deep_nesting_is_refused_not_recursed(text: str) -> None:
    with pytest.raises(InputError, match="nested more than 20 deep") as exc:
        parse_toml("x = 1\n" + text + "\n", Path("x.toml"))
    assert exc.value.line == 2


# -- addresses ------------------------------------------------------------------------------


def test_an_internationalised_domain_is_stored_in_its_ascii_form() -> None:
    assert email_address("Jana@Bücher.Example") == "jana@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "address",
    ["jörg@example.org", "a@b", "a..b@example.org", "a@-x.example", "a b@example.org", "@x.org"],
)
def test_an_address_prcast_cannot_send_to_is_refused(address: str) -> None:
    with pytest.raises(ValueError):
        email_address(address)


# -- secrets in URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXX1",
        "https://discord.com/api/webhooks/1234567890/AbCdEf0123456789_ghijKLmnop-qrstuv",
        "https://user:hunter22@hooks.example.org/x",
        "https://hooks.example.org/x?token=abc",
        "https://hooks.example.org/x?sig=abc",
    ],
)
def test_a_url_carrying_a_secret_is_recognised(url: str) -> None:
    assert url_secret(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/prcast",
        "https://press.example.org/press-releases-2026/feed",
        "https://social.example.org",
        "https://hooks.example.org/x?format=json",
    ],
)
def test_a_plain_url_is_no_secret(url: str) -> None:
    assert url_secret(url) is None


def test_a_webhook_url_with_a_token_must_be_an_env_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prcast.config import WebhookConfig

    config = tmp_path / "channels.toml"
    url = "https://hooks.slack.com/services/T0/B0/AbCdEfGh1234567890abcdef"
    config.write_text(f'[channels.hook]\ntype = "webhook"\nurl = "{url}"\n', "utf-8")
    with pytest.raises(InputError) as exc:
        load_config(config)
    assert exc.value.line == 3 and "carries a secret" in exc.value.detail
    assert 'url = "env:PRCAST_HOOK_URL"' in (exc.value.hint or "")
    config.write_text('[channels.hook]\ntype = "webhook"\nurl = "env:PRCAST_HOOK_URL"\n', "utf-8")
    hook = load_config(config).channels["hook"]
    assert isinstance(hook, WebhookConfig) and hook.where() == "env:PRCAST_HOOK_URL"
    monkeypatch.setenv("PRCAST_HOOK_URL", url)
    assert hook.endpoint() == url
    assert url not in secrets.redact(f"posting to {url}")


# -- redaction in every encoding ------------------------------------------------------------

SECRET = 'Tok+en/with=odd"chars\\ü'


@pytest.fixture
def registered() -> None:
    secrets.register(SECRET, user="press@example.org")


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe="")),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(f"press@example.org:{SECRET}".encode()).decode(),
        base64.b64encode(f"\0press@example.org\0{SECRET}".encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    ],
    ids=[
        "raw",
        "quote",
        "quote-keep-slash",
        "quote_plus",
        "quote-lower-hex",
        "json-ascii",
        "json-utf8",
        "base64",
        "basic-auth",
        "sasl-plain",
        "base64url",
    ],
)
def test_a_secret_is_redacted_in_every_encoding(registered: None, form: str) -> None:
    assert SECRET not in form or form == SECRET
    out = secrets.redact(f"before {form} after")
    assert form not in out and secrets.MASK in out


def test_a_secret_inside_a_json_document_is_redacted(registered: None) -> None:
    body = json.dumps({"error": f"bad token {SECRET}"})
    assert secrets.redact(body) == '{"error": "bad token ' + secrets.MASK + '"}'


def test_a_secret_never_reaches_the_audit_log_in_any_encoding(
    registered: None, tmp_path: Path
) -> None:
    from prcast.audit import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl")
    basic = base64.b64encode(f"press@example.org:{SECRET}".encode()).decode()
    log.append(
        "test",
        url=f"https://x.example/?t={quote_plus(SECRET)}",
        auth=f"Basic {basic}",
        body=json.dumps({"token": SECRET}),
    )
    raw = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    for form in (SECRET, quote_plus(SECRET), json.dumps(SECRET)[1:-1]):
        assert form not in raw
    assert base64.b64encode(f"press@example.org:{SECRET}".encode()).decode() not in raw


def test_what_the_cli_prints_is_redacted(
    registered: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from prcast.cli.common import console, err_console, print_json

    console().print(f"token {quote_plus(SECRET)}", markup=False)
    err_console().print(f"auth {base64.b64encode(SECRET.encode()).decode()}", markup=False)
    print_json({"body": json.dumps({"token": SECRET})})
    out = capsys.readouterr()
    assert quote_plus(SECRET) not in out.out and "Tok" not in out.out
    assert base64.b64encode(SECRET.encode()).decode() not in out.err
    assert out.out.count(secrets.MASK) == 2 and secrets.MASK in out.err
