"""Press lists: contacts (lists/contacts.csv), recipient groups (lists/groups.toml) and the
workspace-wide suppression list (lists/suppressed.txt, plus every contact marked opt-out).

Groups are managed centrally: a group names its members, includes other groups and may
select contacts by beat, language, outlet and tags. Suppression always wins."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prcast.errors import InputError, did_you_mean
from prcast.fileio import read_input, write_atomic
from prcast.listfiles import add_members, commit, locked, recover, remove_members
from prcast.release import LANGUAGE_TAG
from prcast.tomlfile import TomlDocument, _check_values, parse_toml

COLUMNS = (
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
)
_MASTODON = re.compile(r"^@?[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_BLUESKY = re.compile(
    r"^@?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*$"
)
_X = re.compile(r"^@?[A-Za-z0-9_]{1,15}$")
_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"", "0", "false", "no", "n"}
GROUP_KEYS = ("description", "members", "include", "where")
WHERE_KEYS = ("beat", "language", "outlet", "tags")
#: the longest cell of a contacts CSV, in characters
MAX_CELL = 1_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+{_LABEL}$")


def email_address(value: str) -> str:
    """`value` as an address prcast can send to: lower-cased, an internationalised domain in
    its ASCII (IDNA) form; ValueError when it is not an address or needs SMTPUTF8."""
    address = value.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(address) > 254:
        raise ValueError(f'"{value}" is not an email address')
    if not local.isascii():
        raise ValueError(
            f'"{value}": a non-ASCII local part needs SMTPUTF8, which prcast does not send'
        )
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError(f'"{value}" is not an email address')
    try:  # an ASCII domain is its own IDNA form (the labels are checked below)
        lowered = domain.lower()
        ascii_domain = lowered if lowered.isascii() else lowered.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f'"{value}": the domain "{domain}" is not a valid domain name') from None
    if not _DOMAIN.match(ascii_domain):
        raise ValueError(f'"{value}" is not an email address')
    if ascii_domain.rpartition(".")[2].isdigit():
        raise ValueError(f'"{value}" is not an email address')
    return f"{local.lower()}@{ascii_domain}"


@dataclass(frozen=True)
class Contact:
    """A person on the press list."""

    name: str
    email: str = ""
    mastodon: str = ""
    bluesky: str = ""
    x: str = ""
    outlet: str = ""
    beat: str = ""
    language: str = ""
    tags: tuple[str, ...] = ()
    opt_out: bool = False

    @property
    def id(self) -> str:
        """How the contact is addressed in groups and reports: the email, else a handle."""
        return self.email or self.mastodon or self.bluesky or self.x

    def addresses(self) -> set[str]:
        """Every identifier that names this contact (for de-duplication and suppression)."""
        return {a.lower() for a in (self.email, self.mastodon, self.bluesky, self.x) if a}

    def merged(self, other: Contact) -> Contact:
        """This contact completed by `other`'s fields; tags united; an opt-out sticks."""
        values: dict[str, Any] = {}
        for name in ("name", "email", "mastodon", "bluesky", "x", "outlet", "beat", "language"):
            values[name] = getattr(self, name) or getattr(other, name)
        values["tags"] = tuple(dict.fromkeys((*self.tags, *other.tags)))
        values["opt_out"] = self.opt_out or other.opt_out
        return Contact(**values)

    def row(self) -> tuple[str, ...]:
        """The contact's cells in COLUMNS order."""
        return (self.name, self.email, self.mastodon, self.bluesky, self.x, self.outlet,
                self.beat, self.language, ";".join(self.tags), "yes" if self.opt_out else "")  # fmt: skip


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass
class ImportResult:
    added: int = 0
    merged: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    imported: list[Contact] = field(default_factory=list)
    #: the file's column -> prcast's column, where they differ
    mapped: dict[str, str] = field(default_factory=dict)
    #: the file's columns that were not imported
    ignored: list[str] = field(default_factory=list)
    #: members added to the group
    group_added: int = 0


