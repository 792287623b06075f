"""The release: Markdown with TOML front matter between `+++` lines, parsed and validated."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prcast.errors import InputError, did_you_mean
from prcast.fileio import read_input
from prcast.tomlfile import TomlDocument, parse_toml
from prcast.workspace import confined, confinement_hint, root_of

FIELDS = (
    "id",
    "title",
    "summary",
    "links",
    "hashtags",
    "media",
    "embargo",
    "channels",
    "audience",
    "contact",
    "language",
    "content_warning",
    "translation_of",
)
_HASHTAG = re.compile(r"^\w+$")
#: a BCP 47 language tag such as "en" or "de-AT" (also checked in press lists)
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")
#: the longest release body prcast takes, in characters
MAX_BODY = 200_000


@dataclass(frozen=True)
class Link:
    url: str
    title: str | None = None


@dataclass(frozen=True)
class Media:
    path: Path
    alt: str


@dataclass(frozen=True)
class Contact:
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Release:
    """A validated press release."""

    id: str
    path: Path
    title: str
    body: str
    summary: str | None = None
    links: tuple[Link, ...] = ()
    hashtags: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    embargo: datetime | None = None
    channels: tuple[str, ...] | None = None
    audience: tuple[str, ...] = ()
    contact: Contact | None = None
    language: str = "en"
    content_warning: str | None = None
    sha256: str = ""
    #: the release's identity in the publication ledger (front matter `id`); by default its
    #: path in the workspace, so keep an `id` if the file may be renamed after publication
    key: str | None = None
    #: the release this one translates, as its `id` above (from the file name it gives):
    #: the press room links the language versions with hreflang
    translation_of: str | None = None
    #: line number of each front-matter field, for later errors (e.g. an unknown channel)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    def error(self, key: str, message: str, hint: str | None = None) -> InputError:
        """An InputError pointing at a front-matter field of this release."""
        return InputError(message, path=self.path, line=self.lines.get(key), hint=hint)


def _strings(doc: TomlDocument, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise doc.error((key,), f'field "{key}" must be a list of strings, e.g. {key} = ["a", "b"]')
    return tuple(value)


def _text(
    doc: TomlDocument, key: tuple[str | int, ...], value: Any, *, required: bool = True
) -> str:
    name = ".".join(str(k) for k in key)
    if not isinstance(value, str):
        raise doc.error(key, f'field "{name}" must be a string, got {type(value).__name__}')
    if required and not value.strip():
        raise doc.error(key, f'field "{name}" must not be empty')
    text: str = value.strip()
    # a line break in a title would reach an email's Subject header; only a summary has lines
    control = _CONTROL if key[0] == "summary" else _CONTROL_OR_BREAK
    if control.search(text):
        raise doc.error(key, f'field "{name}" holds a control character (a line break?)')
    return text


def _links(doc: TomlDocument, value: Any) -> tuple[Link, ...]:
    if not isinstance(value, list):
        raise doc.error(("links",), 'field "links" must be a list of URLs or {url, title} tables')
    links = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            url, title = item, None
        elif isinstance(item, dict):
            unknown = set(item) - {"url", "title"}
            if unknown:
                raise doc.error(("links", i), f'links[{i}]: unknown key "{sorted(unknown)[0]}"')
            url = _text(doc, ("links", i, "url"), item.get("url", ""))
            title = _text(doc, ("links", i, "title"), item["title"]) if "title" in item else None
        else:
            raise doc.error(
                ("links",), f"links[{i}] must be a URL string or a {{url, title}} table"
            )
        if not _URL.match(url):
            raise doc.error(("links", i), f'links[{i}]: "{url}" is not an http(s) URL')
        links.append(Link(url, title))
    return tuple(links)


def _hashtags(doc: TomlDocument, value: Any) -> tuple[str, ...]:
    tags = []
    for tag in _strings(doc, "hashtags", value):
        bare = tag.removeprefix("#")
        if not _HASHTAG.match(bare):
            raise doc.error(
                ("hashtags",), f'hashtag "{tag}" may only contain letters, digits and "_"'
            )
        tags.append(bare)
    return tuple(tags)


def _media(doc: TomlDocument, value: Any, base: Path, root: Path) -> tuple[Media, ...]:
    if not isinstance(value, list):
        raise doc.error(
            ("media",), 'field "media" must be a list of [[media]] tables with path and alt'
        )
    items = []
    for i, item in enumerate(value):
        key = ("media", i)
        if not isinstance(item, dict):
            raise doc.error(key, f"media[{i}] must be a table with path and alt")
        unknown = set(item) - {"path", "alt"}
        if unknown:
            bad = sorted(unknown)[0]
            raise doc.error(
                (*key, bad), f'media[{i}]: unknown key "{bad}"{did_you_mean(bad, ["path", "alt"])}'
            )
        if "alt" not in item:
            raise doc.error(
                key, f'media[{i}]: missing key "alt"', hint="every image needs alt text"
            )
        path = _text(doc, (*key, "path"), item.get("path", ""))
        alt = _text(doc, (*key, "alt"), item["alt"])
        file = confined(base / path, root)
        if file is None:
            raise doc.error(
                (*key, "path"),
                f'media[{i}]: "{path}" lies outside the workspace',
                hint=confinement_hint(root),
            )
        if not file.is_file():
            raise doc.error((*key, "path"), f'media[{i}]: file "{path}" not found')
        items.append(Media(file, alt))
    return tuple(items)


def _embargo(doc: TomlDocument, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise doc.error(
                ("embargo",), f'field "embargo": "{value}" is not an ISO 8601 date-time'
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        raise doc.error(
            ("embargo",), 'field "embargo" needs a time and a time zone, not only a date'
        )
    if not isinstance(value, datetime):
        raise doc.error(
            ("embargo",), 'field "embargo" must be a date-time such as 2026-12-01T09:30:00+01:00'
        )
    if value.tzinfo is None:
        raise doc.error(
            ("embargo",),
            'field "embargo" has no time zone',
            hint="write an offset, e.g. 2026-12-01T09:30:00+01:00 or ...Z for UTC",
        )
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise doc.error(("embargo",), 'field "embargo" is out of range') from None
    return value


def _contact(doc: TomlDocument, value: Any) -> Contact:
    if isinstance(value, str):
        return Contact(email=value) if _EMAIL.match(value) else Contact(name=value)
    if not isinstance(value, dict):
        raise doc.error(
            ("contact",), 'field "contact" must be a string or a {name, email, phone} table'
        )
    allowed = ("name", "email", "phone")
    for k in value:
        if k not in allowed:
            raise doc.error(("contact", k), f'contact: unknown key "{k}"{did_you_mean(k, allowed)}')
    parts = {k: _text(doc, ("contact", k), v) for k, v in value.items()}
    if "email" in parts and not _EMAIL.match(parts["email"]):
        raise doc.error(
            ("contact", "email"), f'contact.email: "{parts["email"]}" is not an email address'
        )
    return Contact(**parts)


def parse_release(text: str, path: Path, root: Path | None = None) -> Release:
    """Parse release text; every problem is an InputError naming file, line and field.

    Media must lie inside `root` (default: the workspace holding the release)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "+++":
        raise InputError(
            "a release starts with TOML front matter between +++ lines",
            path=path,
            line=1,
            hint='first line "+++", then title = "...", then "+++", then the Markdown body',
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise InputError("front matter is not closed by a +++ line", path=path, line=1) from None
    doc = parse_toml("\n".join(lines[1:end]), path, line_offset=1)
    data = doc.data
    for key in data:
        if key not in FIELDS:
            raise doc.error(
                (key,),
                f'unknown field "{key}"{did_you_mean(key, FIELDS)}',
                hint=f"fields: {', '.join(FIELDS)}",
            )
    if "title" not in data:
        raise InputError('missing field "title"', path=path, line=1)
    body = "\n".join(lines[end + 1 :]).strip("\n")
    if not body.strip():
        raise InputError("the release has no body after the front matter", path=path, line=end + 1)
    if len(body) > MAX_BODY:
        raise InputError(
            f"the body is longer than {MAX_BODY:,} characters",
            path=path,
            line=end + 2,
            hint="see Limits in the README",
        )
    language = _text(doc, ("language",), data.get("language", "en"))
    if not LANGUAGE_TAG.match(language):
        raise doc.error(
            ("language",),
            f'field "language": "{language}" is not a language tag such as "en" or "de-AT"',
        )
    stem = path.stem
    return Release(
        id=re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-") or "release",
        path=path,
        title=_text(doc, ("title",), data["title"]),
        body=body,
        summary=_text(doc, ("summary",), data["summary"]) if "summary" in data else None,
        links=_links(doc, data["links"]) if "links" in data else (),
        hashtags=_hashtags(doc, data["hashtags"]) if "hashtags" in data else (),
        media=_media(doc, data["media"], path.parent, root or root_of(path))
        if "media" in data
        else (),
        embargo=_embargo(doc, data["embargo"]) if "embargo" in data else None,
        channels=_strings(doc, "channels", data["channels"]) if "channels" in data else None,
        audience=_strings(doc, "audience", data["audience"]) if "audience" in data else (),
        contact=_contact(doc, data["contact"]) if "contact" in data else None,
        language=language,
        content_warning=_text(doc, ("content_warning",), data["content_warning"])
        if "content_warning" in data
        else None,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        key=_release_key(doc, data["id"]) if "id" in data else None,
        translation_of=_translation_of(doc, data["translation_of"])
        if "translation_of" in data
        else None,
        lines={str(k[0]): doc.line_of(k) or 1 for k in doc.lines if len(k) == 1},
    )


_RELEASE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def _translation_of(doc: TomlDocument, value: Any) -> str:
    stem = value.removesuffix(".md").rsplit("/", 1)[-1] if isinstance(value, str) else ""
    slug = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")
    if not slug:
        raise doc.error(
            ("translation_of",),
            'field "translation_of" must name the release this one translates',
            hint='its file name, e.g. translation_of = "leipzig-workshop" for '
            "releases/leipzig-workshop.md",
        )
    return slug


def _release_key(doc: TomlDocument, value: Any) -> str:
    if not isinstance(value, str) or not _RELEASE_KEY.match(value):
        raise doc.error(
            ("id",),
            'field "id" must be a name of letters, digits, ".", "_", "-" or "/" (at most 200)',
            hint='e.g. id = "2026/leipzig-workshop"; keep it once the release is published',
        )
    return "id:" + value


def load_release(path: Path, root: Path | None = None) -> Release:
    """Read and parse a release file (media confined to `root`, default its workspace)."""
    return parse_release(read_input(path, what="release file"), path, root)
