import functools
import re

import pytest
import regex
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from prcast.text import SplitError, count, split
from prcast.text.counting import acceptor
from tests.oracles import Oracle
from tests.oracles.corpus import corpus

SPLIT_SEED = 14

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
        assert any(ENTITY.match(w) and not accept(w + " (99/99)") for w in text.split()) or any(
            not accept(g + " (99/99)") for g in regex.findall(r"\X", text)
        )
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
    words = text.split()
    if len(parts) > 1 and not all(w.startswith("#") for w in words):
        tags = [w for w in bodies[-1].split()]
        if all(w.startswith("#") for w in tags):
            # only where no text word can take the hashtags along
            # (the last text word with every hashtag after it, which may span parts)
            at = max(i for i, w in enumerate(words) if not w.startswith("#"))
            together = " ".join(words[at:])
            assert not accept(together + f" ({len(parts)}/{len(parts)})"), parts


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


# --- every part accepted by the platform's own code (tests/oracles), in every script ---

SCRIPTS = {
    "german": "Die neue Werkstatt in Leipzig öffnet am Montag für Schulen und Vereine. " * 12,
    "chinese": "我们的新维修车间在莱比锡开业为学校提供免费维修服务。今天下午三点举行新闻发布会！"
    * 12,
    "japanese": "新しい修理工房がライプツィヒに開設されます。学校のノートパソコンを無料で修理します！"
    * 12,
    "arabic": "تفتح الورشة الجديدة في لايبزيغ يوم الاثنين للمدارس والجمعيات مجانا. " * 12,
    "hindi": "लाइपज़िग में नई मरम्मत कार्यशाला सोमवार को खुलेगी। स्कूलों के लिए निःशुल्क। " * 12,
    "emoji": "🏳️‍🌈👩‍👩‍👧‍👦🇩🇪#️⃣👍🏽♾️" * 60,
    "combining": "Z\u0351\u036b\u0343e\u0301" * 400,
    "mixed": "Neu: 学校のPC https://presse.de/über-uns @press.example.org #Leipzig 😀\r\n" * 12,
}


def _entities(oracle: Oracle, text: str, rule: str) -> list[str]:
    """The URLs, mentions and hashtags (X) or facets (Bluesky) the platform finds."""
    if rule == "x":
        [x] = oracle.x_entities([text])
        return [text[a:b] for kind in ("urls", "mentions", "hashtags") for a, b in x[kind]]
    [bsky] = oracle.bluesky([text])
    raw = text.encode("utf-8")
    return [
        raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode("utf-8") for f in bsky["facets"]
    ]


def _check_with_oracle(oracle: Oracle, texts: list[str], rule: str, limit: int) -> int:
    measure = functools.partial(count, rule)
    split_texts: list[tuple[str, list[str]]] = []
    for text in texts:
        try:
            split_texts.append(
                (text, split(text, limit, measure, fits=acceptor(rule, limit, measure), rule=rule))
            )
        except SplitError as exc:
            # only an entity longer than a post: check the platform sees it as one
            word = exc.detail.split('"')[1]
            assert any(word.removesuffix("...") in e for e in _entities(oracle, text, rule)), (
                exc.detail
            )
    parts = [p for _, ps in split_texts for p in ps]
    answers = oracle.x(parts) if rule == "x" else oracle.bluesky(parts)
    for part, a in zip(parts, answers, strict=True):
        if rule == "x":
            assert a["length"] <= limit and a["valid"], (part, a)
        else:
            assert a["valid"] and a["graphemes"] <= limit, (part, a)
    for text, ps in split_texts:
        bodies = strip_numbering(ps)
        assert "".join("".join(bodies).split()) == "".join(text.split())
        for entity in _entities(oracle, text, rule):
            assert any(entity in b for b in bodies), (entity, ps)
    return len(parts)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize(
    ("rule", "limit"), [("x", 280), ("bluesky", 300), ("x", 60), ("bluesky", 50)]
)
def test_every_part_is_accepted_by_the_platform_in_every_script(
    oracle: Oracle, script: str, rule: str, limit: int
) -> None:
    assert _check_with_oracle(oracle, [SCRIPTS[script]], rule, limit) > 1