def _handle(value: str, pattern: re.Pattern[str]) -> str:
    value = value.strip()
    if not value:
        return ""
    if not pattern.match(value):
        raise ValueError(f'"{value}" is not a valid handle')
    return value if value.startswith("@") or pattern is _BLUESKY else f"@{value}"


_OPT = _TRUE | _FALSE
_TAG_SPLIT = re.compile(r"[;,]")


def parse_row(raw: dict[str, str]) -> Contact:
    """One CSV row as a Contact; ValueError("field: message") when a field is wrong."""
    # one pass over the row for the common case (this runs once per contact of a 1.6M export)
    cells = {name: (raw.get(name) or "") for name in COLUMNS}
    if max(map(len, cells.values())) > MAX_CELL:
        name = next(n for n, c in cells.items() if len(c) > MAX_CELL)
        raise ValueError(f"{name}: longer than {MAX_CELL:,} characters")
    v = {name: cell.strip() for name, cell in cells.items()}
    if _CONTROL.search(" ".join(v.values())):
        name = next(n for n, c in v.items() if _CONTROL.search(c))
        raise ValueError(f"{name}: holds a control character (a line break?)")
    email = mastodon = bluesky = x = ""
    try:
        if v["email"]:
            email = email_address(v["email"])
    except ValueError as exc:
        raise ValueError(f"email: {exc}") from None
    try:
        if v["mastodon"]:
            mastodon = _handle(v["mastodon"], _MASTODON)
    except ValueError as exc:
        raise ValueError(f"mastodon: {exc}") from None
    try:
        if v["bluesky"]:
            bluesky = _handle(v["bluesky"], _BLUESKY).lstrip("@").lower()
    except ValueError as exc:
        raise ValueError(f"bluesky: {exc}") from None
    try:
        if v["x"]:
            x = _handle(v["x"], _X)
    except ValueError as exc:
        raise ValueError(f"x: {exc}") from None
    if not (email or mastodon or bluesky or x):
        raise ValueError("email: a contact needs an email address or a handle")
    language = v["language"]
    if language and not LANGUAGE_TAG.match(language):
        raise ValueError(f'language: "{language}" is not a language tag such as "de" or "en-GB"')
    opt = v["opt_out"].lower()
    if opt not in _OPT:
        raise ValueError(f'opt_out: "{opt}" is not yes/no')
    tags = v["tags"]
    return Contact(
        name=v["name"],
        email=email,
        mastodon=mastodon,
        bluesky=bluesky,
        x=x,
        outlet=v["outlet"],
        beat=v["beat"].lower(),
        language=language,
        tags=tuple(t.strip().lower() for t in _TAG_SPLIT.split(tags) if t.strip()) if tags else (),
        opt_out=opt in _TRUE,
    )


#: header names as media databases and spreadsheets export them -> prcast's column
HEADER_SYNONYMS: dict[str, str] = {
    **{c: c for c in COLUMNS},
    "e-mail": "email", "mail": "email", "email address": "email", "e-mail address": "email",
    "e-mail-adresse": "email", "emailadresse": "email", "e-mail adresse": "email",
    "full name": "name", "contact": "name", "contact name": "name", "journalist": "name",
    "kontakt": "name", "vollständiger name": "name",
    "medium": "outlet", "media outlet": "outlet", "publication": "outlet", "media": "outlet",
    "outlet name": "outlet", "medientitel": "outlet", "redaktion": "outlet", "zeitung": "outlet",
    "ressort": "beat", "topic": "beat", "section": "beat", "desk": "beat", "thema": "beat",
    "sprache": "language", "lang": "language",
    "schlagworte": "tags", "schlagwörter": "tags", "labels": "tags", "keywords": "tags",
    "twitter": "x", "x handle": "x", "twitter handle": "x", "x (twitter)": "x",
    "mastodon handle": "mastodon", "fediverse": "mastodon",
    "bluesky handle": "bluesky", "bsky": "bluesky",
    "opt-out": "opt_out", "opt out": "opt_out", "optout": "opt_out", "unsubscribed": "opt_out", "abgemeldet": "opt_out",
}  # fmt: skip
#: first and last name columns, joined into `name` when the file has no name column
_FIRST = {"first name", "firstname", "given name", "vorname"}
_LAST = {"last name", "lastname", "surname", "family name", "nachname"}
#: the largest groups.toml prcast reads, and the most members one group may list
MAX_GROUPS_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 2_000_000
#: the largest contacts CSV prcast reads (lists/contacts.csv or a file to import)
MAX_CSV_BYTES = 256 * 1024 * 1024


