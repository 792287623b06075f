"""prcast's Markdown (CommonMark with tables and strikethrough) as HTML for the HTML part of
an email and Matrix's `formatted_body`, and as plain text for the text part. Raw HTML in a
release is escaped, never passed on."""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.rules_core import StateCore
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

# -- HTML ---------------------------------------------------------------------------------------

#: a bare http(s) address in running text, linked as it is written: not after a letter or
#: digit, up to a space, quote or angle bracket, without trailing punctuation (".", ")", "*")
BARE_URL = re.compile(r"(?<![^\W_])https?://[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]*_~]")
#: the headings of an email are sections of a letter, not page titles: "# " is an h3
HEADING_TAGS = {"h1": "h3", "h2": "h4", "h3": "h5", "h4": "h6", "h5": "h6", "h6": "h6"}
#: the only addresses a link (or an image) may have (a press contact's phone: tel:)
_LINKABLE = re.compile(r"(?:https?|mailto|tel):", re.IGNORECASE)


def _bare_url(state: StateInline, silent: bool) -> bool:
    """Inline rule, at the ":" of "http://" or "https://" in running text: the address as
    a link (not inside a link's text; code spans and autolinks are read by their own rules)."""
    pos = state.pos
    if state.linkLevel > 0 or not state.src.startswith("://", pos):
        return False
    scheme = 5 if state.pending.endswith("https") else 4 if state.pending.endswith("http") else 0
    if not scheme:
        return False
    match = BARE_URL.match(state.src, pos - scheme)
    if match is None:
        return False
    url = match.group(0)
    if not silent:
        state.pending = state.pending[:-scheme]
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": state.md.normalizeLink(url)}
        token.markup = "linkify"
        token.info = "auto"
        token = state.push("text", "", 0)
        token.content = url
        token = state.push("link_close", "a", -1)
        token.markup = "linkify"
        token.info = "auto"
    state.pos = match.end()
    return True


def _compact(state: StateCore) -> None:
    """Core rule: headings a level or two smaller (HEADING_TAGS), and no line breaks between
    the HTML blocks (a fragment inside the email's page, where they would only add bytes)."""
    for token in state.tokens:
        token.block = False
        if token.type in ("heading_open", "heading_close"):
            token.tag = HEADING_TAGS[token.tag]