@pytest.mark.parametrize(
    ("rule", "limit"), [("x", 280), ("bluesky", 300), ("x", 100), ("bluesky", 120)]
)
def test_corpus_texts_split_into_parts_the_platform_accepts(
    oracle: Oracle, rule: str, limit: int
) -> None:
    texts = [
        t
        for t in corpus(SPLIT_SEED, 200)
        if not acceptor(rule, limit, functools.partial(count, rule))(t)
    ]
    assert len(texts) > 50
    assert _check_with_oracle(oracle, texts, rule, limit) > 2 * len(texts)


def test_a_chinese_text_without_spaces_breaks_after_its_sentences() -> None:
    parts = split(SCRIPTS["chinese"], 100, functools.partial(count, "x"))
    assert all(p.split(" (")[0].endswith(("。", "！")) for p in parts[:-1])


def test_a_url_longer_than_a_bluesky_post_is_an_error() -> None:
    url = "https://example.com/" + "a" * 400
    with pytest.raises(SplitError, match=r"example\.com"):
        split(f"See {url} now", 300, functools.partial(count, "bluesky"))


def test_bluesky_parts_keep_within_3000_bytes() -> None:
    family = "👩‍👩‍👧‍👦"  # one grapheme, 25 bytes
    text = " ".join([family] * 250)
    assert count("bluesky", text) <= 500
    parts = split(
        text,
        300,
        functools.partial(count, "bluesky"),
        fits=acceptor("bluesky", 300, functools.partial(count, "bluesky")),
    )
    assert len(parts) == 3  # 6,500 bytes: graphemes alone would allow two parts
    assert all(len(p.encode()) <= 3000 for p in parts)


def test_a_text_over_the_limit_only_through_white_space_is_one_post() -> None:
    text = "A short release.\n\n\n\n\n\n" + " " * 300 + "Second line."
    assert split(text, 280, functools.partial(count, "x")) == ["A short release.\n\nSecond line."]


def test_hashtags_never_stand_alone_in_the_last_part() -> None:
    body = "The workshop opens on Monday for schools and clubs in Leipzig. " * 4
    text = body + "Welcome!" + " " * 5 + "\n\n#repair #Leipzig #schools"
    measure = functools.partial(count, "x")
    # packed greedily, the text would fill the first part and leave the hashtags alone
    assert measure(body + "Welcome! (1/2)") <= 280 < measure(text.replace(" " * 5, " "))
    parts = split(text, 280, measure)
    assert len(parts) == 2
    assert parts[-1].endswith("#repair #Leipzig #schools (2/2)")
    assert not parts[-1].startswith("#")


script_words = st.one_of(
    words,
    st.sampled_from(
        [
            "我们的新维修车间在莱比锡开业。",
            "修理工房が開設されます！",
            "الجديدة",
            "मरम्मत",
            "🏳️‍🌈👩‍👩‍👧‍👦",
            "#️⃣",
            "presse.de/über-uns",
            "@press.example.org",
            "$AAPL",
            "\r\n",
            "Straße.",
        ]
    ),
)


@st.composite
def script_texts(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(script_words, min_size=1, max_size=80))
    return "".join(t + draw(st.sampled_from([" ", "", "\n\n", " "])) for t in tokens)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script_texts(), st.sampled_from([("x", 280), ("x", 90), ("bluesky", 300), ("bluesky", 80)]))
def test_split_parts_pass_the_platforms_own_code(
    oracle: Oracle, text: str, rule_limit: tuple[str, int]
) -> None:
    rule, limit = rule_limit
    assume(text.strip())  # a text of white space alone is no post (a release has a body)
    _check_with_oracle(oracle, [text], rule, limit)
