"""The outbox: the workspace's press room, a small static site in a folder.

Each post is one file named by its delivery key (posts/KEY.json), so publishing the same key
again finds the file and adds nothing. From those entries `rebuild` makes the site: index.html
(newest first), one page per release under releases/ with a permalink fixed when the release
is first published, pressroom.css and an Atom feed (feed.xml) with HTML content and image
enclosures. The pages come from templates/pressroom/ (a workspace overrides them by name) in
the release's language; the release's Markdown is rendered with markdown-it-py in safe mode.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
import tomllib
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup

from prcast.channels.base import ChannelError, Post, Receipt, post_record
from prcast.config import OutboxConfig
from prcast.errors import InputError, PrcastError
from prcast.fileio import write_atomic
from prcast.text.markup import BARE_URL

if TYPE_CHECKING:
    from prcast.workspace import Workspace

ATOM = "http://www.w3.org/2005/Atom"
#: the feed-level element carrying the latest signed audit checkpoint
CHECKPOINT_NS = "urn:prcast:audit"
#: the folder of the release pages inside the outbox
PAGES = "releases"
#: rendered Markdown kept between rebuilds, and the version of the rendering it holds
CACHE = ".rendered.json"
RENDERING = 2  # 2: bare addresses linked by markup.BARE_URL, as in emails
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PART_SUFFIX = re.compile(r"\s*\(\d+/\d+\)\s*$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


# -- wording and dates ------------------------------------------------------------------


def local_zone() -> tzinfo:
    """The time zone the press room writes its dates in: $TZ, else the system's, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        from babel.localtime import get_localzone

        return get_localzone()
    except (LookupError, OSError, ValueError):
        return UTC


def _room_zone(workspace_root: Path) -> tzinfo:
    """The workspace's `timezone` (channels.toml) where it states one, else `local_zone()`."""
    from prcast.report import _declared_zone
    from prcast.workspace import Workspace

    try:
        name = _declared_zone(Workspace(workspace_root))
        if name:
            return ZoneInfo(name)
    except (PrcastError, OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return local_zone()


def human_time(moment: datetime, language: str | None, zone: tzinfo) -> str:
    """A date and time as the locale writes it, to the minute, with the zone's name:
    "1. Dezember 2026, 09:30 Uhr MEZ", "1 décembre 2026, 09:30 heure normale d'Europe centrale"."""
    from babel import dates

    from prcast.i18n import gettext, locale_of

    loc = locale_of(language)
    local = moment.astimezone(zone)
    day = dates.format_date(local, "long", locale=loc)
    time_pattern = str(getattr(loc.time_formats["short"], "pattern", loc.time_formats["short"]))
    name = dates.format_time(local, "z", tzinfo=zone, locale=loc)
    if any(c.isdigit() for c in name):  # no short name in this locale: the long one, not "+0100"
        name = dates.format_time(local, "zzzz", tzinfo=zone, locale=loc)
    clock = dates.format_time(local, time_pattern, tzinfo=zone, locale=loc)
    # the catalogs may add a word ("09:30 Uhr MEZ")
    time = gettext(language, "%(time)s %(zone)s", time=clock, zone=name)
    joined = str(getattr(loc.datetime_formats["long"], "pattern", loc.datetime_formats["long"]))
    return joined.replace("{1}", day).replace("{0}", time).replace("'", "")


def language_name(language: str) -> str:
    """The language's own name for itself: "Deutsch", "Français", "English"."""
    from prcast.i18n import locale_of

    name = locale_of(language).get_display_name(locale_of(language)) or language
    return name[:1].upper() + name[1:]


def slugify(text: str, limit: int = 60) -> str:
    """ASCII words joined by "-": "Grünwerk öffnet" -> "gruenwerk-oeffnet"."""
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"),
                 ("ß", "ss"), ("æ", "ae"), ("œ", "oe"), ("ø", "o"), ("đ", "d"), ("ł", "l")):  # fmt: skip
        text = text.replace(a, b)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] if "-" in slug[:limit] else slug[:limit]
    return slug


