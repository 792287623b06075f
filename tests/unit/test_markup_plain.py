"""The plain-text part of a press email: Markdown read as text a mail client shows well."""

from __future__ import annotations

from prcast.text.markup import plain_of, to_plain


def test_headings_emphasis_links_images_and_code_read_as_plain_text() -> None:
    text = (
        "# Grünwerk eröffnet\n\n"
        "**Ab Montag** repariert das _Team_ Räder, `Föhne` und \\*Kühlschränke\\*.\n\n"
        "Mehr auf [unserer Seite](https://gruenwerk.example/presse) oder "
        "<https://gruenwerk.example/kurz>.\n\n"
        "![Zwei Techniker an der Werkbank](https://gruenwerk.example/team.jpg)\n\n"
        "## Fakten\n\n"
        "- 300 m²\n- [Anfahrt](https://gruenwerk.example/weg)\n\n"
        "```\nÖffnungszeiten: 9–18\n```"
    )
    assert to_plain(text).split("\n") == [
        "Grünwerk eröffnet",
        "=================",
        "",
        "Ab Montag repariert das Team Räder, Föhne und *Kühlschränke*.",
        "",
        "Mehr auf unserer Seite (https://gruenwerk.example/presse) oder "
        "https://gruenwerk.example/kurz.",
        "",
        "Zwei Techniker an der Werkbank (https://gruenwerk.example/team.jpg)",
        "",
        "Fakten",
        "------",
        "",
        "- 300 m²",
        "- Anfahrt (https://gruenwerk.example/weg)",
        "",
        "    Öffnungszeiten: 9–18",
    ]


def test_greeting_lines_numbers_bare_urls_and_the_signature_stay_as_written() -> None:
    text = (
        "Guten Tag Jürgen Müller,\n\n"
        "1. Dezember 2026, 9:30 Uhr\n\n"
        "Bilder: https://gruenwerk.example/a_b_c/bild_1.jpg\n"
        "Pressekontakt: Anna Weiß, presse@gruenwerk.example\n\n"
        "--\nAbmelden: https://gruenwerk.example/ab?email=j%40zeitung.example"
    )
    assert to_plain(text) == text


def test_lists_and_quotes_keep_their_structure() -> None:
    text = "Vorweg\n\n- eins\n- zwei\n  - zwei a\n- drei\n\n3. c\n4. d\n\n> Zitat\n> weiter\n\nEnde"
    assert to_plain(text) == (
        "Vorweg\n\n- eins\n- zwei\n  - zwei a\n- drei\n\n3. c\n4. d\n\n> Zitat\n> weiter\n\nEnde"
    )


def test_paragraphs_are_converted_once_and_give_the_same_text_as_the_whole() -> None:
    body = "# Titel\n\n**Fett** und [Link](https://x.example)\n\n- a\n- b"
    cache: dict[str, str] = {}
    for name in ("Jo", "Al", "Zoë"):
        text = f"Dear {name},\n\n{body}"
        assert plain_of(text, cache) == to_plain(text)
    # the shared Markdown paragraphs once; the greetings have none and are not parsed or kept
    assert set(cache) == {"# Titel", "**Fett** und [Link](https://x.example)", "- a\n- b"}


def test_a_text_whose_paragraphs_depend_on_each_other_is_converted_whole() -> None:
    text = "Siehe [hier][1].\n\n```\neins\n\nzwei\n```\n\n[1]: https://x.example"
    cache: dict[str, str] = {}
    assert plain_of(text, cache) == "Siehe hier (https://x.example).\n\n    eins\n\n    zwei"
    assert cache == {}


def test_paragraphs_without_markdown_come_out_as_markdown_it_reads_them() -> None:
    paragraphs = [
        "Guten Tag Jürgen Müller,",
        "Dear Jo,  \nsecond line",
        "--\nAbmelden: https://gruenwerk.example/ab?email=j%40zeitung.example",
        "Text\n---",
        "Text\n===",
        "1. Dezember",
        "Größe 300 m² (Erdgeschoss); Eintritt: frei",
        "Sehr geehrte Frau Weiß \\*",
        "Ab **Montag**",
    ]
    cache: dict[str, str] = {}
    for p in paragraphs:
        assert plain_of(p, cache) == to_plain(p), p


def test_characters_that_are_markdown_only_at_a_line_start_keep_the_fast_path_right() -> None:
    for p in [
        "Abmelden: https://x.example/u?e=p1%40x.example#oben",
        "Eintritt > 5 Euro | Kinder frei! Ja = ja",
        "Text\n> Zitat",
        "Text\n# Titel",
        "a | b\nc | d",
    ]:
        assert plain_of(p, {}) == to_plain(p), p
