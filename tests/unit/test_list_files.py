"""Edits of lists/ that cannot corrupt: groups.toml through tomlkit, one atomic commit per
import (a journal replayed after a kill), CSVs as real tools export them, remove/unsuppress."""

import json
import os
import tomllib
from pathlib import Path

import pytest

from prcast import listfiles
from prcast.errors import InputError
from prcast.lists import PressList, import_csv, read_csv, remove, suppress, unsuppress
from prcast.workspace import Workspace
from tests.conftest import Invoke

CONTACTS = "name,email\nAnna,anna@example.org\nBen,ben@example.org\n"


def lists_dir(tmp_path: Path, groups: str) -> Path:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "contacts.csv").write_text(CONTACTS + "Carla,carla@example.org\n", encoding="utf-8")
    (lists / "groups.toml").write_text(groups, encoding="utf-8")
    return lists


@pytest.mark.parametrize(
    "groups",
    [
        # the regular expression of old wrote a second members key into these
        '# press\n[groups.g]\nwhere = { tags = ["x", "y"] }\nmembers = ["anna@example.org"]  # Anna\n',
        '[groups.g]\ndescription = "G"\nmembers = [\n  "anna@example.org", # met at CES\n]\n'
        '\n[groups.g.where]\nbeat = ["tech"]\n',
        '[groups.g]\nwhere = { beat = "tech" }\n\n[groups.other]\nmembers = ["ben@example.org"]\n',
    ],
    ids=["inline-where-before-members", "where-subtable-after-members", "where-only"],
)
def test_import_into_a_group_with_where_keeps_one_members_key_and_the_comments(
    tmp_path: Path, groups: str
) -> None:
    lists = lists_dir(tmp_path, groups)
    (tmp_path / "new.csv").write_text(CONTACTS + "Dora,dora@example.org\n", encoding="utf-8")
    import_csv(lists, tmp_path / "new.csv", "g")
    text = (lists / "groups.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)  # valid TOML: one members key
    assert text.count("members") == groups.count("members") + (
        "members" not in groups.split("[groups.other]")[0]
    )
    members = data["groups"]["g"]["members"]
    assert sorted(members) == ["anna@example.org", "ben@example.org", "dora@example.org"]
    assert len(members) == len(set(members))
    for comment in ("# press", "# Anna", "# met at CES"):
        assert (comment in text) == (comment in groups)
    assert data["groups"]["g"].get("where") == tomllib.loads(groups)["groups"]["g"].get("where")
    assert [r.contact.email for r in PressList(lists).resolve("g").recipients]


def test_a_big_group_is_written_one_member_a_line_and_extended_by_added_lines(
    tmp_path: Path,
) -> None:
    lists = tmp_path / "lists"
    rows = "".join(f"P{i},p{i}@example.org\n" for i in range(300))
    (tmp_path / "a.csv").write_text("name,email\n" + rows, encoding="utf-8")
    import_csv(lists, tmp_path / "a.csv", "big")
    before = (lists / "groups.toml").read_text(encoding="utf-8")
    assert before.count('\n  "p') == 300
    (tmp_path / "b.csv").write_text("name,email\nQ,q@example.org\nP0,P0@Example.org\n")
    result = import_csv(lists, tmp_path / "b.csv", "big")
    after = (lists / "groups.toml").read_text(encoding="utf-8")
    assert result.group_added == 1 and result.added == 1
    assert after.replace('  "q@example.org",\n', "") == before  # one added line in a diff


def test_a_kill_between_the_renames_is_finished_by_the_next_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lists = lists_dir(tmp_path, '[groups.g]\nmembers = ["anna@example.org"]\n')
    (tmp_path / "new.csv").write_text("name,email\nDora,dora@example.org\n", encoding="utf-8")
    real = os.replace
    renames: list[str] = []

    def killed_after_one_rename(src: str | Path, dst: str | Path) -> None:
        if Path(src).name.endswith(".staged") and renames:
            raise KeyboardInterrupt("killed")  # the process dies between the two renames
        renames.append(str(dst))
        real(src, dst)

    monkeypatch.setattr(listfiles.os, "replace", killed_after_one_rename)
    with pytest.raises(KeyboardInterrupt):
        import_csv(lists, tmp_path / "new.csv", "g")
    assert (lists / listfiles.JOURNAL).exists()  # decided, half done
    monkeypatch.setattr(listfiles.os, "replace", real)
    press = PressList(lists)  # the load replays the journal
    assert press.find("dora@example.org") is not None
    assert "dora@example.org" in press.groups["g"].members
    assert sorted(p.name for p in lists.iterdir()) == ["contacts.csv", "groups.toml"]


def test_a_kill_before_the_journal_leaves_the_old_state_and_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lists = lists_dir(tmp_path, '[groups.g]\nmembers = ["anna@example.org"]\n')
    old = {p.name: p.read_bytes() for p in lists.iterdir()}
    (tmp_path / "new.csv").write_text("name,email\nDora,dora@example.org\n", encoding="utf-8")

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(listfiles, "write_atomic", killed)  # dies writing the journal
    with pytest.raises(KeyboardInterrupt):
        import_csv(lists, tmp_path / "new.csv", "g")
    assert any(p.name.endswith(".staged") for p in lists.iterdir())
    (lists / ".contacts.csv.abc123.tmp").write_text("left by an old prcast")
    monkeypatch.undo()
    PressList(lists)
    assert {p.name: p.read_bytes() for p in lists.iterdir()} == old


def test_an_import_after_a_killed_one_tidies_up_and_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lists = lists_dir(tmp_path, '[groups.g]\nmembers = ["anna@example.org"]\n')
    (tmp_path / "new.csv").write_text("name,email\nDora,dora@example.org\n", encoding="utf-8")
    (lists / ".groups.toml.staged").write_text("half")  # a killed import's leftovers
    (lists / ".contacts.csv.x1y2.tmp").write_text("half")
    result = import_csv(lists, tmp_path / "new.csv", "g")  # no load in between
    assert (result.added, result.group_added) == (1, 1)
    assert sorted(p.name for p in lists.iterdir()) == ["contacts.csv", "groups.toml"]
    assert PressList(lists).groups["g"].members == ("anna@example.org", "dora@example.org")


def test_csv_with_bom_semicolons_german_header_quoted_newlines_and_extra_columns(
    tmp_path: Path,
) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(
        "\ufeffVorname;Nachname;E-Mail;Medium;Ressort;Sprache;Adresse;Fax\r\n"
        'Anna;Müller;Anna@Example.org;Tageblatt;Tech;de;"Hauptstr. 1\r\n10115 Berlin";030 1\r\n'
        'Ben;Berg;ben@example.org;"Radio; Eins";Politik;en;"Weg 2\n";\r\n'
        "Carla;Kurz;not-an-address;Zeitung;Tech;de;;\r\n".encode()
    )
    table = read_csv(export, strict=False)
    assert table.delimiter == ";"
    assert table.ignored == ["Adresse", "Fax"]
    assert table.mapped["E-Mail"] == "email" and table.mapped["Ressort"] == "beat"
    assert [
        (line, c.name, c.email, c.outlet, c.beat, c.language) for line, c in table.contacts
    ] == [
        (2, "Anna Müller", "anna@example.org", "Tageblatt", "tech", "de"),
        (4, "Ben Berg", "ben@example.org", "Radio; Eins", "politik", "en"),
    ]
    assert [(e.line, e.field) for e in table.errors] == [
        (6, "email")
    ]  # lines after the quoted breaks


def test_tab_separated_and_an_explicit_header_mapping(tmp_path: Path) -> None:
    export = tmp_path / "export.tsv"
    export.write_text("Kontakt Mail\tTitel\tGebiet\nanna@example.org\tTageblatt\tTech\n")
    with pytest.raises(InputError, match="needs an email column"):
        read_csv(export, strict=False)
    table = read_csv(
        export, {"Kontakt Mail": "email", "Titel": "outlet", "Gebiet": "beat"}, strict=False
    )
    assert table.delimiter == "\t" and not table.ignored
    [(_, anna)] = table.contacts
    assert (anna.email, anna.outlet, anna.beat) == ("anna@example.org", "Tageblatt", "tech")
    with pytest.raises(InputError, match='"mail" is not a column'):
        read_csv(export, {"Kontakt Mail": "mail"}, strict=False)
    with pytest.raises(InputError, match='the file has no column "e-mail"'):
        read_csv(export, {"E-Mail": "email"}, strict=False)


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    lists = lists_dir(tmp_path, '[groups.g]\nmembers = ["anna@example.org"]\n')
    old = {p.name: p.read_bytes() for p in lists.iterdir()}
    (tmp_path / "new.csv").write_text("name,email\nDora,dora@example.org\nAnna,anna@example.org\n")
    result = import_csv(lists, tmp_path / "new.csv", "g", dry_run=True)
    assert (result.added, result.unchanged, result.group_added) == (1, 1, 1)
    assert {p.name: p.read_bytes() for p in lists.iterdir()} == old


def test_remove_takes_a_contact_out_of_the_list_and_every_group(tmp_path: Path) -> None:
    lists = lists_dir(
        tmp_path,
        '[groups.g]\nmembers = [\n  "anna@example.org",  # keep this comment\n  "ben@example.org",\n]\n'
        '\n[groups.h]\nmembers = ["Ben@example.org", "carla@example.org"]\n',
    )
    [ben] = remove(lists, ["BEN@example.org"])
    assert ben.email == "ben@example.org"
    press = PressList(lists)
    assert press.find("ben@example.org") is None and len(press.contacts) == 2
    assert press.groups["g"].members == ("anna@example.org",)
    assert press.groups["h"].members == ("carla@example.org",)
    assert "# keep this comment" in (lists / "groups.toml").read_text()
    remove(lists, ["carla@example.org"], group="h")
    press = PressList(lists)
    assert press.groups["h"].members == () and press.find("carla@example.org") is not None
    with pytest.raises(InputError, match=r'"nobody@example\.org" is not in contacts\.csv'):
        remove(lists, ["nobody@example.org"])


def test_unsuppress_takes_back_a_suppression_and_an_opt_out(tmp_path: Path) -> None:
    lists = lists_dir(tmp_path, '[groups.g]\nwhere = { beat = "" }\n')
    (lists / "contacts.csv").write_text(
        "name,email,opt_out\nAnna,anna@example.org,\nBen,ben@example.org,yes\n", encoding="utf-8"
    )
    (lists / "suppressed.txt").write_text("# by phone\nanna@example.org  # 2026-10-02\n")
    assert suppress(lists, ["@anna@social.example", "anna@example.org"]) == ["@anna@social.example"]
    assert len(PressList(lists).resolve("g").recipients) == 0
    assert unsuppress(lists, ["Anna@Example.org", "ben@example.org"]) == [
        "anna@example.org", "ben@example.org"]  # fmt: skip
    assert (lists / "suppressed.txt").read_text() == "# by phone\n@anna@social.example\n"
    assert len(PressList(lists).resolve("g").recipients) == 2
    with pytest.raises(InputError, match=r"not suppressed: anna@example\.org"):
        unsuppress(lists, ["anna@example.org"])


def test_lists_commands_remove_suppress_unsuppress(
    ws: Workspace, cli: Invoke, tmp_path: Path
) -> None:
    export = tmp_path / "export.csv"
    export.write_text("E-Mail;Medium;Ressort;Notiz\nanna@example.org;Tageblatt;Tech;x\n"
                      "ben@example.org;Radio;Politik;y\n", encoding="utf-8-sig")  # fmt: skip
    dry = cli("lists", "import", str(export), "--group", "press", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing written: would be 2 added" in dry.stdout
    assert "columns not imported: Notiz" in dry.stderr
    assert not (ws.lists_dir / "contacts.csv").exists()
    result = cli("lists", "import", str(export), "--group", "press", "--map", "Notiz=tags")
    assert result.exit_code == 0, result.output
    assert "E-Mail -> email" in result.stdout and "Notiz -> tags" in result.stdout
    bad = cli("lists", "suppress", "niemand")
    assert bad.exit_code == 2 and '"niemand" is neither an email address nor a handle' in bad.stderr
    assert cli("lists", "suppress", "anna@example.org", "--reason", "asked by phone").exit_code == 0
    assert cli("lists", "unsuppress", "anna@example.org").exit_code == 2  # no reason
    done = cli("lists", "unsuppress", "anna@example.org", "--reason", "subscribed again")
    assert done.exit_code == 0, done.output
    again = cli("lists", "unsuppress", "anna@example.org", "--reason", "twice")
    assert again.exit_code == 2 and "not suppressed: anna@example.org" in again.stderr
    records = [json.loads(line) for line in ws.audit_path.read_text().splitlines()]
    assert [(r["type"], r["reason"]) for r in records if r["type"].startswith("lists.")] == [
        ("lists.suppressed", "asked by phone"),
        ("lists.unsuppressed", "subscribed again"),
    ]
    assert cli("audit", "verify").exit_code == 0
    assert cli("lists", "remove", "ben@example.org").exit_code == 0
    shown = json.loads(cli("lists", "show", "press", "--json").stdout)
    assert [r["email"] for r in shown["recipients"]] == ["anna@example.org"]
    plain = cli("lists", "show", "press")  # not a terminal: one recipient a line
    assert "anna@example.org\t\tTageblatt\tmember of press" in plain.stdout


def test_a_hand_edit_is_read_although_the_checked_lists_are_cached(ws: Workspace) -> None:
    lists = ws.lists_dir
    (lists / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    (lists / "groups.toml").write_text('[groups.g]\nmembers = ["anna@example.org"]\n')
    assert [r.contact.email for r in PressList(lists).resolve("g").recipients] == [
        "anna@example.org"]  # fmt: skip
    assert (ws.state_dir / "contacts-cache.json").exists()
    assert (ws.state_dir / "groups-cache.json").exists()
    (lists / "contacts.csv").write_text(CONTACTS.replace("Anna,", "Anna Edited,"))
    (lists / "groups.toml").write_text('[groups.g]\nmembers = ["ben@example.org"]\n')
    [ben] = PressList(lists).resolve("g").recipients
    assert ben.contact.email == "ben@example.org"
    assert PressList(lists).find("anna@example.org").name == "Anna Edited"  # type: ignore[union-attr]
    # a cache that was tampered with is not believed: its rows are checked again
    cache = ws.state_dir / "contacts-cache.json"
    cache.write_text(cache.read_text().replace("Anna Edited", "Anna\\r\\nBcc: all@x.org"))
    assert PressList(lists).find("anna@example.org").name == "Anna Edited"  # type: ignore[union-attr]
    (lists / "contacts.csv").write_text(CONTACTS + "Bad,not-an-address\n")
    with pytest.raises(InputError, match=r"contacts\.csv:4: email"):
        PressList(lists)


def test_a_group_may_list_more_members_than_other_toml_arrays_hold(tmp_path: Path) -> None:
    n = 12_000  # over the 10,000 items any other TOML array may hold
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "contacts.csv").write_text(
        "name,email\n" + "".join(f"P{i},p{i}@example.org\n" for i in range(n)), encoding="utf-8"
    )
    members = "".join(f'  "p{i}@example.org",\n' for i in range(n))
    (lists / "groups.toml").write_text(f"[groups.g]\nmembers = [\n{members}]\n")
    assert len(PressList(lists).resolve("g").recipients) == n
    (lists / "groups.toml").write_text(
        f"[groups.g]\nwhere = {{ tags = [{', '.join(['1'] * n)}] }}\n"
    )
    with pytest.raises(InputError, match=r"groups\.toml:2: group \"g\": where\.tags must be"):
        PressList(lists)
