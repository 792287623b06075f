"""Bad input: one clear message with file and line, exit code 2, nothing sent or stored."""

import pytest

from prcast.workspace import Workspace
from tests.conftest import Invoke, outbox_entries


def assert_refused(ws: Workspace, result: object, location: str, fragment: str) -> None:
    from typer.testing import Result

    assert isinstance(result, Result)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert location in errors[0] and fragment in errors[0], errors[0]
    assert "Traceback" not in result.output
    assert outbox_entries(ws) == []
    assert not ws.audit_path.exists()


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        (
            'title = "Example Corp',
            'titel = "Example Corp',
            2,
            'unknown field "titel" (did you mean "title"?)',
        ),
        ('language = "en"', "language = en", 4, "invalid TOML"),
        (
            "# embargo = 2026-12-01T09:30:00+01:00",
            "embargo = 2026-12-01T09:30:00",
            10,
            "no time zone",
        ),
        (
            '# channels = ["press-room"]',
            'channels = ["press-rom"]',
            8,
            'unknown channel "press-rom" (did you mean "press-room"?)',
        ),
    ],
)
def test_broken_release(
    ws: Workspace, cli: Invoke, old: str, new: str, line: int, fragment: str
) -> None:
    path = ws.releases_dir / "example.md"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    for command in ("send", "render"):
        result = cli(command, "example", "--yes") if command == "send" else cli(command, "example")
        assert_refused(ws, result, f"example.md:{line}:", fragment)


def test_broken_channels_toml(ws: Workspace, cli: Invoke) -> None:
    text = ws.channels_file.read_text(encoding="utf-8")
    ws.channels_file.write_text(text.replace('path = "outbox"', 'pth = "outbox"'), encoding="utf-8")
    result = cli("send", "example", "--yes")
    assert_refused(ws, result, "channels.toml:9:", 'unknown key "pth" (did you mean "path"?)')


def test_template_with_undefined_variable(ws: Workspace, cli: Invoke) -> None:
    (ws.templates_dir / "release.md.j2").write_text(
        "# {{ title }}\n{{ body }}\n{{ quote_of_the_day }}\n", encoding="utf-8"
    )
    result = cli("send", "example", "--yes")
    assert_refused(ws, result, "release.md.j2:3:", "quote_of_the_day")


def test_missing_release_file(ws: Workspace, cli: Invoke) -> None:
    assert_refused(ws, cli("send", "nope", "--yes"), 'release "nope" not found', "")


def test_unknown_channel_option(ws: Workspace, cli: Invoke) -> None:
    assert_refused(
        ws,
        cli("send", "example", "-c", "pres-room", "--yes"),
        'unknown channel "pres-room"',
        'did you mean "press-room"',
    )


def test_debug_shows_the_traceback(ws: Workspace, cli: Invoke) -> None:
    from typer.testing import CliRunner

    from prcast.cli import app

    result = CliRunner().invoke(
        app, ["--debug", "--workspace", str(ws.root), "send", "nope", "--yes"]
    )
    assert result.exit_code != 0 and result.exception is not None
