"""prcast's counting and facets against the platforms' own code.

X and Bluesky: differential tests over a seeded generated corpus, asking the official
npm packages (twitter-text 3.1 parseTweet; @atproto/api RichText, detectFacets and the
app.bsky.feed.post lexicon) through tests/oracles. Mastodon publishes Ruby, not a
package we can run here: golden cases, each following the line of the server's source
it quotes (mastodon/mastodon main: app/validators/status_length_validator.rb,
app/lib/extractor.rb, app/models/account.rb, config/initializers/twitter_regex.rb)."""

from __future__ import annotations

import pytest

from prcast.text.counting import fits, graphemes, mastodon_length, utf8_bytes, x_parse
from prcast.text.facets import facets
from tests.oracles import Oracle
from tests.oracles.corpus import corpus

SEED = 20261123
SIZE = 5000


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(SEED, SIZE)


def test_the_corpus_mixes_every_kind_of_text(texts: list[str]) -> None:
    joined = "".join(texts)
    assert len(texts) >= 5000
    for needle in ["ü", "学", "ライプツィヒ", "الجديدة", "मरम्मत", "\u0301", "\u200d", "🏻", "🇩🇪",
                   "#️⃣", "\ufe0f", "\r\n", "https://", "gemini://", "@", "#", "$AAPL"]:  # fmt: skip
        assert needle in joined, needle
    assert sum(1 for t in texts if graphemes(t) > 300) > 500
    assert sum(1 for t in texts if graphemes(t) <= 300 < 3000 < utf8_bytes(t)) > 0


def test_x_length_and_validity_agree_with_twitter_text(oracle: Oracle, texts: list[str]) -> None:
    answers = oracle.x(texts)
    ours = [x_parse(t) for t in texts]
    disagreements = [
        (t, a, p)
        for t, a, p in zip(texts, answers, ours, strict=True)
        if (p.length, p.valid) != (a["length"], a["valid"])
    ]
    assert disagreements == []
    assert sum(1 for a in answers if not a["valid"]) > 500  # the limit is exercised


def test_bluesky_lengths_validity_and_facets_agree_with_atproto(
    oracle: Oracle, texts: list[str]
) -> None:
    answers = oracle.bluesky(texts)
    disagreements = []
    for t, a in zip(texts, answers, strict=True):
        ours = {
            "graphemes": graphemes(t),
            "bytes": utf8_bytes(t),
            "valid": fits("bluesky", t, 300),
            "facets": facets(t),
        }
        if ours != a:
            disagreements.append((t, ours, a))
    assert disagreements == []
    assert sum(len(a["facets"]) for a in answers) > 5_000
    # the 3,000-byte limit decides for some texts the grapheme count would let through
    assert any(not a["valid"] and a["graphemes"] <= 300 for a in answers)


@pytest.mark.parametrize(
    "text",
    ["🏳️‍🌈", "♾️", "👫🏻", "©", "®", "a\r\nb", "#️⃣ 1️⃣", "presse.de/über-uns", "\ufeffhi",
     "https://t.co/" + "a" * 41, "日本語テキスト", "x" * 280, "x" * 281],
)  # fmt: skip
def test_the_issue_examples_count_as_twitter_text_counts_them(oracle: Oracle, text: str) -> None:
    [a] = oracle.x([text])
    assert (x_parse(text).length, x_parse(text).valid) == (a["length"], a["valid"])


@pytest.mark.parametrize(
    "text",
    ["presse.de/über-uns", "see https://example.com/「quoted」", "link:https://例え.jp/日本",
     "#foo.bar #️⃣ $AAPL ($XYZ)", "@alice.bsky.social, @Bob.test!", "(https://x.com/a_(b))."],
)  # fmt: skip
def test_the_issue_examples_get_the_facets_atproto_gives(oracle: Oracle, text: str) -> None:
    [a] = oracle.bluesky([text])
    assert facets(text) == a["facets"]


