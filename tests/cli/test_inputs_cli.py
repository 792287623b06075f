"""Inputs through the command line: secrets kept out of listings, addresses checked at import."""

import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke

HOOK = "https://hooks.slack.com/services/T0000/B0000/AbCdEfGh1234567890abcdef"


def test_channels_list_never_prints_a_webhook_url_that_carries_a_token(
    ws: Workspace, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRCAST_HOOK_URL", HOOK)
    with ws.channels_file.open("a", encoding="utf-8") as f:
        f.write('\n[channels.hook]\ntype = "webhook"\nurl = "env:PRCAST_HOOK_URL"\n')
    for args in (("channels", "list"), ("channels", "list", "--json")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "env:PRCAST_HOOK_URL" in result.stdout
        assert "AbCdEfGh" not in result.output


def test_a_literal_webhook_url_with_a_token_is_refused_with_its_line(
    ws: Workspace, cli: Invoke
) -> None:
    lines = len(ws.channels_file.read_text(encoding="utf-8").splitlines())
    with ws.channels_file.open("a", encoding="utf-8") as f:
        f.write(f'\n[channels.hook]\ntype = "webhook"\nurl = "{HOOK}"\n')
    result = cli("channels", "list")
    assert result.exit_code == 2
    assert f"channels.toml:{lines + 4}:" in result.stderr and "carries a secret" in result.stderr
    assert "AbCdEfGh" not in result.output


def test_import_rejects_a_name_with_a_line_break_and_encodes_an_idn_domain(
    ws: Workspace, cli: Invoke
) -> None:
    csv = ws.root / "new.csv"
    csv.write_text(
        "name,email\n"
        '"Eve\r\nBcc: everyone",eve@example.org\n'
        "Jana,jana@bücher.example\n"
        "Jörg,jörg@example.org\n",
        encoding="utf-8",
    )
    result = cli("lists", "import", str(csv))
    assert "new.csv:2: name: holds a control character" in result.stderr
    assert "new.csv:5: email:" in result.stderr and "SMTPUTF8" in result.stderr
    stored = (ws.lists_dir / "contacts.csv").read_text(encoding="utf-8")
    assert "jana@xn--bcher-kva.example" in stored
    assert "Eve" not in stored and "jörg" not in stored
