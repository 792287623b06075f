"""A seeded corpus of texts for the differential tests: scripts (German, Chinese,
Japanese, Arabic, Hindi), combining marks, emoji of every kind, CRLF, URLs of many
shapes, mentions, hashtags and cashtags, from a few characters to past every limit."""

from __future__ import annotations

import random

GERMAN = [
    "Die",
    "Werkstatt",
    "in",
    "Leipzig",
    "öffnet",
    "am",
    "Montag",
    "für",
    "Schulen",
    "und",
    "Vereine.",
    "Straße",
    "Größe",
    "Übergabe",
    "Äpfel",
]
CHINESE = (
    "我们的新维修车间在莱比锡开业为学校提供免费维修服务。今天下午三点举行新闻发布会！欢迎参加？"
)
JAPANESE = (
    "新しい修理工房がライプツィヒに開設されます。学校のノートパソコンを無料で修理します！ご質問は？"
)
ARABIC = [
    "تفتح",
    "الورشة",
    "الجديدة",
    "في",
    "لايبزيغ",
    "يوم",
    "الاثنين",
    "للمدارس",
    "والجمعيات",
    "مجانا",
]
HINDI = [
    "लाइपज़िग",
    "में",
    "नई",
    "मरम्मत",
    "कार्यशाला",
    "सोमवार",
    "को",
    "खुलेगी",
    "स्कूलों",
    "के",
    "लिए",
    "निःशुल्क",
]
COMBINING = [
    "e\u0301",
    "a\u0308",
    "n\u0303",
    "Z\u0351\u036b\u0343",
    "o\u0302\u0323",
    "\u0915\u094d\u0937",
]
EMOJI = [
    "😀",
    "👍🏽",
    "👫🏻",
    "🏳️‍🌈",
    "🏴‍☠️",
    "👩‍👩‍👧‍👦",
    "👨🏿‍💻",
    "🧑‍🤝‍🧑",
    "🇩🇪",
    "🇯🇵",
    "🇺🇳",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "#️⃣",
    "1️⃣",
    "*️⃣",
    "♾️",
    "♾",
    "❤️",
    "❤",
    "☺︎",
    "©",
    "®",
    "™️",
    "↔️",
    "🫠",
    "🥲",
    "🫶🏾",
    "🇦",
    "👁️‍🗨️",
    "🧔‍♀️",
    "⛹🏽‍♂️",
    "✌️",
    "☝🏻",
    "🕵️‍♀️",
    "🐈‍⬛",
    "⌚",
    "🀄",
    "🅰️",
]
SCHEMES = ["https://", "http://", "HTTPS://", "", "", "gemini://", "ipfs://", "dat://"]
HOSTS = [
    "example.com",
    "press.example.org",
    "presse.de",
    "t.co",
    "例え.jp",
    "bücher.de",
    "a.b.co.uk",
    "example.test",
    "localhost",
    "xn--bcher-kva.de",
    "1.2.3.4",
    "sub-domain.example.io",
    "blog.例子.中国",
    "example.museum",
    "EXAMPLE.COM",
    "foo.bar",
    "x.y",
]
PATHS = [
    "",
    "/",
    "/a",
    "/über-uns",
    "/wiki/Primer_(film)",
    "/a?b=1&c=2",
    "/path#frag",
    "/q?x==",
    "/p/",
    "/a.b.c",
    "/search?q=a+b",
    "/%E2%9C%93",
    "/~user",
    "/a|b",
    "/a@b",
    "/x=",
    "/x~",
    "/dir/file.html?ref=x;y",
    "/a,b",
    "/日本",
    "/abcdefghijklmnopqrstuvwxyz0123456789" * 3,
]
TRAIL = ["", "", ".", ",", ")", "!", "?", "…", "”", "。", "😀", "語", "'", '"', ":"]
LEAD = [" ", " ", "\n", "(", "«", "「", "x", "@", "-", "/"]
MENTIONS = [
    "@bob",
    "@alice_press",
    "@gargron@mastodon.social",
    "@press.example.org",
    "@a.bsky.social",
    "@user.test",
    "@Bob.Example.COM",
    "@x@y@z",
    "@name://",
    "@ü",
    "＠fullwidth",
    "@a..b.com",
    "@user@dömain.de",
    "@rt",
    "@o'neil",
]
HASHTAGS = [
    "#repair",
    "#Leipzig2026",
    "#foo.bar",
    "#123",
    "#1a",
    "＃全角",
    "#️⃣",
    "#über",
    "#日本語",
    "#tag!",
    "#a_b",
    "#a-b",
    "#" + "x" * 70,
    "#😀",
    "#ab\u200dcd",
    "#",
    "#c#",
    "#ok.",
]
CASHTAGS = ["$AAPL", "$aapl", "$A", "$TOOLONG", "$BTC.", "($XYZ)", "$1AB", "$EUR’"]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\r\n", "\n\n", "\r\n\r\n", "\t", "\u3000", "\u00a0"]


def _url(r: random.Random) -> str:
    return (
        r.choice(LEAD).strip(" \n")
        + r.choice(SCHEMES)
        + r.choice(HOSTS)
        + r.choice(PATHS)
        + r.choice(TRAIL)
    )


HEAVY = ["👩‍👩‍👧‍👦", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "Z\u0351\u036b\u0343\u0351\u036b\u0343", "🧑🏽‍🤝‍🧑🏿"]


def _piece(r: random.Random) -> str:
    kind = r.randrange(14)
    if r.random() < 0.002:  # few graphemes, many bytes: the lexicon's 3,000-byte limit
        return r.choice(["", " "]).join(r.choices(HEAVY, k=r.randint(60, 160)))
    if kind == 0:
        return " ".join(r.choices(GERMAN, k=r.randint(1, 8)))
    if kind == 1:
        start = r.randrange(len(CHINESE))
        return CHINESE[start : start + r.randint(1, 40)]
    if kind == 2:
        start = r.randrange(len(JAPANESE))
        return JAPANESE[start : start + r.randint(1, 40)]
    if kind == 3:
        return " ".join(r.choices(ARABIC, k=r.randint(1, 6)))
    if kind == 4:
        return " ".join(r.choices(HINDI, k=r.randint(1, 6)))
    if kind == 5:
        return "".join(r.choices(COMBINING, k=r.randint(1, 4)))
    if kind in (6, 7):
        return "".join(r.choices(EMOJI, k=r.randint(1, 5)))
    if kind in (8, 9):
        return _url(r)
    if kind == 10:
        return r.choice(MENTIONS) + r.choice(TRAIL)
    if kind == 11:
        return r.choice(HASHTAGS)
    if kind == 12:
        return r.choice(CASHTAGS)
    return r.choice(
        ["Tel. +49 341 1234", "E-Mail: presse@example.org", "v1.2.3", "100 %", "a.b", "..."]
    )


def text(r: random.Random) -> str:
    """One text: a few pieces for most, long runs past the platforms' limits for some."""
    size = r.choice([1, 2, 3, 5, 8, 13, 21, 34, 55])
    out = [_piece(r)]
    for _ in range(size - 1):
        out.append(r.choice(SEPARATORS) if r.random() < 0.8 else "")
        out.append(_piece(r))
    return "".join(out)


def corpus(seed: int, size: int) -> list[str]:
    r = random.Random(seed)
    return [text(r) for _ in range(size)]
