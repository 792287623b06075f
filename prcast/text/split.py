"""Split an over-long post into a numbered thread.

Parts break at paragraph, then sentence, then word boundaries; the part
number (` (2/5)`) is counted inside the limit; a URL, mention or hashtag is a
single whitespace-free token and is never broken.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from prcast.errors import InputError

_TOKEN = re.compile(r"(\s*)(\S+)")
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
PARAGRAPH, LINE, SENTENCE, WORD = 4, 3, 2, 1
#: a part ends at a stronger boundary when that keeps at least this share of what would fit
_MIN_FILL = {PARAGRAPH: 0.33, LINE: 0.4, SENTENCE: 0.5, WORD: 0.0}


class SplitError(InputError):
    """A single token is longer than the limit: it cannot be split."""


@dataclass(frozen=True)
class _Token:
    word: str
    strength: int  # of the boundary before this token


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for m in _TOKEN.finditer(text):
        sep, word = m.group(1), m.group(2)
        if not tokens or sep.count("\n") >= 2:
            strength = PARAGRAPH
        elif "\n" in sep:
            strength = LINE
        elif _SENTENCE_END.search(tokens[-1].word):
            strength = SENTENCE
        else:
            strength = WORD
        tokens.append(_Token(word, strength))
    return tokens


def _join(tokens: list[_Token], start: int, end: int) -> str:
    out = [tokens[start].word]
    for t in tokens[start + 1 : end]:
        out.append("\n\n" if t.strength == PARAGRAPH else "\n" if t.strength == LINE else " ")
        out.append(t.word)
    return "".join(out)


def _suffix(index: int, total: int) -> str:
    return f" ({index}/{total})"


def _longest_fit(tokens: list[_Token], i: int, fits: Callable[[int], bool]) -> int:
    """The largest j > i with fits(j) (tokens[i:j] fit), or i if not even one token fits.
    Lengths only grow as tokens are added, so galloping then bisecting finds it in
    O(log n) measurements instead of one per token."""
    n = len(tokens)
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


def _pieces(tokens: list[_Token]) -> Callable[[int, int], str]:
    """piece(i, j) == _join(tokens, i, j), as a slice of the whole text joined once: each
    measurement of a candidate part costs a slice, not a join over its tokens."""
    joined = _join(tokens, 0, len(tokens)) if tokens else ""
    starts: list[int] = []
    pos = 0
    for k, t in enumerate(tokens):
        if k:
            pos += 2 if t.strength == PARAGRAPH else 1
        starts.append(pos)
        pos += len(t.word)

    def piece(i: int, j: int) -> str:
        return joined[starts[i] : starts[j - 1] + len(tokens[j - 1].word)]

    return piece


def _pack(tokens: list[_Token], limit: int, measure: Callable[[str], int], total: int) -> list[str]:
    parts: list[str] = []
    piece = _pieces(tokens)
    i = 0
    while i < len(tokens):
        suffix = _suffix(len(parts) + 1, total)

        def fits(end: int, start: int = i, suffix: str = suffix) -> bool:
            return measure(piece(start, end) + suffix) <= limit

        j = _longest_fit(tokens, i, fits)
        if j == i:
            word = tokens[i].word
            shown = word if len(word) <= 60 else word[:57] + "..."
            raise SplitError(
                f'"{shown}" is longer than the limit of {limit} on its own and cannot be split',
                hint="shorten it (a long URL can go behind a shortener or into the outbox page)",
            )
        if j == len(tokens):
            parts.append(piece(i, j))
            break
        # break before token b, i < b <= j; prefer strong boundaries if the part stays full enough
        longest = measure(piece(i, j))
        best = j
        best_strength = tokens[j].strength
        for b in range(j - 1, i, -1):
            strength = tokens[b].strength
            if strength > best_strength and measure(piece(i, b)) >= longest * _MIN_FILL[strength]:
                best, best_strength = b, strength
        parts.append(piece(i, best))
        i = best
    return parts


def split(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """`text` as one post if it fits, else as numbered parts each within `limit`."""
    text = text.strip()
    if measure(text) <= limit:
        return [text]
    tokens = _tokens(text)
    total = 2
    for _ in range(8):
        parts = _pack(tokens, limit, measure, total)
        if len(parts) <= total:
            break
        total = len(parts)
    # fewer parts than guessed: relabelling with a smaller total never lengthens a suffix
    return [p + _suffix(k, len(parts)) for k, p in enumerate(parts, start=1)]
