"""The Markdown-ish text prcast renders, as HTML (for Matrix and email): paragraphs, line
breaks, "# " headings, "- " lists, **bold** and links. Everything else is escaped."""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from typing import Any

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escape `text`, turning URLs into links and **x** into bold."""
    if "http" not in text and "**" not in text:
        return html.escape(text, quote=False)  # neither a link nor bold: only escaped
    out, pos = [], 0
    for m in _URL.finditer(text):
        out.append(
            _BOLD.sub(r"<strong>\1</strong>", html.escape(text[pos : m.start()], quote=False))
        )
        url = m.group(0)
        out.append(f'<a href="{html.escape(url)}">{html.escape(url, quote=False)}</a>')
        pos = m.end()
    out.append(_BOLD.sub(r"<strong>\1</strong>", html.escape(text[pos:], quote=False)))
    return "".join(out)


def paragraph_html(para: str) -> str:
    """One paragraph of `to_html`'s text (no blank line in it) as its HTML block."""
    lines = para.splitlines()
    if len(lines) == 1:  # a greeting, a heading: the tests below, for one line
        line = lines[0]
        if line.startswith("# "):
            return f"<h3>{_inline(para[2:])}</h3>"
        if line.startswith("- "):
            return f"<ul><li>{_inline(line[2:])}</li></ul>"
        return f"<p>{_inline(line)}</p>"
    if para.startswith("# ") and len(lines) == 1:
        return f"<h3>{_inline(para[2:])}</h3>"
    if all(line.startswith("- ") for line in lines):
        return "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>"
    return "<p>" + "<br>".join(_inline(line) for line in lines) + "</p>"


def to_html(text: str) -> str:
    """The text as an HTML fragment that says the same."""
    return "".join(paragraph_html(para) for para in re.split(r"\n\s*\n", text.strip()))


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
