"""Render a release per channel with jinja2 and split it into Posts within each limit."""

from __future__ import annotations

import functools
import operator
import re
import secrets
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from prcast import i18n
from prcast.channels.base import Limits, Post
from prcast.config import ChannelConfig, EmailConfig
from prcast.errors import InputError
from prcast.lists import Contact, Resolution
from prcast.release import Release
from prcast.text import split
from prcast.text.counting import X_INVALID, acceptor, measurer
from prcast.text.markup import html_of
from prcast.text.split import SplitError

DEFAULT_TEMPLATES = {
    "outbox": "outbox.md.j2",
    "mastodon": "microblog.txt.j2",
    "bluesky": "microblog.txt.j2",
    "x": "microblog.txt.j2",
    "matrix": "matrix.txt.j2",
    "webhook": "webhook.txt.j2",
    "email": "email.txt.j2",
}


def shipped_templates_dir() -> Path:
    """The default templates: packaged in the wheel, or the repository's top-level folder."""
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    return packaged if packaged.is_dir() else here.parent / "templates"


@dataclass(frozen=True)
class Rendering:
    """One channel's rendering of a release."""

    channel: ChannelConfig
    template: str
    text: str
    posts: tuple[Post, ...]
    #: audience members this channel does not send to (suppressed, or no address for it)
    excluded: tuple[Excluded, ...] = ()


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A template file must lie inside the workspace (or be a shipped one): a symlink out of
    the workspace is refused, unless $PRCAST_ALLOW_DIRS allows its folder."""

    def __init__(self, paths: list[str], root: Path | None) -> None:
        super().__init__(paths)
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        from prcast.workspace import confined, confinement_hint

        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        shipped = real.is_relative_to(shipped_templates_dir().resolve())
        if self.root is not None and not shipped and confined(real, self.root) is None:
            raise InputError(
                f'template "{template}" lies outside the workspace ({real})',
                path=filename,
                line=1,
                hint=confinement_hint(self.root),
            )
        return source, filename, uptodate


def environment(workspace_templates: Path | None) -> jinja2.Environment:
    """The jinja2 environment: workspace templates override shipped ones by name. One per
    templates folder and set of overrides, so each template is compiled once per process;
    jinja2 reloads a template whose file changed, and an override added or removed while a
    process runs (the scheduler daemon) gets a fresh environment."""
    names: frozenset[str] = frozenset()
    if workspace_templates is not None and workspace_templates.is_dir():
        names = frozenset(
            str(p.relative_to(workspace_templates)) for p in workspace_templates.rglob("*.j2")
        )
    return _environment(workspace_templates, names)


@functools.lru_cache(maxsize=8)
def _environment(workspace_templates: Path | None, overrides: frozenset[str]) -> jinja2.Environment:
    paths = (
        [str(workspace_templates)] if workspace_templates and workspace_templates.is_dir() else []
    )
    paths.append(str(shipped_templates_dir()))
    root = workspace_templates.parent if workspace_templates else None
    env = jinja2.Environment(
        loader=_ConfinedLoader(paths, root),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "xml", "html.j2", "xml.j2"]),
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    i18n.install(env)
    return env


def _template_location(
    tb: types.TracebackType | None, template: jinja2.Template
) -> tuple[str, int | None]:
    """The innermost template frame (an included template's, if that is where it failed)."""
    filename = template.filename or template.name or "?"
    line = None
    while tb is not None:
        if (
            "__jinja_exception__" in tb.tb_frame.f_globals
        ):  # a frame jinja2 rewrote to template lines
            filename, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    return filename, line


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render one template; missing variables and syntax errors name the template file and line."""
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise InputError(
            f'template "{name}" not found', hint="templates live in the workspace templates/ folder"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(
            f"template syntax error: {exc.message}", path=exc.filename or name, line=exc.lineno
        ) from None
    try:
        return template.render(context)
    except jinja2.UndefinedError as exc:
        filename, line = _template_location(exc.__traceback__, template)
        raise InputError(
            f"undefined variable in template: {exc.message}",
            path=filename,
            line=line,
            hint="variables: " + ", ".join(sorted(context)),
        ) from None
    except jinja2.TemplateError as exc:
        filename, line = _template_location(exc.__traceback__, template)
        raise InputError(f"template error: {exc}", path=filename, line=line) from None


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def reflow(markdown: str) -> str:
    """Markdown paragraphs as single lines (soft line breaks become spaces); lists keep their lines."""
    paragraphs = re.split(r"\n\s*\n", markdown.strip())
    out = []
    for para in paragraphs:
        lines = [line.strip() for line in para.splitlines()]
        out.append("\n".join(lines) if any(_LIST_ITEM.match(x) for x in lines) else " ".join(lines))
    return "\n\n".join(out)


def embargo_line(release: Release, channel: ChannelConfig, language: str | None = None) -> str:
    """ "EMBARGOED UNTIL December 1, 2026, 9:30 AM GMT+1", "SPERRFRIST: 1. Dezember 2026,
    09:30 Uhr MEZ": the notice of email sent under embargo_notice, in `language` (else the
    release's), the moment written as the locale writes dates, times and zones."""
    if release.embargo is None or not (isinstance(channel, EmailConfig) and channel.embargo_notice):
        return ""
    language = language or i18n.negotiate(release.language)
    parts = i18n.moment_parts(release.embargo, language)
    return i18n.gettext(language, "EMBARGOED UNTIL %(date)s, %(time)s %(zone)s", **parts)


def context(
    release: Release, channel: ChannelConfig, audience: Sequence[Resolution] = ()
) -> dict[str, Any]:
    """What a template sees. `language` is the release's; `locale` the language prcast's own
    wording is in (the release's, else English; per recipient in email: recipient_context)."""
    locale = i18n.negotiate(release.language)
    return {
        "release": release,
        "channel": channel,
        "title": release.title,
        "summary": release.summary,
        "body": release.body,
        "body_text": reflow(release.body),
        "links": release.links,
        "hashtags": release.hashtags,
        "hashtag_line": " ".join("#" + h for h in release.hashtags),
        "media": release.media,
        "embargo": release.embargo,
        "contact": release.contact,
        "language": release.language,
        "locale": locale,
        "content_warning": release.content_warning,
        "embargo_line": embargo_line(release, channel, locale),
        "group_descriptions": {r.group: r.description for r in audience},
    }


def recipient_context(base: Mapping[str, Any], contact: Contact, group: str) -> dict[str, Any]:
    """What an email template sees beyond `context` for one recipient: prcast's wording in
    the recipient's language (else the release's), and the group's public description
    (`group` is the internal name: the shipped templates never show it)."""
    release: Release = base["release"]
    locale = i18n.negotiate(contact.language, release.language)
    return {
        "recipient": contact,
        "group": group,
        "group_description": base["group_descriptions"].get(group, ""),
        "locale": locale,
        "embargo_line": embargo_line(release, base["channel"], locale),
    }


def _line_of_word(release: Release, word: str) -> int | None:
    try:
        text = release.path.read_text(encoding="utf-8")
    except OSError:
        return None
    pos = text.find(word)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else None


def effective_limits(channel: ChannelConfig, published: Limits | None) -> Limits:
    """The limits a channel's posts must meet: channels.toml's max_length, else what the
    server published, else the platform default."""
    if published is None:
        return Limits(max_length=channel.limit)
    return replace(published, max_length=channel.max_length or published.max_length)


def check_media(release: Release, channel: ChannelConfig, published: Limits | None) -> None:
    """The release's images fit what the channel's service accepts."""
    max_media = published.max_media if published else channel.max_media
    max_bytes = (published.media_bytes if published else None) or channel.media_bytes
    if max_media is not None and len(release.media) > max_media:
        raise release.error(
            "media",
            f'channel "{channel.name}" takes at most {max_media} images per post, the release has {len(release.media)}',
        )
    for m in release.media:
        size = m.path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise release.error(
                "media",
                f'channel "{channel.name}": image {m.path.name} has {size:,} bytes, more than the {max_bytes:,} it accepts',
                hint="make the image smaller",
            )


def thread_posts(
    release: Release,
    channel: ChannelConfig,
    text: str,
    limits: Limits,
    measure: Callable[[str], int],
    **fields: Any,
) -> list[Post]:
    """`text` split into the numbered posts of one thread."""
    if channel.rule == "x" and (bad := next((c for c in text if c in X_INVALID), None)):
        # twitter-text's hasInvalidCharacters: X refuses the post whatever its length
        raise InputError(
            f'channel "{channel.name}": X refuses posts with the character U+{ord(bad):04X}',
            path=release.path,
            line=_line_of_word(release, bad),
            hint="remove it (often a byte order mark pasted from another program)",
        )
    try:
        parts = split(
            text,
            limits.max_length,
            measure,
            fits=acceptor(channel.rule, limits.max_length, measure),
            rule=channel.rule,
        )
    except SplitError as exc:
        word = exc.detail.split('"')[1] if '"' in exc.detail else ""
        raise InputError(
            f'channel "{channel.name}": {exc.detail}',
            path=release.path,
            line=_line_of_word(release, word.removesuffix("...")),
            hint=exc.hint,
        ) from None
    return [
        Post(
            channel=channel.name,
            release_id=release.id,
            title=release.title,
            text=part,
            index=i,
            total=len(parts),
            length=measure(part),
            limit=limits.max_length,
            language=release.language,
            links=release.links,
            hashtags=release.hashtags,
            media=release.media if i == 1 else (),
            embargo=release.embargo,
            content_warning=release.content_warning,
            **fields,
        )
        for i, part in enumerate(parts, start=1)
    ]


@dataclass(frozen=True)
class Excluded:
    """A recipient of the audience that this channel does not send to, and why."""

    group: str
    recipient: str
    reason: str


def audience_members(
    audience: Sequence[Resolution],
) -> tuple[list[tuple[str, Contact]], list[Excluded]]:
    """Each reachable person once (in the first group that names them), and the suppressed."""
    seen: set[str] = set()
    members: list[tuple[str, Contact]] = []
    excluded: list[Excluded] = []
    for resolution in audience:
        for r in resolution.recipients:
            if r.contact.id not in seen:
                seen.add(r.contact.id)
                members.append((resolution.group, r.contact))
        for r in resolution.suppressed:
            if r.contact.id not in seen:
                seen.add(r.contact.id)
                excluded.append(Excluded(resolution.group, r.contact.id, r.reasons[-1]))
    return members, excluded


def render_channel(
    env: jinja2.Environment,
    release: Release,
    channel: ChannelConfig,
    published: Limits | None = None,
    audience: Sequence[Resolution] = (),
    planned_at: str = "",
) -> Rendering:
    """Render and split one channel's posts: a public thread, or one per recipient or batch.
    Emails carry `planned_at` already (a plan then need not copy each one to set it)."""
    check_media(release, channel, published)
    name = channel.template or DEFAULT_TEMPLATES[channel.type]
    limits = effective_limits(channel, published)
    measure = measurer(
        channel.rule, url_length=limits.url_length, spoiler_text=release.content_warning or ""
    )
    base = context(release, channel, audience)
    if not channel.audience_only:
        text = render_template(env, name, base).strip()
        return Rendering(
            channel, name, text, tuple(thread_posts(release, channel, text, limits, measure))
        )
    if not audience:
        raise release.error(
            "audience",
            f'channel "{channel.name}" ({channel.type}) delivers to people, and the release names no audience',
            hint='add audience = ["group"] to the release, or pass --to GROUP',
        )
    members, excluded = audience_members(audience)
    if isinstance(channel, EmailConfig):
        posts, no_address = _emails(
            env, release, channel, name, base, members, limits, measure, planned_at
        )
    else:
        posts, no_address = _direct_messages(
            env, release, channel, name, base, members, limits, measure
        )
    text = posts[0].text if posts else ""
    return Rendering(channel, name, text, tuple(posts), tuple(excluded + no_address))


#: what a template sees that differs per recipient of an email
PER_RECIPIENT = frozenset({"recipient", "group", "unsubscribe_url", "content_html"})


class _Hole(str):
    """A marker standing in for one per-recipient value while a template is rendered once:
    output as the marker, tested (`{% if %}`) as the value it stands for would be."""

    truth: bool

    def __bool__(self) -> bool:
        return self.truth


def _hole_paths(env: jinja2.Environment, name: str) -> list[tuple[str, ...]] | None:
    """The per-recipient values a template (with what it includes) reads, as attribute paths
    ("recipient", "name"), when it only outputs them (`{{ recipient.name }}`) or tests them
    (`{% if unsubscribe_url %}`): its text is then a function of their text and truthiness.
    None when it does anything else with them (a filter, a call, a comparison, an assignment)
    or cannot be analysed; it is then rendered per recipient."""
    from jinja2 import meta, nodes

    paths: list[tuple[str, ...]] = []
    escaping: set[bool] = set()
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            source = env.loader.get_source(env, current)[0] if env.loader else None
            if source is None or "\x00" in source:
                return None
            tree = env.parse(source)
        except (jinja2.TemplateError, InputError):
            return None
        auto = env.autoescape(current) if callable(env.autoescape) else env.autoescape
        escaping.add(bool(auto))
        for ref in meta.find_referenced_templates(tree):
            if ref is None:
                return None  # an include chosen at render time
            todo.append(ref)
        if any(tree.find_all((nodes.ScopedEvalContextModifier, nodes.EvalContextModifier))):
            return None

        def visit(
            node: nodes.Node, parent: nodes.Node | None, grand: nodes.Node | None = None
        ) -> bool:
            if isinstance(node, nodes.Getattr | nodes.Name):
                path: list[str] = []
                inner: nodes.Node = node
                while isinstance(inner, nodes.Getattr):
                    path.insert(0, inner.attr)
                    inner = inner.node
                if isinstance(inner, nodes.Name) and inner.name in PER_RECIPIENT:
                    used_as_is = (
                        (isinstance(parent, nodes.Output) and node in parent.nodes)
                        or (isinstance(parent, nodes.If) and parent.test is node)
                        # a placeholder of prcast's wording, `_("Dear %(name)s,", name=…)`:
                        # gettext puts its text in as it is, as output does
                        or (
                            isinstance(parent, nodes.Keyword)
                            and parent.value is node
                            and isinstance(grand, nodes.Call)
                            and isinstance(grand.node, nodes.Name)
                            and grand.node.name in ("_", "gettext")
                            and parent in grand.kwargs
                        )
                    )
                    if not used_as_is or inner.ctx != "load":
                        return False
                    paths.append((inner.name, *path))
                    return True
            return all(visit(child, node, parent) for child in node.iter_child_nodes())

        if not visit(tree, None):
            return None
    unique = sorted(set(paths))
    for a in unique:  # `{{ recipient }}` beside `{{ recipient.name }}`: not one shape
        if any(b != a and b[: len(a)] == a for b in unique):
            return None
    if len(escaping) > 1:
        return None
    return unique


class _Personal:
    """One template rendered for many recipients. Where `_hole_paths` allows, it is rendered
    once per combination of the per-recipient values' truthiness, with markers in their
    places, and each recipient's text is the markers replaced by the values (escaped as the
    template would). Otherwise, and whenever the fast way cannot be sure, it renders in full."""

    def __init__(self, env: jinja2.Environment, name: str, base: dict[str, Any]) -> None:
        self.env, self.name, self.base = env, name, base
        self.paths = _hole_paths(env, name)
        self.escape = bool(env.autoescape(name) if callable(env.autoescape) else env.autoescape)
        #: per truthiness combination: the text with the values' places as str.format fields
        #: (None: that combination is rendered in full)
        self.shapes: dict[tuple[bool, ...], str | None] = {}
        self.nonce = secrets.token_hex(8)
        #: per path, its value from the per-recipient values ("recipient", "name": the
        #: recipient's name); a KeyError or AttributeError when it has none
        self.getters: list[Callable[[dict[str, Any]], Any]] = [
            operator.itemgetter(path[0])
            if len(path) == 1
            else _chained(operator.itemgetter(path[0]), operator.attrgetter(".".join(path[1:])))
            for path in self.paths or ()
        ]

    def _values(self, personal: dict[str, Any]) -> list[Any] | None:
        assert self.paths is not None
        try:
            values = [get(personal) for get in self.getters]
        except (KeyError, AttributeError):
            return None  # the full rendering names the template line
        for value in values:
            if value is None or isinstance(value, jinja2.Undefined):
                return None
        return values

    def _shape(self, truths: tuple[bool, ...]) -> str | None:
        assert self.paths is not None
        holes: dict[str, Any] = {}
        for i, (path, truth) in enumerate(zip(self.paths, truths, strict=True)):
            hole = _Hole(f"\x00{self.nonce}{i}\x00")
            hole.truth = truth
            if len(path) == 1:
                holes[path[0]] = hole
            else:
                ns = holes.setdefault(path[0], types.SimpleNamespace())
                for attr in path[1:-1]:
                    if not hasattr(ns, attr):
                        setattr(ns, attr, types.SimpleNamespace())
                    ns = getattr(ns, attr)
                setattr(ns, path[-1], hole)
        try:
            text = self.env.get_template(self.name).render({**self.base, **holes})
        except jinja2.TemplateError:
            return None
        # a random mark per renderer: a NUL in the release's own text is not taken for one
        pieces = re.split(f"\x00{self.nonce}([0-9]+)\x00", text)
        # literal text with its braces doubled, each marker a positional field: filled by
        # str.format in one call per recipient
        return "".join(
            f"{{{p}}}" if i % 2 else p.replace("{", "{{").replace("}", "}}")
            for i, p in enumerate(pieces)
        )

    def _filled(self, texts: list[str], truths: tuple[bool, ...]) -> str | None:
        """The text for values already written as the template outputs them (`texts`) and
        tested as `truths`; None when this combination must be rendered in full."""
        if truths in self.shapes:
            shape = self.shapes[truths]
        else:
            shape = self.shapes[truths] = self._shape(truths)
        return None if shape is None else shape.format(*texts)

    def render(self, personal: dict[str, Any]) -> str:
        if self.paths is not None:
            values = self._values(personal)
            if values is not None:
                texts = (
                    [str(escape(v)) for v in values] if self.escape else [str(v) for v in values]
                )
                text = self._filled(texts, tuple(map(bool, values)))
                if text is not None:
                    return text
        return render_template(self.env, self.name, {**self.base, **personal})

    def constant(self) -> str | None:
        """The text when the template reads no per-recipient value: the same for everyone."""
        return self._filled([], ()) if self.paths == [] else None

    def with_html(self, fragment: str) -> str | None:
        """The text when the template's one per-recipient value is `content_html`, given as
        HTML (what `render` gives for Markup(fragment), without making one per recipient)."""
        if self.paths != [("content_html",)]:
            return None
        return self._filled([fragment], (bool(fragment),))


def _chained(
    first: Callable[[dict[str, Any]], Any], then: Callable[[Any], Any]
) -> Callable[[dict[str, Any]], Any]:
    return lambda personal: then(first(personal))


#: what `quote` (urllib's, with its default safe "/") leaves of an ASCII character
_QUOTED = {c: f"%{c:02X}" for c in range(128)}
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/":
    del _QUOTED[_c]


def _quote(value: str) -> str:
    """`urllib.parse.quote(value)`: an ASCII address by one translation table, without
    encoding it to bytes and back (once per recipient of a large list)."""
    return value.translate(_QUOTED) if value.isascii() else quote(value)


def with_fields(post: Post, **fields: Any) -> Post:
    """`replace(post, **fields)` without its per-call field checks (tens of thousands of
    emails spent seconds there): a new Post of the same fields with `fields` set. Post is a
    plain frozen dataclass (no __post_init__, no slots): its fields are its __dict__."""
    made: Post = object.__new__(Post)
    # filled in place (a dictionary of its own assigned instead took 100 MB more at 100,000);
    # still about 60 bytes more a Post than Post(...), for 2 us less
    made.__dict__.update(post.__dict__)
    made.__dict__.update(fields)
    return made


class _Wording:
    """The email templates for the recipients of one language and group, with what does
    not change from one recipient to the next worked out once."""

    def __init__(self, env: jinja2.Environment, name: str, scoped: dict[str, Any]) -> None:
        self.body = _Personal(env, name, scoped)
        self.subject = _Personal(env, "email_subject.txt.j2", scoped)
        self.page = _Personal(env, "email.html.j2", scoped)
        constant = self.subject.constant()
        self.fixed_subject = None if constant is None else " ".join(constant.split())
        self.paragraphs: dict[str, str] = {}

    def render(self, personal: dict[str, Any]) -> tuple[str, str, str]:
        """The text, subject and HTML of one recipient's email."""
        text = self.body.render(personal).strip()
        subject = self.fixed_subject
        if subject is None:
            subject = " ".join(self.subject.render(personal).split())
        fragment = html_of(text, self.paragraphs)
        html = self.page.with_html(fragment)
        if html is None:
            html = self.page.render({**personal, "content_html": Markup(fragment)})
        return text, subject, html


def _emails(
    env: jinja2.Environment,
    release: Release,
    channel: EmailConfig,
    name: str,
    base: dict[str, Any],
    members: list[tuple[str, Contact]],
    limits: Limits,
    measure: Callable[[str], int],
    planned_at: str = "",
) -> tuple[list[Post], list[Excluded]]:
    posts: list[Post] = []
    missing: list[Excluded] = []
    # the templates' shared parts vary with the recipient's language and group (prcast's
    # wording, the embargo line, the group's public description): one set of renderers each
    by_wording: dict[tuple[str, str], _Wording] = {}
    locales: dict[str, str] = {}  # a contact's language -> the locale of prcast's wording
    url = channel.unsubscribe_url or ""
    per_address = "{email}" in url
    fits = acceptor(channel.rule, limits.max_length, measure)
    one_part = channel.rule != "x"  # else thread_posts checks the characters X refuses
    # what every recipient's one-part email shares (thread_posts makes the same Post)
    shared_post: Post | None = None
    for group, contact in members:
        email = contact.email
        if not email:
            missing.append(Excluded(group, contact.id, "no email address"))
            continue
        locale = locales.get(contact.language)
        if locale is None:
            locale = locales[contact.language] = i18n.negotiate(contact.language, release.language)
        wording = by_wording.get((locale, group))
        if wording is None:
            context_of = recipient_context(base, contact, group)
            shared = {k: v for k, v in context_of.items() if k not in PER_RECIPIENT}
            wording = by_wording[(locale, group)] = _Wording(env, name, {**base, **shared})
        unsubscribe = url.replace("{email}", _quote(email)) if per_address else url
        text, subject, html = wording.render(
            {"recipient": contact, "group": group, "unsubscribe_url": unsubscribe}
        )
        if shared_post is not None and one_part and fits(text):
            # one part, as split gives a stripped text that fits: the shared Post's fields
            # with this recipient's text, length and address
            posts.append(with_fields(shared_post, text=text, length=measure(text), target=email,
                                     group=group, recipients=(email,), recipient_name=contact.name,
                                     subject=subject, html=html))  # fmt: skip
            continue
        [post] = thread_posts(release, channel, text, limits, measure, target=email, group=group,
                              recipients=(email,), recipient_name=contact.name, subject=subject,
                              html=html, planned_at=planned_at)  # fmt: skip
        if post.total == 1 and post.text == text:
            shared_post = post
        posts.append(post)
    return posts, missing


def _direct_messages(
    env: jinja2.Environment,
    release: Release,
    channel: ChannelConfig,
    name: str,
    base: dict[str, Any],
    members: list[tuple[str, Contact]],
    limits: Limits,
    measure: Callable[[str], int],
) -> tuple[list[Post], list[Excluded]]:
    """Direct messages mentioning the recipients, batched so the mentions take at most half a post."""
    text = render_template(env, name, base).strip()
    posts: list[Post] = []
    missing: list[Excluded] = []
    by_group: dict[str, list[str]] = {}
    for group, contact in members:
        if contact.mastodon:
            by_group.setdefault(group, []).append(contact.mastodon)
        else:
            missing.append(Excluded(group, contact.id, "no Mastodon handle"))
    batch_no = 0
    for group, handles in by_group.items():
        batch: list[str] = []
        for handle in [*handles, None]:
            full = handle is None or (
                batch and measure(" ".join([*batch, handle])) > limits.max_length // 2
            )
            if full and batch:
                batch_no += 1
                prefix = " ".join(batch) + " "
                posts += thread_posts(
                    release, channel, text, limits, lambda t, p=prefix: measure(p + t),  # type: ignore[misc]
                    target=f"dm-{batch_no}", group=group, recipients=tuple(batch),
                )  # fmt: skip
                batch = []
            if handle is not None:
                batch.append(handle)
    return posts, missing


def render_release(
    release: Release,
    channels: Sequence[ChannelConfig],
    workspace_templates: Path | None,
    published: Mapping[str, Limits] | None = None,
    audience: Sequence[Resolution] = (),
    planned_at: str = "",
) -> list[Rendering]:
    """Render a release for each of `channels`, within the limits their servers published
    (emails stamped with the `planned_at` of the plan they are rendered for)."""
    env = environment(workspace_templates)
    published = published or {}
    return [
        render_channel(env, release, ch, published.get(ch.name), audience, planned_at)
        for ch in channels
    ]
