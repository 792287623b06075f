"""One counting rule per platform, following the platform's own published code.

- x: twitter-text 3.1 `parseTweet` (config v3): NFC, weight 1 in the ranges of the
  config and 2 elsewhere, each URL twitter-text extracts 23, each emoji sequence
  twemoji-parser recognizes 2; U+FFFE, U+FEFF, U+FFFF make a post invalid.
- mastodon: the server's StatusLengthValidator: the content warning as written joined to
  the text, in which every URL (twitter-text's Ruby pattern as Mastodon's
  config/initializers/twitter_regex.rb changes it) counts 23 and `@user@domain` counts
  as `@user` (app/lib/extractor.rb); grapheme clusters of the whole.
- bluesky: grapheme clusters (at most 300) and UTF-8 bytes (at most 3,000), the limits
  of the app.bsky.feed.post lexicon.
- plain: code points.
"""

from __future__ import annotations

import re
import stringprep
import unicodedata
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex

from prcast.text import platform_data as data

MASTODON_URL_LENGTH = 23
X_URL_LENGTH = data.X_TRANSFORMED_URL_LENGTH
BLUESKY_MAX_GRAPHEMES = 300
BLUESKY_MAX_BYTES = 3000  # app.bsky.feed.post: text maxLength (UTF-8 bytes)
_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> int:
    """The number of extended grapheme clusters in `text`."""
    return len(_GRAPHEME.findall(text))


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def plain_length(text: str) -> int:
    return len(text)


def bluesky_length(text: str) -> int:
    return graphemes(text)


# --- X: twitter-text 3.1 (js/src/parseTweet.js, extractUrlsWithIndices.js, lib/idna.js) --

_X_EMOJI = re.compile(data.X_EMOJI)
_X_URL = re.compile(data.X_EXTRACT_URL, re.IGNORECASE)
_X_TCO = re.compile(data.X_VALID_TCO_URL, re.IGNORECASE)
_X_BAD_PRECEDING = re.compile(data.X_INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS)
_X_ASCII_DOMAIN = re.compile(data.X_VALID_ASCII_DOMAIN, re.IGNORECASE)
X_INVALID = frozenset("\ufffe\ufeff\uffff")  # twitter-text invalidCharsGroup
_X_MAX_URL_LENGTH = 4096
_X_MAX_TCO_SLUG = 40
_PUNYCODE_SEPARATORS = re.compile("[\u002e\u3002\uff0e\uff61]")


def utf16_units(text: str) -> str:
    """`text` as a string of UTF-16 code units (astral characters as surrogate pairs): what
    a JavaScript pattern without the `u` flag sees, with JavaScript's indices."""
    if not text or max(text) < "\U00010000":
        return text
    units = array("H")
    units.frombytes(text.encode("utf-16-le"))
    return "".join(map(chr, units))


def _from_units(units: str) -> str:
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _x_domain_ok(domain: str) -> bool:
    """twitter-text's idna.toAscii succeeds: no bad xn-- domain, each label 1-63 long once
    punycode-encoded (punycode.js 1.4 toASCII)."""
    if domain[:4] == "xn--" and not _X_ASCII_DOMAIN.search(domain):
        return False
    for label in domain.split("."):
        encoded = []
        for part in _PUNYCODE_SEPARATORS.split(_from_units(label)):
            if re.search(r"[^\x20-\x7e]", part):
                encoded.append("xn--" + part.encode("punycode").decode("ascii"))
            else:
                encoded.append(part)
        if not 1 <= len(".".join(encoded)) <= 63:
            return False
    return True


# characters that end a domain in both twitter-text's JavaScript and Ruby patterns
_DOMAIN_STOPS = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u180e\u2028\u2029\u202f\u205f\u3000"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "/!'#%&()*+,:;<=>?@[]^{|}~$\ufffe\ufeff\uffff\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_TLDS = frozenset(t.lower() for t in (*data.GTLDS, *data.CCTLDS))
_TLD_LONGEST = max(map(len, _TLDS))