def test_facets_resolve_mentions_through_the_dids_given() -> None:
    text = "hi @Alice.bsky.social and @nobody.bsky.social"
    [mention] = facets(text, {"alice.bsky.social": "did:plc:alice"})
    assert mention["features"] == [
        {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice"}
    ]
    assert mention["index"] == {"byteStart": 3, "byteEnd": 21}


URL = "https://example.com/"

MASTODON_GOLDEN = [
    # status_length_validator.rb: "[status.spoiler_text, countable_text(status.text)].join"
    # — the content warning counts as written: its URL is not shortened
    ("body", URL + "x" * 50, 4 + len(URL) + 50),
    # ... and joined before counting: a combining mark at the start of the text joins
    # the warning's last letter ("countable_length(str) = str.each_grapheme_cluster.size")
    ("\u0301x", "e", 2),
    # status_length_validator.rb: "URL_PLACEHOLDER = 'x' * 23", "if entity[:url]"
    ("see " + URL + "a" * 100, "", 4 + 23),
    # twitter_regex.rb valid_url_path_ending_chars: [^\p{White_Space}()?!*"'「」<>;:=,.$%\[\]~&|@]
    # — a path cannot end in "=": "==" stays outside the URL
    ("see " + URL + "a==", "", 4 + 23 + 2),
    ("see " + URL + "a~", "", 4 + 23 + 1),
    ("see " + URL + "a&", "", 4 + 23 + 1),
    ("see " + URL + "a|", "", 4 + 23 + 1),
    ("see " + URL + "a@", "", 4 + 23 + 1),
    # twitter_regex.rb valid_general_url_path_chars: [^\p{White_Space}<>()?] — a path runs
    # to the next space, through any letter
    ("see " + URL + "über/日本/ü", "", 4 + 23),
    # twitter_regex.rb valid_url: ((?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?
    ("gemini://example.com/" + "a" * 40, "", 23),
    ("ipfs://example.com/" + "a" * 40, "", 23),
    # status_length_validator.rb: "extract_urls_with_indices(str, extract_url_without_protocol: false)"
    ("example.com/" + "a" * 40, "", 12 + 40),
    # twitter-text regex.rb valid_url_preceding_chars: [^A-Z0-9@$#...] (and fullwidth @ #): "x" before the
    # scheme: no URL
    ("xhttps://example.com/" + "a" * 10, "", 31),
    # twitter-text extractor.rb: "next unless is_valid_domain(url.length, domain, protocol)",
    # whose IDN::Idna.toASCII (libidn, IDNA2003) refuses code points unassigned in
    # Unicode 3.2: an emoji domain is no URL and counts in full; a German one is a URL
    ("see https://😀.example.com/abc", "", 4 + len("https://😀.example.com/abc")),
    ("see https://bücher.de/abc", "", 4 + 23),
    # status_length_validator.rb: "\"@#{entity[:screen_name].split('@').first}\""
    ("@gargron@mastodon.social hi", "", len("@gargron hi")),
    # extractor.rb: "unless Twitter::Regex[:end_mention_match].match?(after)" with
    # regex.rb end_mention_match \A(?:[@ and fullwidth @]|[latin accents]+|:\/\/) — followed by "@" or
    # "://" it is no mention and counts in full
    ("@gargron@mastodon.social@", "", 25),
    ("@gargron@mastodon.social://", "", 27),
    # account.rb MENTION_RE: (?<![=/[:word:]])@ — after "=" no mention
    ("a=@gargron@mastodon.social", "", 26),
    # status_length_validator.rb: "return '' if str.blank?" — blank text counts nothing
    ("  \n ", "CW", 2),
]


@pytest.mark.parametrize(("text", "spoiler", "expected"), MASTODON_GOLDEN)
def test_mastodon_counts_as_its_status_length_validator(
    text: str, spoiler: str, expected: int
) -> None:
    assert mastodon_length(text, spoiler_text=spoiler) == expected


def test_mastodon_uses_the_servers_url_length() -> None:
    assert mastodon_length("see " + URL + "a" * 100, url_length=30) == 4 + 30


def test_the_committed_platform_data_is_what_the_npm_packages_give() -> None:
    """prcast/text/platform_data.py is regenerated from the oracles' own packages: the
    same twitter-text, twemoji-parser and tlds the differential tests ask."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_text_data.py"
    spec = importlib.util.spec_from_file_location("gen_text_data", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render_module() == module.TARGET.read_text(encoding="utf-8")
