"""Bluesky rich-text facets: links, hashtags and mentions with UTF-8 byte offsets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex

# a handle is a domain name (atproto handle syntax); preceded by start, space or "("
_MENTION = regex.compile(
    r"(?<=^|[\s(])@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
)
# a hashtag: not only digits, at most 64 characters, trailing punctuation not included
_TAG = regex.compile(r"(?<=^|\s)[#＃]((?:[^\s\p{P}]|[_-])*[^\d\s\p{P}](?:[^\s\p{P}]|[_-])*)")


@dataclass(frozen=True)
class Span:
    kind: str  # link | tag | mention
    start: int  # code point offsets in the text
    end: int
    value: str  # the URL, the tag without "#", or the handle without "@"


def spans(text: str) -> list[Span]:
    """Links, hashtags and mentions in `text`, in order, not overlapping."""
    from twitter_text.extract_urls import extract_urls_with_indices

    found = [
        Span("link", e["indices"][0], e["indices"][1], e["url"])
        for e in extract_urls_with_indices(text, extract_urls_without_protocol=False)
    ]
    taken = [(s.start, s.end) for s in found]

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _MENTION.finditer(text):
        if free(m.start(), m.end()):
            found.append(Span("mention", m.start(), m.end(), m.group(1).lower()))
    for m in _TAG.finditer(text):
        if free(m.start(), m.end()) and len(m.group(1)) <= 64:
            found.append(Span("tag", m.start(), m.end(), m.group(1)))
    return sorted(found, key=lambda s: s.start)


def byte_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of code point `index`."""
    return len(text[:index].encode("utf-8"))


def facets(text: str, dids: Mapping[str, str]) -> list[dict[str, Any]]:
    """app.bsky.richtext.facet records for `text`; `dids` maps handles to DIDs (unknown
    handles get no mention facet)."""
    out: list[dict[str, Any]] = []
    for s in spans(text):
        if s.kind == "link":
            feature: dict[str, Any] = {"$type": "app.bsky.richtext.facet#link", "uri": s.value}
        elif s.kind == "tag":
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": s.value}
        elif s.value in dids:
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": dids[s.value]}
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