def _url_matches(pattern: re.Pattern[str] | regex.Pattern[str], text: str) -> Iterator[Any]:
    """pattern.finditer(text) for a twitter-text URL pattern, trying only the positions where
    a URL can start: at most a protocol and a preceding character before a run of domain
    characters that ends in "." and a top-level domain. The patterns fail slowly elsewhere
    (every position of a long run of letters or emoji scans the whole run)."""
    dots = []
    for k, c in enumerate(text):
        if c == ".":
            head = text[k + 1 : k + 1 + _TLD_LONGEST].lower()
            if head.startswith("xn--") or any(head[:n] in _TLDS for n in range(1, len(head) + 1)):
                dots.append(k)
    if not dots:
        return
    run_start = [0] * len(text)
    start = 0
    for i, c in enumerate(text):
        if c in _DOMAIN_STOPS:
            start = i + 1
        run_start[i] = start
    pos = 0
    for k in dots:
        if k < pos:
            continue
        s = max(pos, run_start[k] - 12)  # "gemini://" and the preceding character
        while s < k:
            m = pattern.match(text, s)
            if m:
                yield m
                pos = m.end()
                break
            s += 1
        else:
            pos = k


def x_urls(units: str) -> list[tuple[int, int]]:
    """twitter-text's extractUrlsWithIndices over a string of UTF-16 code units: (start, end)
    in code units, URLs without a protocol included."""
    if "." not in units:
        return []
    found: list[tuple[int, int]] = []
    for m in _url_matches(_X_URL, units):
        before, url, protocol, domain, path = (m.group(k) or "" for k in (2, 3, 4, 5, 7))
        end = m.end()
        start = end - len(url)
        if not _x_domain_ok(domain) or len(protocol or "https://") + len(url) > _X_MAX_URL_LENGTH:
            continue
        if not protocol:
            if _X_BAD_PRECEDING.search(before):
                continue
            last: list[int] | None = None
            ascii_end = 0
            for a in _X_ASCII_DOMAIN.finditer(domain):
                ascii_start = domain.find(a.group(0), ascii_end)
                ascii_end = ascii_start + len(a.group(0))
                last = [start + ascii_start, start + ascii_end]
                found.append((last[0], last[1]))
            if last is None:
                continue
            if path:
                found[-1] = (last[0], end)
        else:
            if t := _X_TCO.match(url):
                if t.group(1) and len(t.group(1)) > _X_MAX_TCO_SLUG:
                    continue
                end = start + len(t.group(0))
            found.append((start, end))
    return found


def _x_weight(unit: str) -> int:
    code = ord(unit)
    for first, last, weight in data.X_RANGES:
        if first <= code <= last:
            return weight
    return data.X_DEFAULT_WEIGHT


@dataclass(frozen=True)
class XParse:
    length: int  # weighted length
    valid: bool


@lru_cache(maxsize=4096)
def x_parse(text: str) -> XParse:
    """twitter-text's parseTweet: the weighted length and whether X accepts the text."""
    units = utf16_units(unicodedata.normalize("NFC", text))
    urls = {start: end for start, end in x_urls(units)}
    emoji = {m.start(): m.end() for m in _X_EMOJI.finditer(units)}
    n = len(units)
    weighted = 0
    valid = True
    i = 0
    while i < n:
        if i in urls:
            weighted += X_URL_LENGTH * data.X_SCALE
            i = urls[i] - 1
        elif i in emoji:
            weighted += data.X_DEFAULT_WEIGHT
            i = emoji[i] - 1
        else:
            if (
                i < n - 1
                and "\ud800" <= units[i] <= "\udbff"
                and "\udc00" <= units[i + 1] <= "\udfff"
            ):
                i += 1
            # as twitter-text, an astral character is weighed by its low surrogate
            weighted += _x_weight(units[i])
        # as twitter-text, only the last code unit of an entity is checked
        valid = valid and units[i] not in X_INVALID
        i += 1
    length = weighted // data.X_SCALE
    return XParse(length, valid and 0 < length <= data.X_MAX_WEIGHTED_LENGTH)


def x_length(text: str) -> int:
    """twitter-text v3 weighted length (280 is the limit)."""
    return x_parse(text).length


