import csv
import json
from pathlib import Path

import pytest

from prcast.errors import InputError
from prcast.lists import PressList, import_csv, read_csv
from prcast.workspace import Workspace
from tests.conftest import Invoke

BAD_ROWS = {
    # row number among the data rows -> (the row's cells, the field the error names)
    3: (["Broken Mail", "not-an-email", "", "", "", "", "", "", "", ""], "email"),
    50: (["No Address", "", "", "", "", "Daily", "tech", "de", "", ""], "email"),
    120: (["Bad Lang", "lang@example.org", "", "", "", "", "", "German", "", ""], "language"),
    200: (["Bad Opt", "opt@example.org", "", "", "", "", "", "", "", "perhaps"], "opt_out"),
    333: (["Bad Masto", "masto@example.org", "@@nope", "", "", "", "", "", "", ""], "mastodon"),
    444: (["Bad X", "x@example.org", "", "", "way_too_long_for_x_handle", "", "", "", "", ""], "x"),
    555: (["Too Many", "many@example.org", "", "", "", "", "", "", "", "", "extra"], ""),
}


def write_contacts(path: Path, n: int = 1000, bad: int = 20) -> dict[int, str]:
    """n data rows; `bad` of them malformed. Returns {line: field} of the bad rows."""
    header = [
        "name",
        "email",
        "mastodon",
        "bluesky",
        "x",
        "outlet",
        "beat",
        "language",
        "tags",
        "opt_out",
    ]
    bad_at = {
        i: BAD_ROWS[list(BAD_ROWS)[k % len(BAD_ROWS)]]
        for k, i in enumerate(range(7, 7 + 49 * bad, 49))
    }
    expected: dict[int, str] = {}
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(1, n + 1):
            if i in bad_at:
                cells, field = bad_at[i]
                w.writerow(cells)
                expected[i + 1] = field  # +1: the header is line 1
            else:
                beat = ["tech", "business", "politics"][i % 3]
                lang = ["de", "en", "fr"][i % 3 if i % 7 else 0]
                w.writerow([f"Journalist {i}", f"j{i}@outlet{i % 40}.example", f"@j{i}@social.example" if i % 5 == 0 else "",
                            "", "", f"Outlet {i % 40}", beat, lang, "tech;weekly" if i % 4 == 0 else "daily", ""])  # fmt: skip
    return expected


def test_import_1000_contacts_reports_each_bad_row_and_is_idempotent(tmp_path: Path) -> None:
    csv_path = tmp_path / "journalists.csv"
    expected = write_contacts(csv_path)
    assert len(expected) == 20
    lists = tmp_path / "lists"
    first = import_csv(lists, csv_path, "everyone")
    assert first.added == 980 and first.merged == 0
    assert {e.line: e.field for e in first.errors} == expected
    again = import_csv(lists, csv_path, "everyone")
    assert again.added == 0 and again.unchanged == 980
    press = PressList(lists)
    assert len(press.contacts) == 980
    assert len(press.resolve("everyone").recipients) == 980


def test_duplicates_are_merged_not_doubled(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "name,email,mastodon,tags\nAnna,Anna@Example.org,,tech\n", encoding="utf-8"
    )
    (tmp_path / "b.csv").write_text(
        "email,mastodon,outlet,tags,opt_out\nanna@example.org,@anna@social.example,Daily,weekly,yes\n",
        encoding="utf-8",
    )
    (tmp_path / "c.csv").write_text(
        "name,mastodon,beat\nA. Example,@anna@social.example,tech\n", encoding="utf-8"
    )
    lists = tmp_path / "lists"
    assert import_csv(lists, tmp_path / "a.csv", None).added == 1
    assert import_csv(lists, tmp_path / "b.csv", None).merged == 1
    assert import_csv(lists, tmp_path / "c.csv", None).merged == 1
    [anna] = PressList(lists).contacts
    assert (anna.name, anna.email, anna.mastodon, anna.outlet, anna.beat) == (
        "Anna", "anna@example.org", "@anna@social.example", "Daily", "tech")  # fmt: skip
    assert anna.tags == ("tech", "weekly") and anna.opt_out


