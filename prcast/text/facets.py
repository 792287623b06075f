"""Bluesky rich-text facets as @atproto/api's detectFacets finds them (links, schemeless
links, tags, mentions, cashtags as tags), with UTF-8 byte offsets.

A port of bluesky-social/atproto packages/api/src/rich-text/detection.ts and util.ts
(MIT licence). Their patterns are JavaScript's: `\\s` is JavaScript's white space, `\\b`
and `\\d` are ASCII, `i` folds ASCII only; the link and mention patterns (no `u` flag)
see the same matches in code points as in code units, because every character they
match outside white space is ASCII or a whole run of non-space.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex

from prcast.text.platform_data import TLDS

_JS_SPACE = (
    "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
_S = f"[{_JS_SPACE}]"
_NS = f"[^{_JS_SPACE}]"
_JS_LINE_START = "(?:^|(?<=[\\n\\r\\u2028\\u2029]))"  # ^ under the m flag
_ASCII_WORD = "[A-Za-z0-9_]"
_JS_WORD_BOUNDARY = f"(?:(?<={_ASCII_WORD})(?!{_ASCII_WORD})|(?<!{_ASCII_WORD})(?={_ASCII_WORD}))"

# util.ts MENTION_REGEX = /(^|\s|\()(@)([a-zA-Z0-9.-]+)(\b)/g
_MENTION = regex.compile(f"(^|{_S}|\\()(@)([a-zA-Z0-9.-]+)({_JS_WORD_BOUNDARY})", regex.VERSION0)
# util.ts URL_REGEX (flags gim): http(s) links, or a domain name and what follows it
_URL = regex.compile(
    f"({_JS_LINE_START}|{_S}|\\()"
    f"(([hH][tT][tT][pP][sS]?://{_NS}+)|((?P<domain>[a-zA-Z][a-zA-Z0-9]*(\\.[a-zA-Z0-9]+)+){_NS}*))",
    regex.VERSION0,
)
# util.ts TAG_REGEX (flags gu); \d is ASCII, \p{P} Unicode punctuation
_TAG_STOP = "\\u00ad\\u2060\\u200a\\u200b\\u200c\\u200d\\u20e2"
_TAG = regex.compile(
    f"(\\A|{_S})[#＃]((?!\\ufe0f)[^{_JS_SPACE}{_TAG_STOP}]*"
    f"[^0-9{_JS_SPACE}\\p{{P}}{_TAG_STOP}]+[^{_JS_SPACE}{_TAG_STOP}]*)?",
    regex.VERSION0,
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+\Z")
# util.ts CASHTAG_REGEX (flags gu)
_CASHTAG = regex.compile(
    f"(\\A|{_S}|\\()\\$([A-Za-z][A-Za-z0-9]{{0,4}})(?={_S}|\\Z|[.,;:!?)\"'\\u2019])",
    regex.VERSION0,
)
_GRAPHEME = regex.compile(r"\X")
_TLDS = frozenset(TLDS)


def _valid_domain(name: str) -> bool:
    """detection.ts isValidDomain: the name ends in "." and a TLD of the tlds list."""
    _, dot, tld = name.rpartition(".")
    return bool(dot) and tld in _TLDS


def _js_trim(text: str) -> str:
    return regex.sub(f"^{_S}+|{_S}+$", "", text)


@dataclass(frozen=True)
class Span:
    kind: str  # link | tag | mention
    start: int  # code point offsets in the text
    end: int
    value: str  # the URI, the tag without "#" (a cashtag with its "$"), the handle


def spans(text: str) -> list[Span]:
    """Links, tags and mentions as detectFacets finds them, ordered by start (stable)."""
    found: list[Span] = []
    for m in _MENTION.finditer(text):
        handle = m.group(3)
        if not _valid_domain(handle) and not handle.endswith(".test"):
            continue  # probably not a handle
        found.append(Span("mention", m.start(2), m.end(3), handle))
    for m in _URL.finditer(text):
        uri = m.group(2)
        if not uri.startswith("http"):
            domain = m.group("domain")
            if not domain or not _valid_domain(domain):
                continue
            uri = "https://" + uri
        start, end = m.span(2)
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        found.append(Span("link", start, end, uri))
    for m in _TAG.finditer(text):
        tag = m.group(2)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", _js_trim(tag))
        units = len(tag.encode("utf-16-le", "surrogatepass")) // 2
        if not tag or (units > 64 and len(_GRAPHEME.findall(tag)) > 64):
            continue
        start = m.end(1)
        found.append(Span("tag", start, start + 1 + len(tag), tag))
    for m in _CASHTAG.finditer(text):
        start = m.end(1)
        found.append(Span("tag", start, m.end(2), "$" + m.group(2).upper()))
    return sorted(found, key=lambda s: s.start)


def byte_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of code point `index`."""
    return len(text[:index].encode("utf-8", "surrogatepass"))


def facets(text: str, dids: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """app.bsky.richtext.facet records for `text`. `dids` maps handles (lower case) to
    DIDs; without it a mention carries its handle as written (as detectFacets leaves it,
    to be resolved), with it an unknown handle gets no facet."""
    out: list[dict[str, Any]] = []
    for s in spans(text):
        if s.kind == "link":
            feature: dict[str, Any] = {"$type": "app.bsky.richtext.facet#link", "uri": s.value}
        elif s.kind == "tag":
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": s.value}
        elif dids is None:
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": s.value}
        elif s.value.lower() in dids:
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": dids[s.value.lower()]}
        else:
            continue
        out.append(
            {
                "index": {
                    "byteStart": byte_offset(text, s.start),
                    "byteEnd": byte_offset(text, s.end),
                },
                "features": [feature],
            }
        )
    return out