def _header_key(h: str) -> str:
    return " ".join(h.replace("\ufeff", "").strip().lower().split())


def _delimiter(text: str) -> str:
    """`,`, `;` or tab: whichever the header line (outside quotes) holds most of."""
    first = re.sub(r'"[^"]*"', "", text.split("\n", 1)[0][:65536])
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass
class CsvTable:
    """A contacts CSV as read: good rows, bad rows, and how its header was understood."""

    contacts: list[tuple[int, Contact]]
    errors: list[RowError]
    delimiter: str = ","
    #: the file's column -> prcast's column, for every column that was not already a prcast name
    mapped: dict[str, str] = field(default_factory=dict)
    #: the file's columns that prcast does not keep
    ignored: list[str] = field(default_factory=list)


def read_csv(
    path: Path,
    mapping: dict[str, str] | None = None,
    *,
    strict: bool = True,
    text: str | None = None,
) -> CsvTable:
    """Contacts and per-row errors of a CSV file (header row required; `,`, `;` or tab).

    `mapping` names the file's columns (`{"E-Mail": "email"}`); common English and German
    names are understood without it. `strict` (lists/contacts.csv itself) refuses a column
    prcast does not know; otherwise such columns are ignored and listed in `ignored`.
    A file that cannot be read as CSV at all (not UTF-8, a field over the csv module's limit,
    a bad header) is an InputError with its line; a bad row is a RowError with its first line."""
    if text is None:
        text = read_input(path, what="CSV file", limit=MAX_CSV_BYTES)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        raw_header = next(reader, [])
    except csv.Error as exc:
        raise InputError(f"not readable as CSV: {exc}", path=path, line=1) from None
    if not any(h.strip() for h in raw_header):
        raise InputError("empty CSV: the first line must name the columns", path=path, line=1)
    wanted = {_header_key(k): v for k, v in (mapping or {}).items()}
    for source, column in wanted.items():
        if column not in COLUMNS:
            raise InputError(f'--map {source}={column}: "{column}" is not a column{did_you_mean(column, COLUMNS)}',
                             hint=f"columns: {', '.join(COLUMNS)}")  # fmt: skip
    keys = [_header_key(h) for h in raw_header]
    for source in wanted:
        if source not in keys:
            raise InputError(f'--map: the file has no column "{source}"', path=path, line=1,
                             hint=f"its columns: {', '.join(h.strip() for h in raw_header)}")  # fmt: skip
    columns: list[str | None] = []
    table = CsvTable([], [], delimiter)
    first_col: int | None = None
    last_col: int | None = None
    for i, (raw, key) in enumerate(zip(raw_header, keys, strict=True)):
        target = wanted.get(key) or (None if strict else HEADER_SYNONYMS.get(key))
        if strict and target is None and key in COLUMNS:
            target = key
        if target is None and not strict and key in _FIRST:
            first_col = i
        elif target is None and not strict and key in _LAST:
            last_col = i
        if target is None:
            if strict:
                raise InputError(f'unknown column "{key}"{did_you_mean(key, COLUMNS)}', path=path, line=1,
                                 hint=f"columns: {', '.join(COLUMNS)}")  # fmt: skip
            if key and i not in (first_col, last_col):
                table.ignored.append(raw.strip())
        elif target in columns:
            raise InputError(f'two columns hold "{target}"', path=path, line=1)
        else:
            if key != target:
                table.mapped[raw.strip()] = target
        columns.append(target)
    names_from_parts = "name" not in columns and (first_col is not None or last_col is not None)
    if names_from_parts:
        for part in (first_col, last_col):
            if part is not None:
                table.mapped[raw_header[part].strip()] = "name"
    elif first_col is not None or last_col is not None:
        table.ignored += [raw_header[i].strip() for i in (first_col, last_col) if i is not None]
    if not {"email", "mastodon", "bluesky", "x"} & set(columns):
        raise InputError(
            "the CSV needs an email column (or a handle column)",
            path=path,
            line=1,
            hint='name it with --map, e.g. --map "E-Mail=email"',
        )
    width = len(raw_header)
    end = reader.line_num
    while True:
        line = end + 1  # a quoted cell may span lines: a row is named by its first line
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(
                f"not readable as CSV: {exc}", path=path, line=max(line, reader.line_num)
            ) from None
        end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            table.errors.append(RowError(line, "", f"{len(cells)} cells, the header has {width}"))
            continue
        row = {col: cell for col, cell in zip(columns, cells, strict=False) if col is not None}
        if names_from_parts:
            parts = [
                cells[i].strip() for i in (first_col, last_col) if i is not None and i < len(cells)
            ]
            row["name"] = " ".join(p for p in parts if p)
        try:
            table.contacts.append((line, parse_row(row)))
        except ValueError as exc:
            fld, _, msg = str(exc).partition(": ")
            table.errors.append(RowError(line, fld, msg))
    return table