def test_unknown_column_of_the_workspace_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("name,e-mail\nA,a@b.org\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r'x\.csv:1: unknown column "e-mail" \(did you mean "email"'
    ):
        read_csv(tmp_path / "x.csv")
    assert [c.email for _, c in read_csv(tmp_path / "x.csv", strict=False).contacts] == ["a@b.org"]


CONTACTS = """\
name,email,mastodon,outlet,beat,language,tags,opt_out
Anna,anna@example.org,,Tageblatt,tech,de,tech;weekly,
Ben,ben@example.org,@ben@social.example,Tech Weekly,tech,en,tech,
Carla,carla@example.org,,Wirtschaft,business,de,finance,
Dirk,dirk@example.org,,Tageblatt,tech,de-AT,tech,yes
Eva,eva@example.org,,Radio,politics,de,,
Field One,field1@corp.example,@f1@corp.social,,,de,staff,
"""
GROUPS = """\
[groups.de-tech]
description = "Tech journalists writing in German"
where = { beat = "tech", language = ["de"] }

[groups.business]
members = ["carla@example.org", "eva@example.org"]

[groups.press]
include = ["de-tech", "business"]
members = ["ben@example.org", "anna@example.org"]

[groups.field-staff]
where = { tags = ["staff"] }
"""


@pytest.fixture
def press(tmp_path: Path) -> Path:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    (lists / "groups.toml").write_text(GROUPS, encoding="utf-8")
    (lists / "suppressed.txt").write_text(
        "# opted out by phone, 2026-10-02\neva@example.org\n", encoding="utf-8"
    )
    return lists


def test_nested_group_with_selection_resolves_once_each_with_reasons(press: Path) -> None:
    res = PressList(press).resolve("press")
    assert [r.contact.email for r in res.recipients] == [
        "ben@example.org",
        "anna@example.org",
        "carla@example.org",
    ]
    reasons = {r.contact.email: r.reasons for r in res.recipients}
    assert reasons["anna@example.org"] == (
        "member of press",
        "de-tech selects beat=tech, language=de via press > de-tech",
    )
    assert reasons["carla@example.org"] == ("member of business via press > business",)
    assert {r.contact.email for r in res.suppressed} == {"dirk@example.org", "eva@example.org"}
    dirk = next(r for r in res.suppressed if r.contact.email == "dirk@example.org")
    assert dirk.reasons[-1] == "suppressed: opted out"


def test_group_cycles_and_unknown_names_are_clear_errors(press: Path) -> None:
    (press / "groups.toml").write_text(
        GROUPS + '\n[groups.a]\ninclude = ["b"]\n\n[groups.b]\ninclude = ["a"]\n'
    )
    with pytest.raises(
        InputError, match=r"groups.toml:\d+: groups include each other in a cycle: a -> b -> a"
    ):
        PressList(press).resolve("a")
    with pytest.raises(InputError, match=r'unknown group "pres" \(did you mean "press"'):
        PressList(press).resolve("pres")
    (press / "groups.toml").write_text('[groups.x]\nmembers = ["nobody@example.org"]\n')
    with pytest.raises(
        InputError,
        match=r"groups.toml:2: group \"x\": member \"nobody@example.org\" is not in contacts.csv",
    ):
        PressList(press).resolve("x")


def test_lists_commands(ws: Workspace, cli: Invoke, tmp_path: Path) -> None:
    csv_path = tmp_path / "journalists.csv"
    expected = write_contacts(csv_path, n=100, bad=2)
    result = cli("lists", "import", str(csv_path), "--group", "press")
    assert result.exit_code == 1
    assert "98 added, 0 merged, 0 unchanged, 2 rejected; group press updated" in result.stdout
    for line, field in expected.items():
        assert f"journalists.csv:{line}: {field}" in result.stderr
    shown = json.loads(cli("lists", "show", "press", "--json").stdout)
    assert len(shown["recipients"]) == 98
    assert cli("lists", "suppress", "j1@outlet1.example").exit_code == 0
    shown = json.loads(cli("lists", "show", "press", "--json").stdout)
    assert (
        len(shown["recipients"]) == 97 and shown["suppressed"][0]["email"] == "j1@outlet1.example"
    )
    assert "press: 97 recipients, 1 suppressed" in cli("lists", "groups").stdout
    assert cli("lists", "show", "press").exit_code == 0
