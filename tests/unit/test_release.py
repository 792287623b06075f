from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prcast.errors import InputError
from prcast.release import Contact, Link, load_release

GOOD = """\
+++
title = "Big news"
summary = "Short."
hashtags = ["news", "#launch"]
links = ["https://example.org/a", { url = "https://example.org/b", title = "B" }]
embargo = 2026-12-01T09:30:00+01:00
channels = ["press-room"]
audience = ["tech-press"]
contact = { name = "Jana", email = "press@example.org" }
language = "de-AT"

[[media]]
path = "pic.png"
alt = "A picture"
+++
Body text.
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    path = tmp_path / "rel.md"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_release(path)
    return info.value


def test_valid_release(tmp_path: Path) -> None:
    r = load_release(write(tmp_path, GOOD))
    assert r.title == "Big news" and r.body == "Body text."
    assert r.hashtags == ("news", "launch")
    assert r.links == (Link("https://example.org/a"), Link("https://example.org/b", "B"))
    assert r.embargo == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert r.embargo.utcoffset() == timedelta(hours=1)
    assert r.contact == Contact(name="Jana", email="press@example.org")
    assert r.media[0].alt == "A picture" and r.media[0].path == (tmp_path / "pic.png").resolve()
    assert r.language == "de-AT" and r.channels == ("press-room",) and r.audience == ("tech-press",)
    assert r.id == "rel"


def test_embargo_as_string_with_zone(tmp_path: Path) -> None:
    r = load_release(
        write(tmp_path, GOOD.replace("2026-12-01T09:30:00+01:00", '"2026-12-01T09:30:00Z"'))
    )
    assert r.embargo == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        (
            'summary = "Short."',
            'sumary = "Short."',
            3,
            'unknown field "sumary" (did you mean "summary"?)',
        ),
        ("2026-12-01T09:30:00+01:00", "2026-12-01T09:30:00", 6, 'field "embargo" has no time zone'),
        ("2026-12-01T09:30:00+01:00", "2026-12-01", 6, "needs a time and a time zone"),
        ('"https://example.org/a"', '"ftp://example.org/a"', 5, "is not an http(s) URL"),
        ('alt = "A picture"\n', "", 12, 'media[0]: missing key "alt"'),
        ('path = "pic.png"', 'path = "nope.png"', 13, 'file "nope.png" not found'),
        ('hashtags = ["news", "#launch"]', 'hashtags = ["two words"]', 4, "may only contain"),
        ('language = "de-AT"', 'language = "German"', 10, "is not a language tag"),
        ('channels = ["press-room"]', 'channels = "press-room"', 7, "must be a list of strings"),
        ('title = "Big news"', 'title = "Big news', 2, "invalid TOML"),
        ('email = "press@example.org"', 'email = "nobody"', 9, "not an email address"),
    ],
)
def test_bad_release_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, fragment: str
) -> None:
    assert old in GOOD
    err = error_of(write(tmp_path, GOOD.replace(old, new)))
    assert err.line == line, err.message
    assert fragment in err.message
    assert err.message.startswith(f"rel.md:{line}: ")


def test_missing_front_matter(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "Just text\n"))
    assert err.line == 1 and "+++" in err.message


def test_unclosed_front_matter(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, '+++\ntitle = "x"\nBody\n'))
    assert "not closed" in err.message


def test_missing_title_and_empty_body(tmp_path: Path) -> None:
    assert (
        'missing field "title"'
        in error_of(write(tmp_path, '+++\nsummary = "x"\n+++\nBody\n')).message
    )
    err = error_of(write(tmp_path, '+++\ntitle = "x"\n+++\n\n'))
    assert err.line == 3 and "no body" in err.message