def _br(
    renderer: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A line break in a paragraph is one in the email too (as in the text part)."""
    return "<br>"


@functools.cache
def _html_parser() -> MarkdownIt:
    """The text part's parser (`_parser`) with bare addresses linked, links to http(s) and
    mailto (and tel) only, and compact output."""
    from markdown_it import MarkdownIt

    class _Email(MarkdownIt):
        def validateLink(self, url: str) -> bool:
            return _LINKABLE.match(url) is not None

    md = _Email("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.inline.ruler.before("newline", "bare_url", _bare_url)
    md.core.ruler.push("compact", _compact)
    renderer = cast("RendererHTML", md.renderer)
    plain_code = renderer.rules["fence"], renderer.rules["code_block"]

    def code(
        self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        block = plain_code[tokens[idx].type == "code_block"](tokens, idx, options, env)
        return str(block).removesuffix("\n")

    md.add_render_rule("fence", code)
    md.add_render_rule("code_block", code)
    md.add_render_rule("softbreak", _br)
    md.add_render_rule("hardbreak", _br)
    return md


def to_html(text: str) -> str:
    """The text as an HTML fragment that says the same: CommonMark with tables,
    strikethrough and bare http(s) addresses as links; headings as HEADING_TAGS; line breaks
    kept; any HTML in the text escaped; links only to http(s), mailto and tel addresses."""
    return str(_html_parser().render(text))


_SPECIAL = re.compile(r'[&<>"]')


def _escape(text: str) -> str:
    """Escaped as markdown-it escapes text (&, <, > and double quotes); most text has none
    of them, and is spared the four replacements."""
    from markdown_it.common.utils import escapeHtml

    return text if _SPECIAL.search(text) is None else escapeHtml(text)


#: an address markdown-it's normalizeLink leaves as it is: an ASCII host name (and port),
#: then ASCII characters it does not percent-encode, "%" only before two hex digits
_NORMAL_URL = re.compile(
    r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?"
    r"(?:[/?#](?:[A-Za-z0-9;/?:@&=+$,\-_.!~*'()#]|%[0-9A-Fa-f]{2})*)?"
)


def _href(url: str) -> str:
    """`normalizeLink(url)`: most addresses as they are (an unsubscribe address per
    recipient: normalizeLink takes some 40 us)."""
    return url if _NORMAL_URL.fullmatch(url) else str(_html_parser().normalizeLink(url))


def _inline(line: str) -> str:
    """A line without Markdown as to_html shows it: escaped, its bare addresses linked."""
    if "://" not in line:
        return _escape(line)
    out, pos = [], 0
    for m in BARE_URL.finditer(line):
        url = m.group(0)
        out.append(f'{_escape(line[pos : m.start()])}<a href="{_escape(_href(url))}">')
        out.append(f"{_escape(url)}</a>")
        pos = m.end()
    out.append(_escape(line[pos:]))
    return "".join(out)


#: what may make Markdown of a line that starts with a letter: escapes, code, emphasis,
#: strikethrough, links and images, entities, autolinks
_INLINE_MARKUP = re.compile(r"[\\`*_\[\]~]")
_ENTITY = re.compile(r"&#?[A-Za-z0-9]+;")
_AUTOLINK = re.compile(r"<[^\s<>]*[:@][^\s<>]*>")


def _plain_html(paragraph: str) -> str | None:
    """to_html(paragraph) for a paragraph without Markdown (a greeting, an unsubscribe line),
    without parsing it; None for one that may hold some. Each line starts with a letter
    (no block syntax: headings, lists, quotes, tables, code, underlines), has no white space
    at either end and no character that may start inline Markdown; a first line "--" (a
    signature separator) is text as well."""
    if (
        _INLINE_MARKUP.search(paragraph)
        or ("&" in paragraph and _ENTITY.search(paragraph))
        or ("<" in paragraph and _AUTOLINK.search(paragraph))
    ):
        return None
    lines = paragraph.split("\n")
    for line in lines[1:] if lines[0] == "--" else lines:
        if not (line[:1].isalpha() and line[-1] != " " and line.isprintable()):
            return None
    return "<p>" + "<br>".join(map(_inline, lines)) + "</p>"


#: blank lines (with optional spaces) between two paragraphs
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
#: a line that starts a list item
_LIST_ITEM = re.compile(r"^(?:[-+*]|[0-9]{1,9}[.)])(?:[ \t]|$)", re.MULTILINE)


def _paragraphs(text: str) -> list[str] | None:
    """The text's paragraphs, each of which to_html converts alone to its part of
    to_html(text); None for a text whose paragraphs depend on each other (fenced code over
    blank lines, indented continuations, reference definitions, a list going on after a
    blank line: `_NOT_SELF_CONTAINED`), or one with carriage returns (line ends to
    markdown-it)."""
    if (
        text[:1] in (" ", "\t")
        or "\n " in text
        or "\n\t" in text
        or "]:" in text
        or "```" in text
        or "~~~" in text
        or "\r" in text
    ):
        return None
    paragraphs = _BLANK_LINES.split(text)
    for before, p in itertools.pairwise(paragraphs):
        if _LIST_ITEM.match(p) and _LIST_ITEM.search(before):
            return None  # one loose list, not two
    return paragraphs


def html_of(text: str, cache: dict[str, str]) -> str:
    """`to_html(text)`, each paragraph converted once for all recipients (a press email's
    paragraphs are mostly the same for all; one without Markdown, like the greeting, is
    converted without parsing); a text whose paragraphs depend on each other is converted
    as a whole."""
    paragraphs = _paragraphs(text)
    if paragraphs is None:
        return to_html(text)
    out = []
    for p in paragraphs:
        block = cache.get(p)
        if block is None:
            block = _plain_html(p)
            if block is None:
                block = to_html(p)
            if len(cache) < 10_000:
                cache[p] = block
        out.append(block)
    return "".join(out)


# -- plain text ---------------------------------------------------------------------------------

#: a blank line (with optional spaces): where one paragraph ends and the next begins
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
#: what makes a paragraph depend on another one (fenced code over blank lines, indented
#: continuations, reference definitions): such a text is converted as a whole
_NOT_SELF_CONTAINED = ("```", "~~~", "]:", "\n ", "\n\t")


@functools.cache
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


@dataclass
class _Box:
    """A container (list item, quote) a line is written in: its prefix on its first line and
    on the lines after."""

    first: str
    rest: str
    used: bool = False


def _inline_plain(children: list[Any]) -> str:
    """An inline token stream as text: emphasis and code marks dropped, links as
    "text (url)", images as "alt (url)", line breaks kept."""
    out: list[str] = []
    links: list[tuple[int, str, bool]] = []  # (where its text starts, href, autolink)
    for tok in children:
        kind = tok.type
        if kind in ("text", "code_inline"):
            out.append(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link_open":
            links.append(
                (len(out), str(tok.attrGet("href") or ""), tok.markup in ("autolink", "linkify"))
            )
        elif kind == "link_close" and links:
            start, href, auto = links.pop()
            label = "".join(out[start:])
            shown = href.removeprefix("mailto:")
            if not auto and href and label.strip() not in (href, shown):
                out.append(f" ({shown})" if label.strip() else shown)
        elif kind == "image":
            alt = tok.content or "".join(c.content for c in tok.children or [])
            src = str(tok.attrGet("src") or "")
            out.append(f"{alt} ({src})" if alt and src else alt or src)
    return "".join(out)


def to_plain(text: str) -> str:
    """Markdown as plain text that reads well in a mail client: headings as an underlined
    line, no emphasis marks or backticks, links as "text (url)", images as "alt (url)",
    lists and quotes with their markers, code indented, escapes resolved."""
    tokens = _parser().parse(text)
    lines: list[str] = []
    boxes: list[_Box] = []
    lists: list[list[int | None]] = []  # per open list: the next number (None: bullets)
    pending = False  # a blank line is due before the next line
    row: list[str] | None = None  # the cells of a table row being read

    def prefix() -> str:
        out = ""
        for box in boxes:
            out += box.rest if box.used else box.first
            box.used = True
        return out

    def flush() -> None:
        nonlocal pending
        if pending and lines:
            lines.append("".join(b.rest for b in boxes).rstrip())
        pending = False

    def emit(line: str) -> None:
        flush()
        lines.append((prefix() + line).rstrip())

    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == "inline" and row is not None:
            row.append(" ".join(_inline_plain(tok.children or []).split()))
        elif kind == "inline":
            for line in _inline_plain(tok.children or []).split("\n"):
                emit(line.strip())
        elif kind == "paragraph_close" and not tok.hidden:
            pending = True
        elif kind == "heading_close":
            title = lines[-1][len("".join(b.rest for b in boxes)) :] if lines else ""
            emit(("=" if tok.tag == "h1" else "-") * max(3, len(title)))
            pending = True
        elif kind in ("fence", "code_block"):
            for line in tok.content.rstrip("\n").split("\n"):
                emit("    " + line)
            pending = True
        elif kind == "hr":
            emit("* * *")
            pending = True
        elif kind == "bullet_list_open":
            flush()
            lists.append([None])
        elif kind == "ordered_list_open":
            flush()
            lists.append([int(tok.attrGet("start") or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            pending = True
        elif kind == "list_item_open":
            number = lists[-1][0] if lists else None
            marker = "- " if number is None else f"{number}. "
            if number is not None:
                lists[-1][0] = number + 1
            boxes.append(_Box(marker, " " * len(marker)))
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if following is not None and following.hidden:  # a tight list: no blank lines
                pending = False
        elif kind == "list_item_close":
            if boxes and not boxes[-1].used:
                emit("")
            boxes.pop()
        elif kind == "blockquote_open":
            flush()
            boxes.append(_Box("> ", "> "))
        elif kind == "blockquote_close":
            boxes.pop()
            pending = True
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            emit(" | ".join(row))
            row = None
        elif kind == "table_close":
            pending = True
    return "\n".join(lines).strip("\n")


#: characters that may start Markdown syntax inside a line (the others only at a line's
#: start: "#", ">", "=", "|", "!" only before "[")
_MARKUP = re.compile(r"[\\`*_\[\]<&~]")


def _is_plain(paragraph: str) -> bool:
    """Whether `paragraph` has no Markdown in it (to_plain would only strip its lines): each
    line starts with a letter, none holds a character that may start Markdown; a first line
    "--" (a signature separator) is text as well."""
    lines = paragraph.split("\n")
    if lines[0].rstrip() == "--":
        lines = lines[1:]
    return (
        bool(lines) and all(line[:1].isalpha() for line in lines) and not _MARKUP.search(paragraph)
    )


def plain_of(text: str, cache: dict[str, str]) -> str:
    """`to_plain(text)`, each paragraph converted once for all recipients (a press email's
    paragraphs are mostly the same for all); a text whose paragraphs depend on each other
    is converted as a whole."""
    if text[:1] in (" ", "\t") or any(mark in text for mark in _NOT_SELF_CONTAINED):
        return to_plain(text)
    out = []
    for p in _PARAGRAPH_BREAK.split(text.strip()):
        block = cache.get(p)
        if block is None:
            if _is_plain(p):  # a greeting, an unsubscribe line: as it is, without parsing
                block = "\n".join(line.strip() for line in p.split("\n"))
            else:
                block = to_plain(p)
                if len(cache) < 10_000:
                    cache[p] = block
        out.append(block)
    return "\n\n".join(b for b in out if b)
