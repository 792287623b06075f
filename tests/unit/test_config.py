from pathlib import Path

import pytest

from prcast.config import MastodonConfig, OutboxConfig, load_config
from prcast.errors import InputError
from prcast.secrets import SecretRef


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channels.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_config(path)
    return info.value


GOOD = """\
[channels.press-room]
type = "outbox"
title = "Newsroom"

[channels.masto]
type = "mastodon"
instance = "https://social.example"
token = "env:PRCAST_TEST_TOKEN"
max_length = 1000
"""


def test_valid_config_is_typed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    outbox = config.channels["press-room"]
    masto = config.channels["masto"]
    assert isinstance(outbox, OutboxConfig) and outbox.title == "Newsroom"
    assert isinstance(masto, MastodonConfig)
    assert masto.token == SecretRef(
        "PRCAST_TEST_TOKEN", origin=masto.token.origin if masto.token else ""
    )
    assert masto.limit == 1000 and masto.rule == "mastodon"


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('token = "env', 'tokn = "env')))
    assert err.line == 8
    assert 'unknown key "tokn" (did you mean "token"?)' in err.message
    assert err.message.startswith('channels.toml:8: channel "masto"')


def test_missing_key_names_channel_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('instance = "https://social.example"\n', "")))
    assert err.line == 5 and 'missing key "instance"' in err.message


def test_wrong_type_names_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("max_length = 1000", 'max_length = "long"')))
    assert err.line == 9 and "must be an integer" in err.message


def test_unknown_channel_type(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('type = "mastodon"', 'type = "mastadon"')))
    assert (
        err.line == 6
        and 'unknown channel type "mastadon" (did you mean "mastodon"?)' in err.message
    )


def test_secret_stored_inline_is_refused_without_echoing_it(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('"env:PRCAST_TEST_TOKEN"', '"s3cr3t-value"')))
    assert err.line == 8 and "env:" in err.message
    assert "s3cr3t-value" not in err.message and "s3cr3t-value" not in (err.hint or "")


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('title = "Newsroom"', "title = Newsroom")))
    assert err.line == 3 and "invalid TOML" in err.message


def test_choice_is_checked(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD + 'visibility = "everyone"\n'))
    assert err.line == 10 and "must be one of public, unlisted, private, direct" in err.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "[channel.x]\ntype = 'outbox'\n"))
    assert err.line == 1 and '(did you mean "channels"?)' in err.message


def test_secret_resolution_names_variable_not_value(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = SecretRef("PRCAST_MISSING_VAR", origin="channels.toml:8")
    monkeypatch.delenv("PRCAST_MISSING_VAR", raising=False)
    with pytest.raises(
        InputError, match=r"PRCAST_MISSING_VAR is not set \(named at channels\.toml:8\)"
    ):
        ref.resolve()
    monkeypatch.setenv("PRCAST_MISSING_VAR", "abcd-secret")
    assert ref.resolve() == "abcd-secret"
    assert "abcd-secret" not in repr(ref)


def test_shipped_channels_toml_is_valid() -> None:
    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo / "channels.toml")
    assert [c.type for c in config.channels.values()] == ["outbox"]
