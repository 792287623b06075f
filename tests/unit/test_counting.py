from pathlib import Path

import pytest
import yaml

from prcast.text.counting import bluesky_length, count, mastodon_length, x_length

DATA = Path(__file__).resolve().parent.parent / "data" / "twitter-text" / "validate.yml"
CASES = yaml.safe_load(DATA.read_text(encoding="utf-8"))["tests"][
    "WeightedTweetsWithDiscountedEmojiCounterTest"
]


def test_the_conformance_section_is_complete() -> None:
    assert len(CASES) == 22


@pytest.mark.parametrize("case", CASES, ids=[c["description"] for c in CASES])
def test_x_weighted_length_matches_twitter_text_v3(case: dict[str, object]) -> None:
    expected = case["expected"]
    assert isinstance(expected, dict)
    text = case["text"]
    assert isinstance(text, str)
    assert x_length(text) == expected["weightedLength"]
    assert (x_length(text) <= 280) == expected["valid"]


def test_x_counts_any_url_as_23() -> None:
    assert x_length("https://example.com/" + "a" * 200) == 23


def test_x_counts_cjk_as_two() -> None:
    assert x_length("日本語") == 6


def test_mastodon_counts_every_url_as_23() -> None:
    long_url = "https://example.com/" + "x" * 100
    assert mastodon_length(f"see {long_url}") == 4 + 23
    assert mastodon_length("see https://t.co") == 4 + 23


def test_mastodon_counts_remote_mentions_as_local_part() -> None:
    assert mastodon_length("@gargron@mastodon.social hi") == len("@gargron hi")
    assert mastodon_length("@gargron hi") == len("@gargron hi")


def test_mastodon_counts_graphemes_and_content_warning() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    assert mastodon_length(family) == 1
    assert mastodon_length("body", spoiler_text="CW: news") == 4 + 8


def test_mastodon_does_not_discount_urls_without_protocol() -> None:
    assert mastodon_length("example.com/" + "a" * 40) == len("example.com/") + 40


def test_bluesky_counts_extended_grapheme_clusters_not_code_points() -> None:
    flag = "\U0001f1e9\U0001f1ea"  # DE: two code points
    combining = "e\u0301"  # é as e + combining acute
    assert bluesky_length(flag + combining) == 2
    assert len(flag + combining) == 4


def test_plain_counts_code_points() -> None:
    assert count("plain", "e\u0301") == 2


def test_unknown_rule_is_an_error() -> None:
    with pytest.raises(ValueError):
        count("myspace", "hi")
