"""Render a release per channel with jinja2 and split it into Posts within each limit."""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from prcast import i18n
from prcast.channels.base import Limits, Post
from prcast.config import ChannelConfig, EmailConfig
from prcast.errors import InputError
from prcast.lists import Contact, Resolution
from prcast.release import Release
from prcast.text import split
from prcast.text.counting import X_INVALID, acceptor, measurer
from prcast.text.markup import to_html
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
) -> Rendering:
    """Render and split one channel's posts: a public thread, or one per recipient or batch."""
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
        posts, no_address = _emails(env, release, channel, name, base, members, limits, measure)
    else:
        posts, no_address = _direct_messages(
            env, release, channel, name, base, members, limits, measure
        )
    text = posts[0].text if posts else ""
    return Rendering(channel, name, text, tuple(posts), tuple(excluded + no_address))


def _emails(
    env: jinja2.Environment,
    release: Release,
    channel: EmailConfig,
    name: str,
    base: dict[str, Any],
    members: list[tuple[str, Contact]],
    limits: Limits,
    measure: Callable[[str], int],
) -> tuple[list[Post], list[Excluded]]:
    posts: list[Post] = []
    missing: list[Excluded] = []
    for group, contact in members:
        if not contact.email:
            missing.append(Excluded(group, contact.id, "no email address"))
            continue
        unsubscribe = (channel.unsubscribe_url or "").replace("{email}", quote(contact.email))
        ctx = {**base, **recipient_context(base, contact, group), "unsubscribe_url": unsubscribe}
        text = render_template(env, name, ctx).strip()
        subject = " ".join(render_template(env, "email_subject.txt.j2", ctx).split())
        html = render_template(env, "email.html.j2", {**ctx, "content_html": Markup(to_html(text))})
        [post] = thread_posts(release, channel, text, limits, measure, target=contact.email, group=group,
                         recipients=(contact.email,), recipient_name=contact.name, subject=subject,
                         html=html)  # fmt: skip
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
) -> list[Rendering]:
    """Render a release for each of `channels`, within the limits their servers published."""
    env = environment(workspace_templates)
    published = published or {}
    return [render_channel(env, release, ch, published.get(ch.name), audience) for ch in channels]