@dataclass(frozen=True)
class Group:
    name: str
    description: str = ""
    members: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    contact: Contact
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Resolution:
    group: str
    recipients: tuple[Recipient, ...]
    suppressed: tuple[Recipient, ...]
    #: the group's public description (groups.toml `description`), for templates that ask
    description: str = ""


def _cache_path(path: Path) -> Path | None:
    """Where what was read from lists/NAME is kept between runs (in the workspace's state
    folder, never in lists/), or None outside a workspace."""
    state = path.parent.parent / ".prcast"
    return state / f"{path.stem}-cache.json" if state.is_dir() else None


def _parse_groups(path: Path, text: str) -> TomlDocument:
    """groups.toml parsed, through a cache keyed by the SHA-256 of its text (a 100,000-member
    group takes the TOML parser over a second); what the cache holds is checked again."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    cache = _cache_path(path)
    if cache is not None:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("version") == 1 and data.get("sha256") == digest:
                lines = {tuple(k): int(v) for k, v in data["lines"]}
                doc = TomlDocument(data=data["data"], path=path, lines=lines)
                _check_values(doc, MAX_MEMBERS)
                return doc
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    doc = parse_toml(text, path, max_items=MAX_MEMBERS)
    if cache is not None:
        with contextlib.suppress(OSError, TypeError, ValueError):  # a date does not go to JSON
            entry = {"version": 1, "sha256": digest, "data": doc.data,
                     "lines": [[list(k), v] for k, v in doc.lines.items()]}  # fmt: skip
            write_atomic(
                cache, json.dumps(entry, ensure_ascii=False).encode("utf-8"), durable=False
            )
    return doc


def _load_contacts(path: Path) -> list[Contact]:
    """lists/contacts.csv, all good or an InputError with its line. Checking 100,000 rows takes
    seconds, so the checked rows are cached under .prcast/, keyed by the SHA-256 of the file:
    any change, by hand or by prcast, is read and checked again."""
    text = read_input(path, what="CSV file", limit=MAX_CSV_BYTES)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    cache = _cache_path(path)
    if cache is not None:
        cached = _cached(cache, digest)
        if cached is not None:
            return cached
    table = read_csv(path, text=text)
    if table.errors:
        e = table.errors[0]
        raise InputError(
            f"{e.field}: {e.message}" if e.field else e.message, path=path, line=e.line
        )
    contacts = [c for _, c in table.contacts]
    if cache is not None:
        _store_cache(cache, digest, contacts)
    return contacts


def _cached(cache: Path, digest: str) -> list[Contact] | None:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("version") != 1 or data.get("sha256") != digest:
            return None
        rows = data["rows"]
        # the cache is a file like any other: what it holds is checked again, in bulk
        if not isinstance(rows, list) or set(map(len, rows)) - {len(COLUMNS)}:
            return None
        cells = [c for row in rows for c in row]
        joined = "".join(cells)  # a TypeError when a cell is not text
        if _CONTROL.search(joined) or max(map(len, cells), default=0) > MAX_CELL:
            return None
        # made by __init__: a dictionary filled in afterwards would not share its keys with
        # the other contacts' (170 bytes more a contact, 17 MB for 100,000)
        return [
            Contact(n, e, m, b, x, o, bt, lang, tuple(t.split(";")) if t else (), opt == "yes")
            for n, e, m, b, x, o, bt, lang, t, opt in rows
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store_cache(cache: Path, digest: str, contacts: Sequence[Contact]) -> None:
    data = {"version": 1, "sha256": digest, "rows": [c.row() for c in contacts]}
    with contextlib.suppress(OSError):
        write_atomic(cache, json.dumps(data, ensure_ascii=False).encode("utf-8"), durable=False)


class PressList:
    """The workspace's contacts, groups and suppression list, indexed by every address."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.contacts_path = folder / "contacts.csv"
        self.groups_path = folder / "groups.toml"
        self.suppressed_path = folder / "suppressed.txt"
        recover(folder)
        self.contacts: list[Contact] = []
        if self.contacts_path.exists():
            self.contacts = _load_contacts(self.contacts_path)
        self._index: dict[str, int] = {}
        index = self._index
        for i, c in enumerate(self.contacts):  # _add_to_index, inline for 100,000 contacts
            for a in (c.email, c.mastodon, c.bluesky, c.x):
                if a:
                    index.setdefault(a.lower(), i)
        self.groups, self._doc = self._read_groups()
        self.suppressed = self._read_suppressed()

    def _add_to_index(self, i: int, contact: Contact) -> None:
        index = self._index
        for a in (contact.email, contact.mastodon, contact.bluesky, contact.x):
            if a:  # as addresses() names them, without a set per contact
                index.setdefault(a.lower(), i)  # the first contact with an address keeps it

    def _read_groups(self) -> tuple[dict[str, Group], TomlDocument | None]:
        if not self.groups_path.exists():
            return {}, None
        text = read_input(self.groups_path, limit=MAX_GROUPS_BYTES)
        doc = _parse_groups(self.groups_path, text)
        for key in doc.data:
            if key != "groups":
                raise doc.error(
                    (key,), f'unknown top-level key "{key}"{did_you_mean(key, ["groups"])}'
                )
        groups = {}
        tables = doc.data.get("groups", {})
        if not isinstance(tables, dict):
            raise doc.error(("groups",), '"groups" must be a table of [groups.NAME] tables')
        for name, table in tables.items():
            if not isinstance(table, dict):
                raise doc.error(("groups", name), f'group "{name}" must be a table [groups.{name}]')
            for key in table:
                if key not in GROUP_KEYS:
                    raise doc.error(("groups", name, key),
                                    f'group "{name}": unknown key "{key}"{did_you_mean(key, GROUP_KEYS)}')  # fmt: skip
            where = table.get("where", {})
            if not isinstance(where, dict):
                raise doc.error(("groups", name, "where"), f'group "{name}": where must be a table')
            for key, value in where.items():
                if key not in WHERE_KEYS:
                    raise doc.error(("groups", name, "where"),
                                    f'group "{name}": cannot select by "{key}"{did_you_mean(key, WHERE_KEYS)}')  # fmt: skip
                if isinstance(value, str):
                    where[key] = [value]
                elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise doc.error(("groups", name, "where", key),
                                    f'group "{name}": where.{key} must be a string or a list of strings')  # fmt: skip
            if not isinstance(table.get("description", ""), str):
                raise doc.error(("groups", name, "description"),
                                f'group "{name}": description must be a string')  # fmt: skip
            for key in ("members", "include"):
                value = table.get(key, [])
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise doc.error(
                        ("groups", name, key), f'group "{name}": {key} must be a list of strings'
                    )
            groups[name] = Group(
                name=name,
                description=str(table.get("description", "")),
                members=tuple(table.get("members", [])),
                include=tuple(table.get("include", [])),
                where={k: tuple(str(x).lower() for x in v) for k, v in where.items()},
            )
        return groups, doc

    def _read_suppressed(self) -> set[str]:
        if not self.suppressed_path.exists():
            return set()
        lines = read_input(self.suppressed_path).splitlines()
        return {
            line.split("#", 1)[0].strip().lower() for line in lines if line.split("#", 1)[0].strip()
        }

    def is_suppressed(self, contact: Contact) -> bool:
        if contact.opt_out:
            return True
        return bool(self.suppressed) and not self.suppressed.isdisjoint(contact.addresses())

    def _position(self, address: str) -> int | None:
        wanted = address.strip().lower()
        found = self._index.get(wanted)
        if found is None and "@" in wanted:
            # a member written with an internationalised domain: stored in ASCII form
            with contextlib.suppress(ValueError):
                found = self._index.get(email_address(wanted))
        if found is None:
            found = self._index.get("@" + wanted)
        return found

    def find(self, address: str) -> Contact | None:
        """The contact with this email or handle (any case; an IDN domain in either form)."""
        i = self._position(address)
        return None if i is None else self.contacts[i]

    def merge(self, incoming: Iterable[Contact], result: ImportResult) -> None:
        """Add contacts; one already known (same email or handle) is completed, not doubled."""
        for new in incoming:
            hits = [self._index[a] for a in new.addresses() if a in self._index]
            if not hits:
                self.contacts.append(new)
                self._add_to_index(len(self.contacts) - 1, new)
                result.added += 1
            else:
                match = min(hits)
                combined = self.contacts[match].merged(new)
                if combined == self.contacts[match]:
                    result.unchanged += 1
                else:
                    self.contacts[match] = combined
                    self._add_to_index(match, combined)
                    result.merged += 1
                new = combined
            result.imported.append(new)

    def contacts_text(self) -> str:
        """lists/contacts.csv as prcast writes it."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(c.row() for c in self.contacts)
        return out.getvalue()

    def save_contacts(self) -> None:
        commit(self.folder, {"contacts.csv": self.contacts_text()})

    def groups_with_members(self, group: str, addresses: Sequence[str]) -> tuple[str, int]:
        """groups.toml's text with `addresses` added to GROUP's members (the group created when
        new); the rest of the file, its comments and its layout are kept."""
        existing = self.groups.get(group)
        known: set[int | str] = set()
        for member in existing.members if existing else ():
            i = self._position(member)
            known.add(member if i is None else i)
        new = []
        for a in dict.fromkeys(addresses):
            i = self._position(a)
            key: int | str = a if i is None else i
            if key not in known:
                known.add(key)
                new.append(a)
        text = (
            read_input(self.groups_path, limit=MAX_GROUPS_BYTES)
            if self.groups_path.exists()
            else ""
        )
        if existing is not None and not new:
            return text, 0
        return add_members(text, group, new), len(new)

    def resolve(self, group: str, _path: tuple[str, ...] = ()) -> Resolution:
        """The group's final, de-duplicated recipients with why each is in it; suppressed apart."""
        reasons: dict[int, list[str]] = {}
        self._collect(group, (), reasons)
        recipients, suppressed = [], []
        for i, why in reasons.items():
            c = self.contacts[i]
            if self.is_suppressed(c):
                state = "opted out" if c.opt_out else "on the suppression list"
                suppressed.append(Recipient(c, (*why, f"suppressed: {state}")))
            else:
                recipients.append(Recipient(c, tuple(why)))
        return Resolution(
            group, tuple(recipients), tuple(suppressed), self.groups[group].description
        )

    def _collect(self, group: str, path: tuple[str, ...], reasons: dict[int, list[str]]) -> None:
        if group in path:
            cycle = " -> ".join((*path, group))
            raise InputError(f"groups include each other in a cycle: {cycle}", path=self.groups_path,
                             line=self._line(path[-1], "include"))  # fmt: skip
        spec = self.groups.get(group)
        if spec is None:
            where = f" (included by {path[-1]})" if path else ""
            raise InputError(
                f'unknown group "{group}"{where}{did_you_mean(group, self.groups)}',
                path=self.groups_path if path else None,
                line=self._line(path[-1], "include") if path else None,
                hint=f"groups: {', '.join(self.groups) or 'none yet (prcast lists import FILE.csv --group NAME)'}",
            )
        via = f" via {' > '.join((*path, group))}" if path else ""
        why = f"member of {group}{via}"
        index = self._index
        for address in spec.members:
            # as written by prcast, a member is an address of the index as it is
            i = index.get(address)
            if i is None:
                i = self._position(address)
            if i is None:
                raise InputError(f'group "{group}": member "{address}" is not in contacts.csv',
                                 path=self.groups_path, line=self._line(group, "members"))  # fmt: skip
            reasons.setdefault(i, []).append(why)
        if spec.where:
            shown = ", ".join(f"{k}={'|'.join(v)}" for k, v in spec.where.items())
            why = f"{group} selects {shown}{via}"
            selection = _prepared(spec.where)
            for i, contact in enumerate(self.contacts):
                if _matches(contact, selection):
                    reasons.setdefault(i, []).append(why)
        for inner in spec.include:
            self._collect(inner, (*path, group), reasons)

    def _line(self, group: str, key: str) -> int | None:
        return self._doc.line_of(("groups", group, key)) if self._doc else None