# --- Mastodon: StatusLengthValidator over twitter-text's Ruby patterns with Mastodon's
# changes. Sources (mastodon/mastodon, main): app/validators/status_length_validator.rb,
# app/lib/extractor.rb, app/models/account.rb (MENTION_RE),
# config/initializers/twitter_regex.rb; twitter-text rb/lib/twitter-text/regex.rb and
# extractor.rb (3.1). Ruby's ^ and $ are line anchors: MULTILINE.

_LATIN_ACCENTS = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
_DIRECTIONAL = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVALID = "\ufffe\ufeff\uffff"
_UNICODE_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# regex.rb PUNCTUATION_CHARS, SPACE_CHARS, CTRL_CHARS (",-." there is a range)
_PUNCTUATION = r"!\"#$%&'()*+,\-./:;<=>?@\[\]^_`{|}~"
_DOMAIN_CHAR = (
    f"[^{_DIRECTIONAL}{_PUNCTUATION} \\t\\n\\x0b\\f\\r\\x00-\\x1f\\x7f{_INVALID}{_UNICODE_SPACES}]"
)
_SUBDOMAIN = f"(?:(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_DOMAIN_NAME = f"(?:(?:{_DOMAIN_CHAR}(?:[-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_TLD_END = r"(?=[^0-9a-z@+-]|$)"
_GTLD = "(?:(?:" + "|".join(map(regex.escape, data.GTLDS)) + ")" + _TLD_END + ")"
_CCTLD = "(?:(?:" + "|".join(map(regex.escape, data.CCTLDS)) + ")" + _TLD_END + ")"
_DOMAIN = f"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{_GTLD}|{_CCTLD}|(?:xn--[0-9a-z]+)))"
_PRECEDING = f"(?:[^A-Z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"
# the path as twitter_regex.rb redefines it; the ending characters embed the balanced
# parentheses of twitter-text's own path characters (redefined only after them)
_OLD_PATH_CHAR = f"[a-z\\p{{Cyrillic}}0-9!*';:=+,.$/%#\\[\\]\\p{{Pd}}_~&|@{_LATIN_ACCENTS}]"
_PATH_CHAR = r"[^\p{White_Space}<>()?]"


def _parens(char: str) -> str:
    return f"\\((?:{char}+|(?:{char}*\\({char}+\\){char}*))\\)"


_PATH_END = (
    f"(?:[^\\p{{White_Space}}()?!*\"'「」<>;:=,.$%\\[\\]~&|@]|(?:{_parens(_OLD_PATH_CHAR)}))"
)
_PATH = (
    f"(?:(?:{_PATH_CHAR}*(?:{_parens(_PATH_CHAR)}{_PATH_CHAR}*)*{_PATH_END})|(?:{_PATH_CHAR}+/))"
)
_UCHARS = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_QUERY_CHAR = f"[a-z0-9!?*'();:&=+$/%#\\[\\]\\-_.,~|@^{_UCHARS}]"
_QUERY_END = f"[a-z0-9_&=#/\\-{_UCHARS}]"
_MASTODON_URL = regex.compile(
    f"(({_PRECEDING})(((?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?({_DOMAIN})"
    f"(?::([0-9]+))?(/{_PATH}*)?(\\?{_QUERY_CHAR}*{_QUERY_END})?))",
    regex.IGNORECASE | regex.MULTILINE | regex.VERSION0,
)
_RUBY_TCO = regex.compile(r"^https?://t\.co/([a-z0-9]+)", regex.IGNORECASE | regex.MULTILINE)
# app/models/account.rb: USERNAME_RE (case-insensitive) and MENTION_RE
_MASTODON_MENTION = regex.compile(
    r"(?<![=/\w])@(((?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*))(?:@\w+(?:[.-]+\w+)*)?)"
)
_END_MENTION = regex.compile(f"(?:[@＠]|[{_LATIN_ACCENTS}]+|://)", regex.IGNORECASE)
_BLANK = regex.compile(r"[[:space:]]*", regex.VERSION0)


def _ruby_valid_domain(url_length: int, domain: str) -> bool:
    """twitter-text extractor.rb is_valid_domain: IDN::Idna.toASCII (libidn, IDNA2003
    without unassigned code points) succeeds and the URL stays within 4,096 characters."""
    if any(stringprep.in_table_a1(c) for c in domain):
        return False  # unassigned in Unicode 3.2: libidn refuses (emoji, newer scripts)
    try:
        encoded = domain.encode("idna")
    except UnicodeError:
        return False
    return url_length + max(0, len(encoded) - len(domain)) <= _X_MAX_URL_LENGTH


def mastodon_entities(text: str) -> list[tuple[int, int, str]]:
    """The URLs and mentions Mastodon shortens, as (start, end, replacement) in code
    points, overlapping ones removed as Extractor.remove_overlapping_entities does."""
    entities: list[tuple[int, int, str]] = []
    if ":" in text:  # extract_urls_with_indices(..., extract_url_without_protocol: false)
        for m in _url_matches(_MASTODON_URL, text):
            if not m.group(4):
                continue
            start, end = m.span(3)
            if t := _RUBY_TCO.match(m.group(3)):
                if len(t.group(1)) > _X_MAX_TCO_SLUG:
                    continue
                end = start + len(t.group(0))
            if not _ruby_valid_domain(end - start, m.group(5)):
                continue
            entities.append((start, end, "url"))
    if "@" in text or "＠" in text:
        for m in _MASTODON_MENTION.finditer(text):
            if _END_MENTION.match(text, m.end()):
                continue
            entities.append((m.start(1) - 1, m.end(1), "@" + m.group(2)))
    entities.sort(key=lambda e: e[0])
    kept: list[tuple[int, int, str]] = []
    for e in entities:
        if not kept or kept[-1][1] <= e[0]:
            kept.append(e)
    return kept


def mastodon_countable(text: str, url_length: int = MASTODON_URL_LENGTH) -> str:
    """StatusLengthValidator#countable_text: URLs as placeholders, mentions without domain."""
    if _BLANK.fullmatch(text):
        return ""
    out: list[str] = []
    pos = 0
    for start, end, replacement in mastodon_entities(text):
        out.append(text[pos:start])
        out.append("x" * url_length if replacement == "url" else replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mastodon_length(
    text: str, spoiler_text: str = "", url_length: int = MASTODON_URL_LENGTH
) -> int:
    """Length as Mastodon's StatusLengthValidator computes it: the content warning as
    written, joined to the countable text, in grapheme clusters."""
    return graphemes(spoiler_text + mastodon_countable(text, url_length))


RULES: dict[str, Callable[[str], int]] = {
    "plain": plain_length,
    "mastodon": mastodon_length,
    "bluesky": bluesky_length,
    "x": x_length,
}


def measurer(
    rule: str, *, url_length: int = MASTODON_URL_LENGTH, spoiler_text: str = ""
) -> Callable[[str], int]:
    """The length function of a channel: its rule, with the server's URL length and content warning."""
    if rule == "mastodon" and (url_length != MASTODON_URL_LENGTH or spoiler_text):
        return lambda text: mastodon_length(text, spoiler_text, url_length)
    return lambda text: count(rule, text)


def acceptor(rule: str, limit: int, measure: Callable[[str], int]) -> Callable[[str], bool]:
    """Whether the platform accepts a text: `measure` within `limit`, and for Bluesky the
    lexicon's 3,000 UTF-8 bytes."""
    if rule == "bluesky":
        return lambda text: measure(text) <= limit and utf8_bytes(text) <= BLUESKY_MAX_BYTES
    return lambda text: measure(text) <= limit


def fits(rule: str, text: str, limit: int) -> bool:
    """Whether the platform accepts `text` under `limit` (see acceptor)."""
    return acceptor(rule, limit, lambda t: count(rule, t))(text)


@lru_cache(maxsize=4096)
def count(rule: str, text: str) -> int:
    """The length of `text` under the named counting rule."""
    try:
        return RULES[rule](text)
    except KeyError:
        raise ValueError(f"unknown counting rule {rule!r}") from None
