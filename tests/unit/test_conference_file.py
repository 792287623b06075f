"""The conference definition file, the question matching and the moderator's keys, without
a server: every mistake in conferences/NAME.toml names the file and line."""

from __future__ import annotations

import pytest

from prcast import conference
from prcast.cli.live import BACKSPACE, DOWN, ENTER, ESC, UP, _keys
from prcast.conference.report import _percentile
from prcast.errors import InputError
from prcast.workspace import Workspace

GOOD = """title = "Ask the workshop"
channels = ["masto"]
hashtag = "#AskRepair"
start = "2026-12-01 15:00"
end = "2026-12-01 16:00"
timezone = "Europe/Berlin"
"""


@pytest.fixture
def conf_dir(ws: Workspace) -> Workspace:
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write('\n[channels.masto]\ntype = "mastodon"\ninstance = "https://social.example"\n'
                'token = "env:PRCAST_MASTODON_TOKEN"\n')  # fmt: skip
    (ws.root / "conferences").mkdir()
    return ws


def write(ws: Workspace, text: str, name: str = "launch") -> None:
    (ws.root / "conferences" / f"{name}.toml").write_text(text, encoding="utf-8")


def test_a_good_file_loads_with_times_in_utc(conf_dir: Workspace) -> None:
    write(conf_dir, GOOD)
    conf = conference.load(conf_dir, conference.resolve_name(conf_dir, None))
    assert conf.hashtag == "AskRepair"
    assert conf.start.isoformat() == "2026-12-01T14:00:00+00:00"
    assert conf.end.isoformat() == "2026-12-01T15:00:00+00:00"
    assert conf.templates["opening"] == "conference/opening.txt.j2"


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (('end = "2026-12-01 16:00"', 'end = "2026-12-01 14:00"'), 5, "ends before it starts"),
        (('start = "2026-12-01 15:00"', 'start = "tomorrow"'), 4, '"tomorrow" is not a date'),
        (('timezone = "Europe/Berlin"', 'timezone = "Europe/Berln"'), 6, "unknown time zone"),
        (('channels = ["masto"]', 'channels = ["press-room"]'), 2, "cannot hold a conference"),
        (('hashtag = "#AskRepair"', 'hashtag = "Ask Repair"'), 3, "only letters, digits"),
        (
            ('title = "Ask the workshop"', 'titel = "Ask"'),
            1,
            'unknown field "titel" (did you mean "title"?)',
        ),
        (
            ("timezone", '[templates]\nopenning = "x.j2"\ntimezone'),
            8,
            'unknown template "openning"',
        ),
    ],
)
def test_each_mistake_names_file_and_line(
    conf_dir: Workspace, change: tuple[str, str], line: int, message: str
) -> None:
    text = GOOD.replace(*change)
    if change[0] == "timezone":  # a table must come last in TOML
        text = (
            GOOD.replace('timezone = "Europe/Berlin"\n', "") + '\n[templates]\nopenning = "x.j2"\n'
        )
        line = 8
    write(conf_dir, text)
    with pytest.raises(InputError) as caught:
        conference.load(conf_dir, "launch")
    assert caught.value.line == line, caught.value.message
    assert message in caught.value.message
    assert "launch.toml" in str(caught.value.path)


def test_which_conference_is_meant(conf_dir: Workspace) -> None:
    with pytest.raises(InputError, match="no conference defined"):
        conference.resolve_name(conf_dir, None)
    write(conf_dir, GOOD, "a")
    write(conf_dir, GOOD, "b")
    with pytest.raises(InputError, match="has 2 conferences"):
        conference.resolve_name(conf_dir, None)
    with pytest.raises(InputError, match='no conference "c"'):
        conference.resolve_name(conf_dir, "c")
    assert conference.resolve_name(conf_dir, "b.toml") == "b"


def test_a_question_asked_again_is_recognised_by_its_words() -> None:
    same = conference._normal
    assert same("@press Will schools pay?  #AskRepair") == same("will SCHOOLS pay")
    assert same("@press Will schools pay?") != same("@press Will parents pay?")


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert _percentile(values, 90) == 9.0
    assert _percentile(values, 50) == 5.0
    assert _percentile([3.0], 90) == 3.0
    assert _percentile([], 90) is None


def test_terminal_keys() -> None:
    assert _keys("\x1b[A\x1b[Bj\r\x7fx\x1b") == [UP, DOWN, "j", ENTER, BACKSPACE, "x", ESC]
    assert _keys("\x1bOA\x1b[5~q") == [UP, "q"]  # page-up is ignored
