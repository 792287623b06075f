"""The Markdown-ish text prcast renders, as HTML (for Matrix and email): paragraphs, line
breaks, "# " headings, "- " lists, **bold** and links. Everything else is escaped."""

from __future__ import annotations

import html
import re

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escape `text`, turning URLs into links and **x** into bold."""
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


def to_html(text: str) -> str:
    """The text as an HTML fragment that says the same."""
    blocks = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = para.splitlines()
        if para.startswith("# ") and len(lines) == 1:
            blocks.append(f"<h3>{_inline(para[2:])}</h3>")
        elif all(line.startswith("- ") for line in lines):
            blocks.append(
                "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>"
            )
        else:
            blocks.append("<p>" + "<br>".join(_inline(line) for line in lines) + "</p>")
    return "".join(blocks)