# -- Markdown ---------------------------------------------------------------------------


def _markdown() -> Any:
    """markdown-it-py in safe mode: raw HTML is shown as text, links get rel="noopener" and bare
    URLs become links."""
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore
    from markdown_it.token import Token

    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

    def linkify(state: StateCore) -> None:
        for block in state.tokens:
            if block.type != "inline" or not block.children:
                continue
            out: list[Token] = []
            inside = 0
            for tok in block.children:
                inside += tok.type == "link_open"
                inside -= tok.type == "link_close"
                if tok.type != "text" or inside or not BARE_URL.search(tok.content):
                    out.append(tok)
                    continue
                pos = 0
                for m in BARE_URL.finditer(tok.content):
                    url = md.normalizeLink(m.group(0))
                    if not md.validateLink(url):
                        continue
                    if m.start() > pos:
                        out.append(_text(tok.content[pos : m.start()], Token))
                    link = Token("link_open", "a", 1)
                    link.attrSet("href", url)
                    out += [link, _text(m.group(0), Token), Token("link_close", "a", -1)]
                    pos = m.end()
                if pos < len(tok.content):
                    out.append(_text(tok.content[pos:], Token))
            block.children = out

    md.core.ruler.push("prcast_linkify", linkify)

    def link_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "noopener")
        return str(self.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    return md


def _text(content: str, token_class: Any) -> Any:
    tok = token_class("text", "", 0)
    tok.content = content
    return tok


_MD: Any = None


def _same_words(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


@dataclass(frozen=True)
class Rendered:
    """A release's Markdown as the press room shows it."""

    body: Markup
    #: the leading bold paragraph (release.md.j2 writes the summary so)
    summary: str | None
    #: the press contact line's items ("Press contact: name, email, phone")
    contact: tuple[str, ...]


def _contact_labels(language: str | None) -> set[str]:
    from prcast.i18n import gettext

    labels = {"Press contact:"}
    for msgid in ("Press contact:", "Press contact"):
        text = gettext(language, msgid).rstrip(" :\u00a0")
        labels |= {text + ":", text + " :", text + "\u00a0:"}
    return labels


def render_markdown(
    markdown: str, title: str | None = None, language: str | None = None
) -> Rendered:
    """The release's Markdown as safe HTML below the page's h1: a first "# heading" repeating
    the title is left out, the others start at h2, the press contact line and
    a closing line of hashtags are taken out (the page shows them apart)."""
    global _MD
    if _MD is None:
        _MD = _markdown()
    tokens = _MD.parse(markdown)
    if title is not None:  # "# Title" (release.md.j2's, and often the body's own again)
        i = 0
        while i + 2 < len(tokens):
            tok = tokens[i]
            if (tok.type, tok.tag, tok.level) == ("heading_open", "h1", 0) and _same_words(
                tokens[i + 1].content, title
            ):
                del tokens[i : i + 3]
                continue
            i += 1
    summary = None
    first = tokens[1] if len(tokens) >= 3 and tokens[0].type == "paragraph_open" else None
    kids = [k for k in (first.children or []) if k.type != "text" or k.content] if first else []
    if (
        len(kids) >= 3
        and (kids[0].type, kids[-1].type) == ("strong_open", "strong_close")
        and all(k.type == "text" for k in kids[1:-1])
    ):
        summary = "".join(k.content for k in kids[1:-1]).strip()
        tokens[0].attrSet("class", "summary")
    contact: tuple[str, ...] = ()
    labels = _contact_labels(language)
    kept = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "paragraph_open" and tok.level == 0 and i + 2 < len(tokens):
            text = tokens[i + 1].content.strip()
            label = next((lb for lb in labels if text.startswith(lb)), None)
            if label is not None and not contact:
                contact = tuple(x.strip() for x in text[len(label) :].split(",") if x.strip())
                i += 3
                continue
            words = text.split()
            if words and all(re.fullmatch(r"#\w+", w) for w in words) and i + 3 == len(tokens):
                i += 3
                continue
        kept.append(tok)
        i += 1
    # the page's h1 is the title: the body's top headings become h2, the others follow
    levels = [int(t.tag[1]) for t in kept if t.type == "heading_open"]
    shift = 2 - min(levels, default=2)
    for tok in kept:
        if tok.type in ("heading_open", "heading_close"):
            tok.tag = f"h{min(max(int(tok.tag[1]) + shift, 2), 6)}"
    return Rendered(Markup(_MD.renderer.render(kept, _MD.options, {})), summary, contact)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s()/.-]{5,}$")


def contact_items(items: Sequence[str]) -> list[dict[str, str]]:
    """Each contact item with the link it gets: mailto for an address, tel for a number."""
    out = []
    for item in items:
        if _EMAIL.match(item):
            out.append({"text": item, "href": "mailto:" + item})
        elif _PHONE.match(item):
            out.append({"text": item, "href": "tel:" + re.sub(r"[^\d+]", "", item)})
        else:
            out.append({"text": item, "href": ""})
    return out


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """An entry's text as (front matter, Markdown); text without front matter is all Markdown."""
    if not text.startswith("+++\n"):
        return {}, text
    end = text.find("\n+++", 3)
    if end < 0:
        return {}, text
    try:
        meta = tomllib.loads(text[4:end])
    except tomllib.TOMLDecodeError:
        return {}, text
    return meta, text[end + 4 :].lstrip("\n")


# -- the site ---------------------------------------------------------------------------


@dataclass
class Edition:
    """One publication of a release in the press room: its parts, in order."""

    entries: list[dict[str, Any]]

    @property
    def published(self) -> str:
        return str(self.entries[0]["published"])

    @property
    def text(self) -> str:
        if len(self.entries) == 1:
            return str(self.entries[0]["text"])
        return "\n\n".join(_PART_SUFFIX.sub("", str(e["text"])) for e in self.entries)


@dataclass
class Page:
    """A release's page: its current edition, the corrections before it and its translations."""

    path: str
    release: str
    editions: list[Edition]
    meta: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""
    translations: list[Page] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def current(self) -> dict[str, Any]:
        return self.editions[-1].entries[0]

    @property
    def title(self) -> str:
        return str(self.current["title"])

    @property
    def language(self) -> str:
        return str(self.current.get("language") or "en")

    @property
    def published(self) -> str:
        return self.editions[0].published

    @property
    def updated(self) -> str:
        return self.editions[-1].published

    @property
    def group(self) -> str:
        """Pages of one group are language versions of one release."""
        return str(self.meta.get("translation_of") or self.release)

    @property
    def keys(self) -> list[str]:
        return [str(e["id"]) for ed in self.editions for e in ed.entries]


def _editions(entries: list[dict[str, Any]]) -> list[Edition]:
    """Entries of one page (oldest first) as editions: a first part and the parts replying to it."""
    editions: list[Edition] = []
    by_key: dict[str, Edition] = {}
    for e in entries:
        parent = by_key.get(str(e.get("in_reply_to"))) if e.get("part", 1) > 1 else None
        if parent is None:
            parent = Edition([])
            editions.append(parent)
        parent.entries.append(e)
        by_key[str(e["id"])] = parent
    for ed in editions:
        ed.entries.sort(key=lambda e: int(e.get("part", 1)))
    return editions


def permalink(taken: dict[str, tuple[str, str]], release: str, target: str, title: str,
              published: str) -> str:  # fmt: skip
    """The page of (release, target): the one it has, else releases/DATE-SLUG.html, made unique."""
    for path, owner in taken.items():
        if owner == (release, target):
            return path
    slug = slugify(title) or slugify(release) or "release"
    if target != "public":
        slug += "-" + (slugify(target) or "post")
    stem = f"{PAGES}/{published[:10]}-{slug}"
    path, n = f"{stem}.html", 1
    while path in taken:
        n += 1
        path = f"{stem}-{n}.html"
    return path


def _paths(entries: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Every page path and the (release, target) it belongs to, entries without a stored
    path (written by older versions) placed oldest first."""
    taken: dict[str, tuple[str, str]] = {}
    for e in entries:
        if e.get("path"):
            taken[str(e["path"])] = (str(e["release"]), str(e.get("target", "public")))
    for e in sorted(entries, key=lambda e: (_moment(e["published"]), e["id"])):
        if not e.get("path"):
            owner = (str(e["release"]), str(e.get("target", "public")))
            e["path"] = permalink(taken, *owner, str(e["title"]), str(e["published"]))
            taken[e["path"]] = owner
    return taken


def pages_of(entries: Sequence[dict[str, Any]]) -> list[Page]:
    """The site's pages, newest first, with translations linked."""
    items = [dict(e) for e in entries]
    _paths(items)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for e in sorted(items, key=lambda e: (_moment(e["published"]), int(e.get("part", 1)), e["id"])):
        grouped.setdefault(str(e["path"]), []).append(e)
    pages = []
    for path, group in grouped.items():
        editions = _editions(group)
        meta, markdown = split_front_matter(editions[-1].text)
        pages.append(Page(path, str(group[0]["release"]), editions, meta, markdown))
    pages.sort(key=lambda p: (_moment(p.published), p.path), reverse=True)
    by_group: dict[str, list[Page]] = {}
    for p in pages:
        by_group.setdefault(p.group, []).append(p)
    for p in pages:
        seen = {p.language}
        for other in by_group[p.group]:
            if other.language not in seen:
                seen.add(other.language)
                p.translations.append(other)
        p.translations.sort(key=lambda o: o.language)
    return pages


def _edition_reasons(ws: Workspace) -> dict[str, list[tuple[datetime, str]]]:
    """(time, reason) of each new edition per release, from the audit log (the file, or the
    database in team mode)."""
    out: dict[str, list[tuple[datetime, str]]] = {}
    if not ws.database.is_postgres and not ws.audit_path.is_file():
        return out
    try:
        for r in ws.audit().records():
            if r.get("type") == "release.new_edition":
                ts = _moment(str(r.get("ts", "")))
                out.setdefault(str(r.get("release")), []).append((ts, str(r.get("reason", ""))))
    except (OSError, ValueError):
        return {}
    return out


class OutboxChannel:
    """Publishes into a folder of the workspace."""

    dedupes = True

    def __init__(
        self, config: OutboxConfig, workspace_root: Path, templates: Path | None = None
    ) -> None:
        self.name = config.name
        self.templates = templates
        self.config = config
        self.workspace_root = workspace_root
        self.root = (workspace_root / config.path).resolve()
        self.posts_dir = self.root / "posts"
        self.base_url = config.base_url if config.base_url.endswith("/") else config.base_url + "/"
        self.zone = _room_zone(workspace_root)
        self._check_templates()

    def _check_templates(self) -> None:
        """Every press-room template compiles, checked when the channel opens, before anything
        is published: a broken override stops the run with its file and line (exit 2) rather
        than leaving entries written and delivered whose pages were never built."""
        import jinja2

        env = self._env()
        for name in env.list_templates(extensions=["j2"]):
            if not name.startswith("pressroom/"):
                continue
            try:
                env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                raise InputError(
                    f"template syntax error: {exc.message}",
                    path=exc.filename or name,
                    line=exc.lineno,
                ) from None

    def _copy_media(self, post: Post) -> list[dict[str, str]]:
        out = []
        for m in post.media:
            data = m.path.read_bytes()
            name = f"{hashlib.sha256(data).hexdigest()[:12]}-{m.path.name}"
            target = self.root / "media" / name
            if not target.exists():
                write_atomic(target, data)
            out.append({"file": f"media/{name}", "alt": m.alt})
        return out

    async def publish(self, post: Post, key: str, reply_to: Receipt | None = None) -> Receipt:
        """Write the post's entry unless an entry for `key` already exists."""
        path = self.posts_dir / f"{key}.json"
        if path.exists():
            existing = json.loads(path.read_text(encoding="utf-8"))
            return Receipt(remote_id=existing["id"], url=existing["url"], duplicate=True)
        published = _now()
        page = permalink(_paths(self.entries()), post.release_id, post.target, post.title,
                         published)  # fmt: skip
        anchor = "" if post.index == 1 else f"#part-{post.index}"
        entry: dict[str, Any] = {
            **post_record(post, key, self.name, reply_to),
            "target": post.target,
            "path": page,
            "url": f"{self.base_url}{page}{anchor}",
            "media": self._copy_media(post),
            "published": published,
        }
        data = json.dumps(entry, ensure_ascii=False, indent=2).encode("utf-8")
        write_atomic(path, data)
        return Receipt(remote_id=key, url=entry["url"])

    def entries(self) -> list[dict[str, Any]]:
        """Every published entry, newest first."""
        if not self.posts_dir.is_dir():
            return []
        items = [json.loads(p.read_text(encoding="utf-8")) for p in self.posts_dir.glob("*.json")]
        items.sort(key=lambda e: (_moment(e["published"]), e["release"], e["part"]), reverse=True)
        return items

    async def verify(self) -> str:
        """The folder exists (or can be made) and is writable."""
        probe = self.root / ".prcast-write-test"
        try:
            write_atomic(probe, b"ok", durable=False)
            probe.unlink()
        except OSError as exc:
            raise ChannelError(self.name, f"cannot write to {self.root}: {exc.strerror}") from None
        return f"folder {self.root}"

    async def close(self) -> None:
        self.rebuild()

    def publish_checkpoint(self, note: str, vkey: str) -> None:
        """Publish a signed audit checkpoint: checkpoint.txt (the latest), checkpoints/ (each
        one, so a mirror of the press room keeps them all), audit-key.txt, pages and feed."""
        size = note.split("\n", 2)[1]
        write_atomic(self.root / "checkpoints" / f"{int(size):012d}.checkpoint", note.encode())
        write_atomic(self.root / "checkpoint.txt", note.encode("utf-8"))
        write_atomic(self.root / "audit-key.txt", (vkey + "\n").encode("utf-8"))
        self.rebuild()

    def _checkpoint(self) -> tuple[str | None, str | None]:
        try:
            note = (self.root / "checkpoint.txt").read_text(encoding="utf-8")
            vkey = (self.root / "audit-key.txt").read_text(encoding="utf-8").strip()
        except OSError:
            return None, None
        return note, vkey

    # -- the site -----------------------------------------------------------------------

    def pages(self) -> list[Page]:
        """The press room's pages, newest first, with corrections and translations."""
        pages = pages_of(self.entries())
        if any(len(p.editions) > 1 for p in pages):
            from prcast.workspace import Workspace

            reasons = _edition_reasons(Workspace(self.workspace_root))
            for p in pages:
                for before, ed in zip(p.editions, p.editions[1:], strict=False):
                    told = [
                        r for ts, r in reasons.get(p.release, []) if ts <= _moment(ed.published)
                    ]
                    _, markdown = split_front_matter(before.text)
                    title = str(before.entries[0]["title"])
                    previous = render_markdown(markdown, title, p.language).body
                    p.corrections.append({"moment": _moment(ed.published), "previous": previous,
                                          "reason": told[-1] if told else ""})  # fmt: skip
        return pages

    def rebuild(self) -> None:
        """Regenerate the site from the entries: pages, index.html, pressroom.css, feed.xml."""
        pages = self.pages()
        env = self._env()
        note, vkey = self._checkpoint()
        room = {"title": self.config.title, "author": self.config.author,
                "checkpoint": note, "checkpoint_key": vkey}  # fmt: skip
        rendered = self._rendered(pages)
        views = {p.path: self._view(p, "../", rendered[p.path]) for p in pages}
        for page in pages:
            html = self._render(env, "pressroom/release.html.j2", room=room,
                                page=views[page.path], language=page.language, root="../",
                                translations=[views[t.path] for t in page.translations])  # fmt: skip
            self._write(page.path, html.encode("utf-8"))
        language = self._site_language(pages)
        index = self._render(env, "pressroom/index.html.j2", room=room, language=language,
                             pages=[self._view(p, "", rendered[p.path]) for p in pages], root="")  # fmt: skip
        self._write("index.html", index.encode("utf-8"))
        css = self._render(env, "pressroom/pressroom.css.j2")
        self._write("pressroom.css", css.encode("utf-8"))
        feed_views = [self._view(p, self.base_url, rendered[p.path]) for p in pages]
        self._write("feed.xml", self._feed(pages, feed_views, env))

    def _rendered(self, pages: list[Page]) -> dict[str, Rendered]:
        """Each page's Markdown as HTML. Rendering is most of a rebuild's time, so the results
        are kept in .rendered.json beside the site, by a digest of what they come from."""
        cache_file = self.root / CACHE
        try:
            cache = json.loads(cache_file.read_text(encoding="utf-8"))
            if not isinstance(cache, dict):
                cache = {}
        except (OSError, ValueError):
            cache = {}
        out: dict[str, Rendered] = {}
        kept: dict[str, list[Any]] = {}
        for p in pages:
            source = json.dumps([RENDERING, p.title, p.language, p.markdown], ensure_ascii=False)
            digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
            hit = cache.get(digest)
            if isinstance(hit, list) and len(hit) == 3:
                r = Rendered(Markup(hit[0]), hit[1], tuple(hit[2]))
            else:
                r = render_markdown(p.markdown, p.title, p.language)
            out[p.path] = r
            kept[digest] = [str(r.body), r.summary, list(r.contact)]
        if kept != cache:
            self._write(CACHE, json.dumps(kept, ensure_ascii=False).encode("utf-8"))
        return out

    @staticmethod
    def _render(env: Any, name: str, **context: Any) -> str:
        """A press-room template; a broken override is an InputError naming its file and line."""
        from prcast.render import render_template

        return render_template(env, name, context)

    def _env(self) -> Any:
        from prcast.render import environment

        return environment(self.templates)

    def _write(self, name: str, data: bytes) -> None:
        """Write a site file unless it already holds exactly `data` (a rebuild touches little)."""
        target = self.root / name
        try:
            if target.read_bytes() == data:
                return
        except OSError:
            pass
        write_atomic(target, data, durable=False)

    def _site_language(self, pages: list[Page]) -> str:
        """The index's language: that of most releases, translations aside (the newest's on
        a tie)."""
        configured = getattr(self.config, "language", None)
        if isinstance(configured, str) and configured:
            return configured
        originals = [p for p in pages if not p.meta.get("translation_of")] or pages
        if not originals:
            return "en"
        counts = Counter(p.language for p in originals)
        best = max(counts.values())
        return next(p.language for p in originals if counts[p.language] == best)

    def _media(self, entry: dict[str, Any], root: str, language: str) -> list[dict[str, Any]]:
        from babel.numbers import format_decimal

        from prcast.i18n import locale_of

        out = []
        for m in entry.get("media", []):
            file = str(m["file"])
            try:
                size = (self.root / file).stat().st_size
            except OSError:
                size = 0
            kind = mimetypes.guess_type(file)[0] or "application/octet-stream"
            out.append({"src": root + file, "url": self.base_url + file, "alt": m.get("alt", ""),
                        "type": kind, "format": kind.split("/")[-1].upper(), "size": size,
                        "size_text": format_decimal(max(size, 1) / 1000, "#,##0.#",
                                                    locale=locale_of(language)) + " kB",
                        "name": file.rsplit("/", 1)[-1].split("-", 1)[-1]})  # fmt: skip
        return out

    def _view(self, page: Page, root: str, rendered: Rendered) -> dict[str, Any]:
        """What a template sees of a page; `root` leads from the page's folder to the outbox."""
        entry = page.current
        embargo = _moment(entry["embargo"]) if entry.get("embargo") else None
        published = _moment(page.published)
        lang = page.language
        return {
            "title": page.title,
            "href": root + page.path,
            "url": self.base_url + page.path,
            "language": lang,
            "language_name": language_name(lang),
            "anchors": page.keys,
            "summary": rendered.summary,
            "body": rendered.body,
            "contact": contact_items(rendered.contact),
            "media": self._media(entry, root, lang),
            "hashtags": entry.get("hashtags", []),
            "published": published,
            "published_text": human_time(published, lang, self.zone),
            "embargo": embargo if embargo is not None and embargo > published else None,
            "embargo_text": human_time(embargo, lang, self.zone) if embargo else "",
            "corrections": [
                {**c, "text": human_time(c["moment"], lang, self.zone)} for c in page.corrections
            ],
        }

    def _entry_uuid(self, key: str) -> uuid.UUID:
        """The feed entry's id: from its first delivery key (a hex digest), as before."""
        try:
            return uuid.UUID(hex=key[:32])
        except ValueError:
            return uuid.uuid5(uuid.NAMESPACE_URL, self.base_url + key)

    def _feed(self, pages: list[Page], views: list[dict[str, Any]], env: Any) -> bytes:
        ET.register_namespace("", ATOM)

        def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
            el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
            if text is not None:
                el.text = text
            return el

        feed = ET.Element(f"{{{ATOM}}}feed")
        sub(feed, "title", self.config.title)
        sub(feed, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self.base_url)}")
        latest = max((p.updated for p in pages), default=None, key=_moment)
        sub(feed, "updated", latest or _now())
        author = sub(feed, "author")
        sub(author, "name", self.config.author)
        sub(feed, "link", rel="self", href=f"{self.base_url}feed.xml")
        sub(feed, "link", rel="alternate", href=f"{self.base_url}index.html")
        sub(feed, "generator", "prcast")
        note, vkey = self._checkpoint()
        if note is not None and vkey is not None:
            ET.register_namespace("prcast", CHECKPOINT_NS)
            el = ET.SubElement(feed, f"{{{CHECKPOINT_NS}}}checkpoint", {"key": vkey})
            el.text = note
        for page, view in zip(pages, views, strict=True):
            entry = sub(feed, "entry")
            entry.set("{http://www.w3.org/XML/1998/namespace}lang", page.language)
            sub(entry, "title", page.title)
            sub(entry, "id", f"urn:uuid:{self._entry_uuid(page.keys[0])}")
            sub(entry, "published", page.published)
            sub(entry, "updated", page.updated)
            sub(entry, "link", rel="alternate", type="text/html", href=view["url"],
                hreflang=page.language)  # fmt: skip
            for m in view["media"]:
                sub(entry, "link", rel="enclosure", type=m["type"], length=str(m["size"]),
                    href=m["url"], title=m["alt"])  # fmt: skip
            for tag in view["hashtags"]:
                sub(entry, "category", term=tag)
            if view["summary"]:
                sub(entry, "summary", view["summary"])
            html = self._render(env, "pressroom/feed_entry.html.j2", page=view,
                                language=page.language, room={})  # fmt: skip
            sub(entry, "content", _XML_INVALID.sub("", html), type="html")
        body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
