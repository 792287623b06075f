"""The HTML part of a press email (and Matrix's formatted_body): the release's Markdown as
CommonMark HTML, safe (no HTML from the release, links only to http(s) and mailto), made
paragraph by paragraph for a large audience with exactly the result of the whole text."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prcast.channels.email import Composer
from prcast.config import EmailConfig
from prcast.lists import Contact, Recipient, Resolution
from prcast.release import load_release
from prcast.render import render_release
from prcast.text.markup import _href, _html_parser, _plain_html, html_of, to_html
from prcast.workspace import Workspace


def test_a_markdown_link_is_an_anchor_with_its_text() -> None:
    assert to_html("See [our site](https://example.org/presse?a=1&b=2).") == (
        '<p>See <a href="https://example.org/presse?a=1&amp;b=2">our site</a>.</p>'
    )
    assert to_html('[Fakten](https://example.org/f "Die \\"Fakten\\"")') == (
        '<p><a href="https://example.org/f" title="Die &quot;Fakten&quot;">Fakten</a></p>'
    )
    assert to_html("[write to us](mailto:press@example.org)") == (
        '<p><a href="mailto:press@example.org">write to us</a></p>'
    )
    assert to_html("<press@example.org>") == (
        '<p><a href="mailto:press@example.org">press@example.org</a></p>'
    )


def test_emphasis_strong_strikethrough_and_inline_code() -> None:
    assert to_html("_one_ *two* **three** __four__ ~~five~~ `six <b>`") == (
        "<p><em>one</em> <em>two</em> <strong>three</strong> <strong>four</strong> "
        "<s>five</s> <code>six &lt;b&gt;</code></p>"
    )
    # escaped marks are text, not emphasis
    assert to_html(r"\*not emphasis\*") == "<p>*not emphasis*</p>"


def test_headings_are_three_levels_down_as_in_a_letter() -> None:
    text = "# Title\n\n## Section\n\n### Sub\n\n#### Four\n\n###### Six\n\nSetext\n------"
    assert to_html(text) == (
        "<h3>Title</h3><h4>Section</h4><h5>Sub</h5><h6>Four</h6><h6>Six</h6><h4>Setext</h4>"
    )


def test_ordered_unordered_and_nested_lists() -> None:
    assert to_html("1. one\n2. two\n   - two a\n   - two b\n3. three") == (
        "<ol><li>one</li><li>two<ul><li>two a</li><li>two b</li></ul></li><li>three</li></ol>"
    )
    assert to_html("3. c\n4. d") == '<ol start="3"><li>c</li><li>d</li></ol>'
    assert to_html("* a\n* b") == "<ul><li>a</li><li>b</li></ul>"
    # a loose list (items apart) has paragraphs in its items
    assert to_html("- a\n\n- b") == "<ul><li><p>a</p></li><li><p>b</p></li></ul>"


def test_block_quotes_keep_their_line_breaks() -> None:
    assert to_html("> Wir reparieren.\n> Jeden Tag.\n\nEnde") == (
        "<blockquote><p>Wir reparieren.<br>Jeden Tag.</p></blockquote><p>Ende</p>"
    )


def test_fenced_and_indented_code_is_escaped_and_kept_as_written() -> None:
    assert to_html("```python\nif a < b and c:\n    print('&')\n```") == (
        "<pre><code class=\"language-python\">if a &lt; b and c:\n    print('&amp;')\n</code></pre>"
    )
    assert to_html("Text\n\n    indented **code**") == (
        "<p>Text</p><pre><code>indented **code**\n</code></pre>"
    )


def test_a_table_with_alignment() -> None:
    assert to_html("| Ort | Plätze |\n|:---|---:|\n| Leipzig | 40 |\n| Köln | 12 |") == (
        '<table><thead><tr><th style="text-align:left">Ort</th>'
        '<th style="text-align:right">Plätze</th></tr></thead><tbody>'
        '<tr><td style="text-align:left">Leipzig</td><td style="text-align:right">40</td></tr>'
        '<tr><td style="text-align:left">Köln</td><td style="text-align:right">12</td></tr>'
        "</tbody></table>"
    )


def test_html_in_a_release_is_escaped_not_passed_on() -> None:
    assert to_html("<script>alert('x')</script>") == (
        "<p>&lt;script&gt;alert('x')&lt;/script&gt;</p>"
    )
    assert to_html('Hi <img src=x onerror="alert(1)"> there') == (
        "<p>Hi &lt;img src=x onerror=&quot;alert(1)&quot;&gt; there</p>"
    )
    assert to_html("<div>\n*block*\n</div>") == (
        "<p>&lt;div&gt;<br><em>block</em><br>&lt;/div&gt;</p>"
    )
    # an address can not close the attribute it is written in
    assert to_html('[x](https://example.org/"onmouseover="alert(1))') == (
        '<p><a href="https://example.org/%22onmouseover=%22alert(1)">x</a></p>'
    )


@pytest.mark.parametrize(
    "link",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](vbscript:msgbox)",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](file:///etc/passwd)",
        "[click](/relative/path)",
        "<javascript:alert(1)>",
        "![pic](javascript:alert(1))",
    ],
)
def test_a_link_to_anything_but_http_https_or_mailto_is_no_link(link: str) -> None:
    out = to_html(link)
    assert "<a " not in out and "<img" not in out and "href" not in out
    assert out.startswith("<p>") and out.endswith("</p>")


def test_bare_addresses_are_linked_once_and_not_in_links_or_code() -> None:
    assert to_html("Mehr: https://example.org/w. (Siehe https://example.org/x)") == (
        '<p>Mehr: <a href="https://example.org/w">https://example.org/w</a>. (Siehe '
        '<a href="https://example.org/x">https://example.org/x</a>)</p>'
    )
    assert to_html("[https://example.org/a](https://example.org/b)") == (
        '<p><a href="https://example.org/b">https://example.org/a</a></p>'
    )
    assert to_html("[see https://example.org/a here](https://example.org/b)") == (
        '<p><a href="https://example.org/b">see https://example.org/a here</a></p>'
    )
    assert to_html("<https://example.org/c>") == (
        '<p><a href="https://example.org/c">https://example.org/c</a></p>'
    )
    assert to_html("`https://example.org/d`") == "<p><code>https://example.org/d</code></p>"
    assert to_html("**https://example.org/e**") == (
        '<p><strong><a href="https://example.org/e">https://example.org/e</a></strong></p>'
    )
    assert to_html("https://example.org/a_b_c/bild_1.jpg?x=1&y=2") == (
        '<p><a href="https://example.org/a_b_c/bild_1.jpg?x=1&amp;y=2">'
        "https://example.org/a_b_c/bild_1.jpg?x=1&amp;y=2</a></p>"
    )
    assert to_html("xhttps://example.org") == "<p>xhttps://example.org</p>"


def test_german_text_and_emoji_are_kept() -> None:
    assert to_html("Grüße aus Köln – „Wir öffnen“ 🎉\nStraße 5, 50667 Köln") == (
        "<p>Grüße aus Köln – „Wir öffnen“ 🎉<br>Straße 5, 50667 Köln</p>"
    )
    assert to_html("Siehe https://köln.example/straße") == (
        '<p>Siehe <a href="https://xn--kln-sna.example/stra%C3%9Fe">'
        "https://köln.example/straße</a></p>"
    )


RELEASES = [
    "Dear Ms Weber,\n\nSee [our site](https://example.org) and https://example.org/w.\n\n"
    "# What is next\n\n- a\n- b\n\n> quote\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    # a fence over a blank line
    "Dear Ms Weber,\n\n```\ncode\n\nmore code\n```\n\nEnd",
    # a reference link defined two paragraphs away
    "Dear Ms Weber,\n\nSee [the facts][f].\n\n[f]: https://example.org/f",
    # a loose list, its items apart
    "Dear Ms Weber,\n\n- one\n\n- two\n\n1. a\n\n2. b",
    # an item's second paragraph, indented
    "Dear Ms Weber,\n\n- one\n\n  still one\n- two",
    # indented code after a paragraph
    "Dear Ms Weber,\n\nText\n\n    code\n\n    more",
    # Windows line ends, a lone carriage return
    "Dear Ms Weber,\r\n\r\n- one\r\n\r\n- two\r- three",
    "  Dear Ms Weber,\n\n   indented start",
    "Dear Ms Weber,\n\n\n\nfar apart \n\n--\nUnsubscribe: https://u.example/?e=a%40b.example",
]


@pytest.mark.parametrize("text", RELEASES)
def test_the_html_made_paragraph_by_paragraph_is_the_html_of_the_whole(text: str) -> None:
    cache: dict[str, str] = {}
    assert html_of(text, cache) == to_html(text)
    # the next recipient: another greeting, the other paragraphs from the cache
    other = text.replace("Dear Ms Weber,", "Sehr geehrter Herr Öztürk & Co,")
    assert html_of(other, cache) == to_html(other)
    assert html_of(text, cache) == to_html(text)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "Ä", " ", "\n", "\n\n", "- ", "1. ", "# ", "**", "_", "`", "```",
                         "> ", "[x]", "(https://x.example)", "[x]: /u", "https://x.example/a",
                         "<", "&", "\t", "|", "---", "~~", "\r"]),
        max_size=30,
    ).map("".join)
)  # fmt: skip
def test_any_text_by_paragraphs_is_the_html_of_the_whole(text: str) -> None:
    assert html_of(text, {}) == to_html(text)


PLAIN_LINES = [
    "Dear Ms Weber,",
    "Sehr geehrte Frau Müller-Lüdenscheidt,",
    "Dear Anna & Ben <ed>,",
    'Hello "Jo" O\'Brien,',
    "Bonjour Zoë, ça va ?",
    "Hallo 🎉 Team",
    "Dear 李华,",
    "Tom > Jerry < Spike",
    "Dear Jo,\nsee you soon",
    "--\nTo unsubscribe: https://press.example/u?e=j%40outlet.example&x=1",
    "Unsubscribe: https://press.example/u?e=jürgen@outlet.example.",
    "See https://a.example/x, https://b.example/y; and (https://c.example/z)!",
    "Price: 5 $ + 3 % = {braces} # not a heading",
    "Dear AT&T team,",
]


@pytest.mark.parametrize("line", PLAIN_LINES)
def test_a_paragraph_without_markdown_takes_the_short_way_to_the_same_html(line: str) -> None:
    made = _plain_html(line)
    assert made is not None
    assert made == to_html(line)


@pytest.mark.parametrize(
    "line",
    ["Dear **Ms** Weber,", "Dear &amp; friends", "Dear <a@b.example>", "Dear\tJo", "- Jo",
     "1. Jo", "# Jo", "Jo\n---", "Jo  \nhard break", " Jo", "Jo\xa0", "Dear _Jo_"],
)  # fmt: skip
def test_a_paragraph_that_may_hold_markdown_is_parsed(line: str) -> None:
    assert _plain_html(line) is None


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Dear", "Jo", "ä", "李", "🎉", " ", ",", ".", "\n", "--", "&", "&amp;",
                         "<", ">", '"', "'", "https://x.example/a", "http://y.example", "https://", "(", ")",
                         ":", "@", "%40", "\t", "\xa0", "!", "?", "=", "-", "#", "|", "$"]),
        min_size=1, max_size=20,
    ).map("".join)
)  # fmt: skip
def test_the_short_way_gives_what_markdown_it_gives(paragraph: str) -> None:
    made = _plain_html(paragraph)
    if made is not None:
        assert made == to_html(paragraph)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.sampled_from(["https://", "x.example", "X.Example", "/", "?", "=", "&", "#", "%",
                         "%40", "%zz", "%4", "a", "Z", "9", "-", "_", ".", "~", "(", ")", "'",
                         "*", "!", "$", ",", ";", ":", "@", "+", "|", "^", "{", "\\", "[",
                         "ä", "李", "xn--", ":8080", "[::1]"]),
        max_size=15,
    ).map("".join)
)  # fmt: skip
def test_an_address_is_written_as_markdown_it_normalizes_it(url: str) -> None:
    assert _href(url) == _html_parser().normalizeLink(url)


@pytest.mark.parametrize(
    "url",
    ["https://press.example/u?e=j%40outlet.example&x=1", "https://@x.example", "https://@",
     "https://a@b@c.example/", "https://X.Example:8080/A?b=C#D", "https://[::1]/a",
     "https://x.example/%zz", "https://x$y.example/", "https://x.example/a|b", "https://köln.example"],
)  # fmt: skip
def test_tricky_addresses_are_written_as_markdown_it_normalizes_them(url: str) -> None:
    assert _href(url) == _html_parser().normalizeLink(url)
    made = _plain_html(f"See {url}")  # None for "[": it may be a link
    assert made == to_html(f"See {url}") or (made is None and "[" in url)


def test_the_emails_html_part_shows_the_link_as_an_anchor(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    path.write_text(
        '+++\ntitle = "Werkstatt"\nlanguage = "de"\n+++\n'
        "Mehr auf [unserer Seite](https://gruenwerk.example/presse).\n\n"
        "## Fakten\n\n1. _300 m²_\n2. ~~teuer~~ kostenlos\n\n<script>alert(1)</script>\n",
        encoding="utf-8",
    )
    mail = EmailConfig(name="m", host="h", from_address="presse@gruenwerk.example")
    people = (
        Recipient(Contact(name="Jürgen & Co", email="j@example.org"), ("g",)),
        Recipient(Contact(name="Ana", email="a@example.org"), ("g",)),
    )
    [r] = render_release(
        load_release(path), [mail], ws.templates_dir, audience=[Resolution("g", people, ())]
    )
    composer = Composer(mail)
    pages = []
    for i, post in enumerate(r.posts):
        msg = message_from_bytes(composer.message(post, f"k{i}"), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(("html",))
        assert part is not None
        pages.append(str(part.get_content()))
    first, second = pages
    assert '<a href="https://gruenwerk.example/presse">unserer Seite</a>' in first
    assert "<h4>Fakten</h4><ol><li><em>300 m²</em></li><li><s>teuer</s> kostenlos</li></ol>" in (
        first
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first and "<script>" not in first
    assert "<p>Guten Tag Jürgen &amp; Co,</p>" in first
    assert "<p>Guten Tag Ana,</p>" in second
    assert "[unserer Seite]" not in first and "## " not in first


def test_a_press_contacts_phone_link_is_a_link() -> None:
    """`[+49 30 1234 567](tel:+49301234567)` (a press contact's phone) is a link in the HTML
    part, as it reads "+49 30 1234 567 (tel:…)" in the text part, never raw Markdown."""
    from prcast.text.markup import to_html

    out = to_html("Presse: [+49 30 1234 567](tel:+49301234567)")
    assert '<a href="tel:+49301234567">+49 30 1234 567</a>' in out
    assert "](" not in out


@pytest.mark.parametrize(
    "line",
    [
        "Details: https://press.example.org/a.",
        "(see https://press.example.org/b)",
        "*https://press.example.org/c*",
        "ahttps://press.example.org/not-a-link and https://press.example.org/d!",
        "Mehr unter https://presse.example.de/straße?x=1&y=2, bitte.",
    ],
)
def test_the_press_room_links_the_bare_addresses_the_email_links(line: str) -> None:
    """A release's bare address is a link to the same place on its press-room page and in
    its email: both take one pattern (where it ends, what it may not follow)."""
    from prcast.channels.outbox import render_markdown

    def hrefs(html: str) -> list[str]:
        return re.findall(r'href="([^"]*)"', html)

    assert hrefs(str(render_markdown(line).body)) == hrefs(to_html(line))
    assert hrefs(to_html(line))  # each line has one to follow