def _prepared(where: dict[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    """A where table as sets (a language by its primary subtag), so a contact is tested in O(1)."""
    out = {}
    for key, wanted in where.items():
        if key == "language":
            out[key] = frozenset(w.split("-")[0] for w in wanted)
        else:
            out[key] = frozenset(wanted)
    return out


def _matches(contact: Contact, where: dict[str, frozenset[str]]) -> bool:
    for key, wanted in where.items():
        if key == "tags":
            if wanted.isdisjoint(contact.tags):
                return False
        else:
            value = getattr(contact, key).lower()
            if key == "language":
                value = value.split("-")[0]
            if value not in wanted:
                return False
    return True


def import_csv(
    folder: Path,
    csv_path: Path,
    group: str | None,
    *,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Merge a CSV into lists/contacts.csv (and group GROUP) as one atomic change; bad rows are
    reported, not imported. With `dry_run` nothing is written."""
    table = read_csv(csv_path, mapping, strict=False)
    result = ImportResult(errors=table.errors, mapped=table.mapped, ignored=table.ignored)
    with locked(folder):
        press = PressList(folder)
        press.merge((c for _, c in table.contacts), result)
        texts: dict[str, str] = {}
        if result.added or result.merged or not press.contacts_path.exists():
            texts["contacts.csv"] = press.contacts_text()
        if group:
            text, result.group_added = press.groups_with_members(
                group, [c.id for c in result.imported]
            )
            if result.group_added or group not in press.groups:
                texts["groups.toml"] = text
        if not dry_run:
            commit(folder, texts, lock=False)
            cache = _cache_path(press.contacts_path)
            if "contacts.csv" in texts and cache is not None:
                digest = hashlib.sha256(texts["contacts.csv"].encode("utf-8")).hexdigest()
                _store_cache(cache, digest, press.contacts)
    return result


def remove(folder: Path, addresses: Sequence[str], group: str | None = None) -> list[Contact]:
    """Remove contacts from lists/ (from contacts.csv and every group's members), or only from
    GROUP's members; the contacts removed. An address that names nobody is an InputError."""
    with locked(folder):
        press = PressList(folder)
        found: dict[int, Contact] = {}
        for a in addresses:
            i = press._position(a)
            if i is None:
                raise InputError(f'"{a}" is not in contacts.csv', path=press.contacts_path)
            found[i] = press.contacts[i]
        if group is not None and group not in press.groups:
            raise InputError(f'unknown group "{group}"{did_you_mean(group, press.groups)}')
        drop: dict[str, set[str]] = {}
        for name, spec in press.groups.items():
            if group is not None and name != group:
                continue
            gone = {m for m in spec.members if press._position(m) in found}
            if gone:
                drop[name] = gone
        if group is not None and not drop:
            raise InputError(f'group "{group}" does not list {", ".join(addresses)} as members',
                             hint="a contact selected by where or include is not a member; remove it from contacts.csv or change the selection")  # fmt: skip
        texts: dict[str, str] = {}
        if drop:
            texts["groups.toml"] = remove_members(
                read_input(press.groups_path, limit=MAX_GROUPS_BYTES), drop
            )
        if group is None:
            press.contacts = [c for i, c in enumerate(press.contacts) if i not in found]
            texts["contacts.csv"] = press.contacts_text()
        commit(folder, texts, lock=False)
    return list(found.values())


def suppression_address(value: str) -> str:
    """An email address or handle as the suppression list holds it; ValueError when it is none.

    Handles are written as `@name` (X), `@name@server` (Mastodon) or `name.bsky.social`."""
    v = value.strip()
    if v.startswith("@") and _MASTODON.match(v):
        return v.lower()
    if v.startswith("@") and _X.match(v):
        return v.lower()
    if "@" in v.lstrip("@"):
        return email_address(v)
    if "." in v and _BLUESKY.match(v):
        return v.lstrip("@").lower()
    raise ValueError(
        f'"{value}" is neither an email address nor a handle (@name, @name@server, name.bsky.social)'
    )


def suppress(folder: Path, addresses: Sequence[str]) -> list[str]:
    """Add addresses to lists/suppressed.txt (the file kept as it was); the ones added."""
    wanted = [suppression_address(a) for a in addresses]
    with locked(folder):
        press = PressList(folder)
        new = [a for a in dict.fromkeys(wanted) if a not in press.suppressed]
        if new:
            text = read_input(press.suppressed_path) if press.suppressed_path.exists() else ""
            text = (text.rstrip("\n") + "\n" if text else "") + "".join(f"{a}\n" for a in new)
            commit(folder, {"suppressed.txt": text}, lock=False)
    return new


def unsuppress(
    folder: Path,
    addresses: Sequence[str],
    announce: Callable[[list[str]], object] | None = None,
) -> list[str]:
    """Take addresses off lists/suppressed.txt and clear the opt-out of their contacts; the
    addresses that were suppressed. One that was not is an InputError. `announce` is called
    once the change is known to be possible and before it is made (the audit record)."""
    wanted = {suppression_address(a) for a in addresses}
    with locked(folder):
        press = PressList(folder)
        contacts = {i for a in wanted if (i := press._position(a)) is not None}
        known = wanted & press.suppressed
        opted = {i for i in contacts if press.contacts[i].opt_out}
        missing = [a for a in wanted if a not in known and not any(
            a in press.contacts[i].addresses() for i in opted)]  # fmt: skip
        if missing:
            raise InputError(f"not suppressed: {', '.join(sorted(missing))}",
                             hint="prcast lists show GROUP lists who is suppressed and why")  # fmt: skip
        if announce is not None:
            announce(sorted(wanted))
        texts: dict[str, str] = {}
        if known:
            lines = read_input(press.suppressed_path).splitlines(keepends=True)
            kept = [ln for ln in lines if ln.split("#", 1)[0].strip().lower() not in known]
            texts["suppressed.txt"] = "".join(kept)
        if opted:
            for i in opted:
                press.contacts[i] = replace(press.contacts[i], opt_out=False)
            texts["contacts.csv"] = press.contacts_text()
        commit(folder, texts, lock=False)
    return sorted(wanted)
