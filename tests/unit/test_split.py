import functools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regex

from prcast.text import SplitError, count, split
from prcast.text.counting import acceptor

SUFFIX = re.compile(r" \((\d+)/(\d+)\)$")
ENTITY = re.compile(r"^(https?://\S+|@\w+(@[\w.]+)?|#\w+)$")


def strip_numbering(parts: list[str]) -> list[str]:
    if len(parts) == 1:
        return parts
    out = []
    for k, part in enumerate(parts, start=1):
        m = SUFFIX.search(part)
        assert m, f"part {k} has no number: {part!r}"
        assert (int(m.group(1)), int(m.group(2))) == (k, len(parts))
        out.append(part[: m.start()])
    return out


words = st.one_of(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Z", "C")),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(
        [
            "Leipzig.",
            "jobs!",
            "new",
            "the",
            "a",
            "repair",
            "2026:",
            "日本語",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "e\u0301t\u00e9",
        ]
    ),
    st.builds(
        lambda s: f"https://example.com/{s}",
        st.text(alphabet="abcdef123/", min_size=0, max_size=30),
    ),
    st.builds(
        lambda s: f"@{s}@social.example", st.text(alphabet="abcxyz_", min_size=1, max_size=10)
    ),
    st.builds(lambda s: f"#{s}", st.text(alphabet="abcXYZ_9", min_size=1, max_size=12)),
)
separators = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n"])


@st.composite
def texts(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(words, min_size=1, max_size=120))
    out = [tokens[0]]
    for t in tokens[1:]:
        out.append(draw(separators))
        out.append(t)
    return "".join(out)


def check_split(text: str, rule: str, limit: int) -> None:
    measure = functools.partial(count, rule)
    accept = acceptor(rule, limit, measure)
    try:
        parts = split(text, limit, measure, fits=accept)
    except SplitError:
        # only allowed when an entity (or one grapheme) cannot fit in a part with its number
        assert any(
            ENTITY.match(w) and not accept(w + " (99/99)") for w in text.split()
        ) or any(not accept(g + " (99/99)") for g in regex.findall(r"\X", text))
        return
    for part in parts:
        assert accept(part), (rule, limit, part)
        assert "(1/1)" not in part
    bodies = strip_numbering(parts)
    # text preserved in order: the same characters but white space
    assert "".join("".join(bodies).split()) == "".join(text.split())
    for word in text.split():
        if ENTITY.match(word):
            assert any(word in b.split() for b in bodies), f"{word} was broken"
    if len(parts) > 1 and not all(w.startswith("#") for w in text.split()):
        assert not all(w.startswith("#") for w in bodies[-1].split()), parts


SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(texts(), st.integers(min_value=30, max_value=300))
def test_plain_split_stays_within_limit_and_keeps_words(text: str, limit: int) -> None:
    check_split(text, "plain", limit)


@SETTINGS
@given(texts(), st.integers(min_value=30, max_value=300))
def test_bluesky_split_stays_within_limit_and_keeps_words(text: str, limit: int) -> None:
    check_split(text, "bluesky", limit)


@SETTINGS
@given(texts(), st.integers(min_value=40, max_value=500))
def test_mastodon_split_stays_within_limit_and_keeps_words(text: str, limit: int) -> None:
    check_split(text, "mastodon", limit)


@SETTINGS
@given(texts(), st.integers(min_value=40, max_value=280))
def test_x_split_stays_within_limit_and_keeps_words(text: str, limit: int) -> None:
    check_split(text, "x", limit)


def test_text_that_fits_is_one_unnumbered_post() -> None:
    assert split("  Short news.  ", 280, len) == ["Short news."]


def test_split_prefers_paragraph_then_sentence_boundaries() -> None:
    first = "First paragraph has a few words in it."
    second = "Second paragraph. It has two sentences and is long enough to need its own post."
    parts = split(f"{first}\n\n{second}", 90, len)
    assert parts[0] == f"{first} (1/2)"
    assert parts[1] == f"{second} (2/2)"


def test_split_prefers_sentence_over_word_boundary() -> None:
    text = "One sentence here is fine. " + "word " * 30
    parts = split(text, 60, len)
    assert parts[0] == "One sentence here is fine. (1/4)"


def test_numbering_counts_inside_the_limit() -> None:
    parts = split("abcd " * 40, 23, len)
    assert all(len(p) <= 23 for p in parts)
    assert parts[-1].endswith(f"({len(parts)}/{len(parts)})")


def test_token_longer_than_limit_is_a_clear_error() -> None:
    with pytest.raises(SplitError, match="longer than the limit of 30"):
        split("see https://example.com/" + "x" * 40 + " now", 30, len)


def test_urls_count_by_platform_rule_when_splitting() -> None:
    url = "https://example.com/" + "x" * 300
    parts = split(f"News {url} more words here", 280, functools.partial(count, "x"))
    assert parts == [f"News {url} more words here"]
