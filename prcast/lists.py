"""Press lists: contacts (lists/contacts.csv), recipient groups (lists/groups.toml) and the
workspace-wide suppression list (lists/suppressed.txt, plus every contact marked opt-out).

Groups are managed centrally: a group names its members, includes other groups and may
select contacts by beat, language, outlet and tags. Suppression always wins."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prcast.errors import InputError, did_you_mean
from prcast.fileio import read_input, write_atomic
from prcast.release import LANGUAGE_TAG
from prcast.tomlfile import TomlDocument, parse_toml

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
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


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
    try:
        ascii_domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f'"{value}": the domain "{domain}" is not a valid domain name') from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f'"{value}" is not an email address')
    if labels[-1].isdigit():
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

    def row(self) -> dict[str, str]:
        d = {c: str(getattr(self, c)) for c in COLUMNS}
        d["tags"] = ";".join(self.tags)
        d["opt_out"] = "yes" if self.opt_out else ""
        return d


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


def _handle(value: str, pattern: re.Pattern[str]) -> str:
    value = value.strip()
    if not value:
        return ""
    if not pattern.match(value):
        raise ValueError(f'"{value}" is not a valid handle')
    return value if value.startswith("@") or pattern is _BLUESKY else f"@{value}"


def parse_row(raw: dict[str, str]) -> Contact:
    """One CSV row as a Contact; ValueError("field: message") when a field is wrong."""

    def get(name: str) -> str:
        return (raw.get(name) or "").strip()

    for name in COLUMNS:
        cell = raw.get(name) or ""
        if len(cell) > MAX_CELL:
            raise ValueError(f"{name}: longer than {MAX_CELL:,} characters")
        if _CONTROL.search(cell.strip()):
            raise ValueError(f"{name}: holds a control character (a line break?)")

    def check(name: str, fn: Any) -> Any:
        try:
            return fn()
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    email = check("email", lambda: email_address(get("email")) if get("email") else "")
    mastodon = check("mastodon", lambda: _handle(get("mastodon"), _MASTODON))
    bluesky = check("bluesky", lambda: _handle(get("bluesky"), _BLUESKY).lstrip("@").lower())
    x = check("x", lambda: _handle(get("x"), _X))
    if not (email or mastodon or bluesky or x):
        raise ValueError("email: a contact needs an email address or a handle")
    language = get("language")
    if language and not LANGUAGE_TAG.match(language):
        raise ValueError(f'language: "{language}" is not a language tag such as "de" or "en-GB"')
    opt = get("opt_out").lower()
    if opt not in _TRUE | _FALSE:
        raise ValueError(f'opt_out: "{opt}" is not yes/no')
    tags = tuple(t.strip().lower() for t in re.split(r"[;,]", get("tags")) if t.strip())
    return Contact(
        name=get("name"),
        email=email,
        mastodon=mastodon,
        bluesky=bluesky,
        x=x,
        outlet=get("outlet"),
        beat=get("beat").lower(),
        language=language,
        tags=tags,
        opt_out=opt in _TRUE,
    )


def read_csv(path: Path) -> tuple[list[tuple[int, Contact]], list[RowError]]:
    """Contacts and per-row errors of a CSV file (header row required; `;` or `,`).

    A file that cannot be read as CSV at all (not UTF-8, a field over the csv module's limit,
    a bad header) is an InputError with its line; a bad row is a RowError with its first line."""
    text = read_input(path, what="CSV file")
    try:
        first = text.split("\n", 1)[0][:4096]  # the sniffer's patterns are slow on long lines
        dialect: Any = csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise InputError(f"not readable as CSV: {exc}", path=path, line=1) from None
    header = [h.strip().lower() for h in (fieldnames or [])]
    if not header:
        raise InputError("empty CSV: the first line must name the columns", path=path, line=1)
    for h in header:
        if h not in COLUMNS:
            raise InputError(f'unknown column "{h}"{did_you_mean(h, COLUMNS)}', path=path, line=1,
                             hint=f"columns: {', '.join(COLUMNS)}")  # fmt: skip
    if not {"email", "mastodon", "bluesky", "x"} & set(header):
        raise InputError("the CSV needs an email column (or a handle column)", path=path, line=1)
    reader.fieldnames = header
    contacts: list[tuple[int, Contact]] = []
    errors: list[RowError] = []
    end = reader.line_num
    while True:
        line = end + 1  # a quoted cell may span lines: a row is named by its first line
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(
                f"not readable as CSV: {exc}", path=path, line=max(line, reader.line_num)
            ) from None
        end = reader.line_num
        if None in row:  # more cells than columns
            errors.append(
                RowError(
                    line, "", f"{len(header) + len(row[None])} cells, the header has {len(header)}"
                )
            )
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            contacts.append((line, parse_row(row)))
        except ValueError as exc:
            fld, _, msg = str(exc).partition(": ")
            errors.append(RowError(line, fld, msg))
    return contacts, errors


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


class PressList:
    """The workspace's contacts, groups and suppression list."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.contacts_path = folder / "contacts.csv"
        self.groups_path = folder / "groups.toml"
        self.suppressed_path = folder / "suppressed.txt"
        self.contacts: list[Contact] = []
        if self.contacts_path.exists():
            found, errors = read_csv(self.contacts_path)
            if errors:
                e = errors[0]
                raise InputError(
                    f"{e.field}: {e.message}" if e.field else e.message,
                    path=self.contacts_path,
                    line=e.line,
                )
            self.contacts = [c for _, c in found]
        self.groups, self._doc = self._read_groups()
        self.suppressed = self._read_suppressed()

    def _read_groups(self) -> tuple[dict[str, Group], TomlDocument | None]:
        if not self.groups_path.exists():
            return {}, None
        doc = parse_toml(read_input(self.groups_path), self.groups_path)
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

    def add_suppressed(self, addresses: Sequence[str]) -> None:
        """Add addresses to lists/suppressed.txt (kept as the file was, one address a line)."""
        text = (
            self.suppressed_path.read_text(encoding="utf-8")
            if self.suppressed_path.exists()
            else ""
        )
        new = [a.strip() for a in addresses if a.strip().lower() not in self.suppressed]
        if new:
            text = (text.rstrip("\n") + "\n" if text else "") + "".join(f"{a}\n" for a in new)
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.suppressed_path, text.encode("utf-8"))
        self.suppressed = self._read_suppressed()

    def is_suppressed(self, contact: Contact) -> bool:
        return contact.opt_out or bool(contact.addresses() & self.suppressed)

    def find(self, address: str) -> Contact | None:
        wanted = address.strip().lower()
        try:  # a member written with an internationalised domain: stored in ASCII form
            ascii_form = email_address(wanted)
        except ValueError:
            ascii_form = wanted
        for c in self.contacts:
            known = c.addresses()
            if wanted in known or ascii_form in known or ("@" + wanted) in known:
                return c
        return None

    def merge(self, incoming: Iterable[Contact], result: ImportResult) -> None:
        """Add contacts; one already known (same email or handle) is completed, not doubled."""
        for new in incoming:
            match = next(
                (i for i, c in enumerate(self.contacts) if c.addresses() & new.addresses()), None
            )
            if match is None:
                self.contacts.append(new)
                result.added += 1
            else:
                combined = self.contacts[match].merged(new)
                if combined == self.contacts[match]:
                    result.unchanged += 1
                else:
                    self.contacts[match] = combined
                    result.merged += 1
                new = combined
            result.imported.append(new)

    def save_contacts(self) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for c in self.contacts:
            writer.writerow(c.row())
        write_atomic(self.contacts_path, out.getvalue().encode("utf-8"))

    def add_members(self, group: str, addresses: Sequence[str]) -> None:
        """Add members to a group in groups.toml (creating the group), keeping the file's text."""
        existing = self.groups.get(group)
        known = set(existing.members) if existing else set()
        new = [a for a in dict.fromkeys(addresses) if a not in known]
        if existing is None:
            text = self.groups_path.read_text(encoding="utf-8") if self.groups_path.exists() else ""
            block = (
                f"\n[groups.{group}]\nmembers = [\n" + "".join(f'  "{a}",\n' for a in new) + "]\n"
            )
            write_atomic(
                self.groups_path, (text.rstrip("\n") + "\n" + block).lstrip("\n").encode("utf-8")
            )
        elif new:
            members = sorted(known | set(new))
            text = self.groups_path.read_text(encoding="utf-8")
            pattern = re.compile(
                rf"(\[groups\.{re.escape(group)}\][^\[]*?)members\s*=\s*\[[^\]]*\]", re.S
            )
            replacement = "members = [\n" + "".join(f'  "{a}",\n' for a in members) + "]"
            text, n = pattern.subn(lambda m: m.group(1) + replacement, text, count=1)
            if n == 0:
                text = text.replace(f"[groups.{group}]", f"[groups.{group}]\n{replacement}", 1)
            write_atomic(self.groups_path, text.encode("utf-8"))
        self.groups, self._doc = self._read_groups()

    def resolve(self, group: str, _path: tuple[str, ...] = ()) -> Resolution:
        """The group's final, de-duplicated recipients with why each is in it; suppressed apart."""
        reasons: dict[str, list[str]] = {}
        order: list[Contact] = []
        self._collect(group, (), reasons, order)
        recipients, suppressed = [], []
        for c in order:
            r = Recipient(c, tuple(reasons[c.id]))
            if self.is_suppressed(c):
                why = "opted out" if c.opt_out else "on the suppression list"
                suppressed.append(replace(r, reasons=(*r.reasons, f"suppressed: {why}")))
            else:
                recipients.append(r)
        return Resolution(group, tuple(recipients), tuple(suppressed))

    def _collect(
        self, group: str, path: tuple[str, ...], reasons: dict[str, list[str]], order: list[Contact]
    ) -> None:
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

        def add(contact: Contact, why: str) -> None:
            if contact.id not in reasons:
                reasons[contact.id] = []
                order.append(contact)
            reasons[contact.id].append(why + via)

        for address in spec.members:
            contact = self.find(address)
            if contact is None:
                raise InputError(f'group "{group}": member "{address}" is not in contacts.csv',
                                 path=self.groups_path, line=self._line(group, "members"))  # fmt: skip
            add(contact, f"member of {group}")
        if spec.where:
            for contact in self.contacts:
                if _matches(contact, spec.where):
                    shown = ", ".join(f"{k}={'|'.join(v)}" for k, v in spec.where.items())
                    add(contact, f"{group} selects {shown}")
        for inner in spec.include:
            self._collect(inner, (*path, group), reasons, order)

    def _line(self, group: str, key: str) -> int | None:
        return self._doc.line_of(("groups", group, key)) if self._doc else None


def _matches(contact: Contact, where: dict[str, tuple[str, ...]]) -> bool:
    for key, wanted in where.items():
        if key == "tags":
            if not set(wanted) & set(contact.tags):
                return False
        else:
            value = getattr(contact, key).lower()
            if key == "language":
                value = value.split("-")[0]
                wanted = tuple(w.split("-")[0] for w in wanted)
            if value not in wanted:
                return False
    return True


def import_csv(folder: Path, csv_path: Path, group: str | None) -> ImportResult:
    """Merge a CSV into lists/contacts.csv (and group GROUP); bad rows are reported, not imported."""
    press = PressList(folder)
    found, errors = read_csv(csv_path)
    result = ImportResult(errors=errors)
    press.merge((c for _, c in found), result)
    folder.mkdir(parents=True, exist_ok=True)
    press.save_contacts()
    if group:
        press.add_members(group, [c.id for c in result.imported])
    return result
