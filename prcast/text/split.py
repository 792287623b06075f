"""Split an over-long post into a numbered thread, in every script.

Parts break at paragraph, line, sentence (also after the ideographic full stop and
the fullwidth exclamation and question marks), word, then grapheme
boundaries: between the characters of scripts written without spaces (Chinese,
Japanese, Thai...) and between emoji, and inside any other word only when it does not
fit a part on its own. A break never falls inside a grapheme cluster, a URL, a mention,
a hashtag or a cashtag (as any of the platforms finds them); one of those longer than a
part is an error. The part number (` (2/5)`) counts inside the limit; a thread never
ends in a part of hashtags alone, and a text that fits once its white space is tidied
is one post, never "(1/1)".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import regex

from prcast.errors import InputError

_WORD = regex.compile(r"(\s*)(\S+)")
_GRAPHEME = regex.compile(r"\X")
_SENTENCE_END = regex.compile(r"[.!?…:;。！？｡][\"'”’»)\]」』）]*$")
_CJK_SENTENCE_END = regex.compile(r"[。！？｡][」』）”’]*$")
_CJK_PAUSE = regex.compile(r"[、，；：,;][」』）”’]*$")
# graphemes between which a break needs no space: scripts written without spaces, emoji
_NO_SPACE = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
    r"\p{Extended_Pictographic}\p{Regional_Indicator}\u3000-\u303f\uff00-\uffef\u30fc]"
)
# any tag, mention or cashtag-like run, whatever a platform makes of it
_TAGLIKE = regex.compile(r"[#＃$＄@＠][\w\p{M}\u200c\u200d.\-_]*[\w\p{M}]")
_HASHTAG_ONLY = regex.compile(r"[#＃]\S+")
PARAGRAPH, LINE, SENTENCE, WORD, GRAPHEME = 4, 3, 2, 1, 0
#: a part ends at a stronger boundary when that keeps at least this share of what would fit
_MIN_FILL = {PARAGRAPH: 0.33, LINE: 0.4, SENTENCE: 0.5, WORD: 0.25, GRAPHEME: 0.0}
_WIDEST_SUFFIX = " (99/99)"


class SplitError(InputError):
    """A URL, mention or hashtag (or a grapheme) is longer than the limit on its own."""


@dataclass(frozen=True)
class _Token:
    start: int  # code point offsets in the normalized text
    end: int
    strength: int  # of the boundary before this token


def tidy(text: str) -> str:
    """White space as a thread shows it: a paragraph break "\\n\\n", a line break "\\n",
    any other run one space."""

    def one(m: regex.Match[str]) -> str:
        n = m.group(0).count("\n") + (m.group(0).count("\r") if "\n" not in m.group(0) else 0)
        return "\n\n" if n >= 2 else "\n" if n == 1 else " "

    return regex.sub(r"\s+", one, text.strip())


def _protected(text: str, rule: str | None) -> list[tuple[int, int]]:
    """Spans no break may fall inside: URLs and mentions as the platform of `rule` finds
    them (every platform's when None), and anything like a hashtag, mention or cashtag."""
    from prcast.text.counting import mastodon_entities, utf16_units, x_urls
    from prcast.text.facets import spans

    found = [(m.start(), m.end()) for m in _TAGLIKE.finditer(text)]
    if rule in ("bluesky", None):
        found += [(s.start, s.end) for s in spans(text)]
    if rule in ("mastodon", None):
        found += [(a, b) for a, b, _ in mastodon_entities(text)]
    if rule not in ("x", None):
        return found
    units = utf16_units(text)
    if len(units) != len(text):
        # code unit offsets to code points
        index = [0] * (len(units) + 1)
        k = 0
        for i, c in enumerate(text):
            index[k] = i
            k += 2 if c > "\uffff" else 1
        index[k] = len(text)
        found += [(index[a], index[b]) for a, b in x_urls(units)]
    else:
        found += x_urls(units)
    return found


def _tokens(text: str, rule: str | None) -> list[_Token]:
    """Whitespace-separated words, and within words the soft breaks of spaceless scripts."""
    protected = _protected(text, rule)

    def inside(pos: int) -> bool:
        return any(a < pos < b for a, b in protected)

    tokens: list[_Token] = []
    for m in _WORD.finditer(text):
        sep = m.group(1)
        if not tokens or sep.count("\n") >= 2:
            strength = PARAGRAPH
        elif "\n" in sep:
            strength = LINE
        elif _SENTENCE_END.search(text, 0, m.start()):
            strength = SENTENCE
        else:
            strength = WORD
        start = m.start(2)
        clusters = [g.span() for g in _GRAPHEME.finditer(text, m.start(2), m.end(2))]
        for (a, b), (c, _) in itertools.pairwise(clusters):
            if inside(c) or not (_NO_SPACE.match(text, a) or _NO_SPACE.match(text, c)):
                continue
            tokens.append(_Token(start, c, strength))
            start = c
            piece = text[a:b]
            strength = (
                SENTENCE if _CJK_SENTENCE_END.search(piece)
                else WORD if _CJK_PAUSE.search(piece) or _NO_SPACE.match(text, a) is None
                else GRAPHEME
            )  # fmt: skip
        tokens.append(_Token(start, m.end(2), strength))
    return tokens


def _break_long(
    text: str, tokens: list[_Token], fits: Callable[[str], bool], limit: int, rule: str | None
) -> list[_Token]:
    """Tokens too long for a part on their own, broken at every grapheme boundary outside
    a protected span; a protected span (or a grapheme) too long is a SplitError."""
    protected: list[tuple[int, int]] | None = None
    out: list[_Token] = []
    for t in tokens:
        if fits(text[t.start : t.end] + _WIDEST_SUFFIX):
            out.append(t)
            continue
        if protected is None:
            protected = _protected(text, rule)
        pieces: list[tuple[int, int]] = []
        for g in _GRAPHEME.finditer(text, t.start, t.end):
            a, b = g.span()
            if pieces and any(p < a < q for p, q in protected):
                pieces[-1] = (pieces[-1][0], b)
            else:
                pieces.append((a, b))
        for k, (a, b) in enumerate(pieces):
            word = text[a:b]
            if not fits(word + _WIDEST_SUFFIX):
                shown = word if len(word) <= 60 else word[:57] + "..."
                raise SplitError(
                    f'"{shown}" is longer than the limit of {limit} on its own and cannot be split',
                    hint="shorten it (a long URL can go behind a shortener or into the outbox page)",
                )
            out.append(_Token(a, b, t.strength if k == 0 else GRAPHEME))
    return out


def _suffix(index: int, total: int) -> str:
    return f" ({index}/{total})"


def _longest_fit(n: int, i: int, fits: Callable[[int], bool]) -> int:
    """The largest j > i with fits(j) (tokens[i:j] fit), or i if not even one token fits.
    Lengths only grow as tokens are added, so galloping then bisecting finds it in
    O(log n) measurements instead of one per token."""
    if not fits(i + 1):
        return i
    good, step = i + 1, 1
    while good + step <= n and fits(good + step):
        good += step
        step *= 2
    bad = min(good + step, n + 1)
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def _pack(
    text: str,
    tokens: list[_Token],
    measure: Callable[[str], int],
    accept: Callable[[str], bool],
    total: int,
    cap: int,
) -> list[str]:
    """Parts of at most `total`'s numbering; a part starting before token `cap` ends there."""

    def piece(i: int, j: int) -> str:
        return text[tokens[i].start : tokens[j - 1].end]

    parts: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        suffix = _suffix(len(parts) + 1, total)

        def fits(end: int, start: int = i, suffix: str = suffix) -> bool:
            return accept(piece(start, end) + suffix)

        j = _longest_fit(n, i, fits)
        if j == i:
            word = piece(i, i + 1)
            raise SplitError(
                f'"{word[:57]}" is longer than the limit on its own and cannot be split'
            )
        if i < cap < j:
            j = best = cap
        elif j == n:
            parts.append(piece(i, j))
            break
        else:
            # prefer strong boundaries if the part stays full enough
            longest = measure(piece(i, j))
            best = j
            best_strength = tokens[j].strength
            for b in range(j - 1, i, -1):
                strength = tokens[b].strength
                if (
                    strength > best_strength
                    and measure(piece(i, b)) >= longest * _MIN_FILL[strength]
                ):
                    best, best_strength = b, strength
        parts.append(piece(i, best))
        i = best
    return parts


def _numbered(
    text: str,
    tokens: list[_Token],
    measure: Callable[[str], int],
    accept: Callable[[str], bool],
    cap: int,
) -> list[str]:
    total = 2
    parts: list[str] = []
    for _ in range(8):
        parts = _pack(text, tokens, measure, accept, total, cap)
        if len(parts) <= total:
            break
        total = len(parts)
    return parts


def split(
    text: str,
    limit: int,
    measure: Callable[[str], int],
    *,
    fits: Callable[[str], bool] | None = None,
    rule: str | None = None,
) -> list[str]:
    """`text` as one post if it fits, else as numbered parts each within `limit`.

    `measure` is the platform's length; `fits`, when given, is the platform's whole
    acceptance rule (Bluesky's byte limit besides the length); `rule` names the platform
    whose URLs and mentions must stay whole (every platform's when None)."""
    accept = fits or (lambda t: measure(t) <= limit)
    text = text.strip()
    if accept(text):
        return [text]
    text = tidy(text)
    if accept(text):
        return [text]
    tokens = _break_long(text, _tokens(text, rule), accept, limit, rule)
    # hashtags at the end stay with text: the part holding them must start before them
    tags = len(tokens)
    while tags > 0 and _HASHTAG_ONLY.fullmatch(text[tokens[tags - 1].start : tokens[tags - 1].end]):
        tags -= 1
    parts = _numbered(text, tokens, measure, accept, len(tokens))
    if 0 < tags < len(tokens) and _tags_only(parts[-1]):
        # rebalanced: the last part starts with the text before the hashtags, or earlier
        for cap in range(tags - 1, 0, -1):
            rebalanced = _numbered(text, tokens, measure, accept, cap)
            if not _tags_only(rebalanced[-1]):
                parts = rebalanced
                break
    return [p + _suffix(k, len(parts)) for k, p in enumerate(parts, start=1)]


def _tags_only(part: str) -> bool:
    return all(_HASHTAG_ONLY.fullmatch(w) for w in part.split())
