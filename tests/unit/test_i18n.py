"""prcast's own wording in German, English and French: complete catalogs, the language a
recipient is written to in, dates and times as each locale writes them."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

from prcast import i18n
from prcast.config import EmailConfig, OutboxConfig
from prcast.lists import Contact, Recipient, Resolution
from prcast.release import load_release
from prcast.render import render_release
from prcast.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


def catalog_tool() -> ModuleType:
    """scripts/i18n.py, the catalog check developers run, as a module."""
    spec = importlib.util.spec_from_file_location(
        "prcast_i18n_script", ROOT / "scripts" / "i18n.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# -- catalogs -----------------------------------------------------------------------------


def test_every_message_prcast_uses_has_a_german_and_a_french_translation() -> None:
    tool = catalog_tool()
    used = {u.msgid for u in tool.used()}
    # the extraction sees the templates' and render.py's wording (the check is not vacuous)
    assert {"Dear %(name)s,", "Press contact: %(contact)s",
            "You receive this because you are on our press list.",
            "EMBARGOED UNTIL %(date)s, %(time)s %(zone)s"} <= used  # fmt: skip
    assert {"de", "fr"} <= set(tool.languages())
    for language in tool.languages():
        assert tool.problems(language) == [], language


def test_the_catalog_check_names_missing_wrong_and_unused_translations(tmp_path: Path) -> None:
    tool = catalog_tool()
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "email.txt.j2").write_text(
        '{{ _("Dear %(name)s,", name=n) }}\n\n{{ _("Brand new wording") }}\n', encoding="utf-8"
    )
    (tmp_path / "prcast").mkdir()
    (tmp_path / "prcast" / "render.py").write_text(
        'x = i18n.gettext(language, "Seen in Python")\n', encoding="utf-8"
    )
    po = tmp_path / "prcast" / "locale" / "de" / "LC_MESSAGES" / "email.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Dear %(name)s,"\nmsgstr "Guten Tag %(nam)s,"\n\n'
        'msgid "Seen in Python"\nmsgstr "In Python gesehen"\n\n'
        'msgid "Gone"\nmsgstr "Weg"\n',
        encoding="utf-8",
    )
    tool.ROOT, tool.LOCALE_DIR = tmp_path, tmp_path / "prcast" / "locale"
    found = tool.problems("de")
    assert sorted(found) == sorted([
        "templates/email.txt.j2:1: \"Dear %(name)s,\" in de has the placeholders ['nam'], not ['name']",
        'templates/email.txt.j2:3: "Brand new wording" has no de translation',
        'prcast/locale/de/LC_MESSAGES/email.po:11: "Gone" is used nowhere',
    ])  # fmt: skip
    tool.update()  # the new msgid is added untranslated, the unused one dropped
    text = po.read_text(encoding="utf-8")
    assert 'msgid "Brand new wording"\nmsgstr ""' in text
    assert "Gone" not in text
    assert 'msgstr "In Python gesehen"' in text


def test_english_is_the_source_and_a_language_without_catalog_falls_back_to_it() -> None:
    assert i18n.gettext("en", "Press contact: %(contact)s", contact="A") == "Press contact: A"
    assert i18n.gettext("de", "Press contact: %(contact)s", contact="A") == "Pressekontakt: A"
    assert i18n.gettext("de-AT", "Hello,") == "Guten Tag,"
    assert (
        i18n.gettext("fr", "Press contact: %(contact)s", contact="A") == "Contact presse\u00a0: A"
    )
    assert i18n.gettext("fr-CA", "Hello,") == "Bonjour,"
    assert i18n.gettext("sv", "Hello,") == "Hello,"


# -- which language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "release", "wording"),
    [
        ("fr", "de", "fr"),  # the recipient's language wins
        ("", "de", "de"),  # none given: the release's
        ("fr-CA", "de", "fr-CA"),  # a region is kept for its date formats
        ("sv", "de", "de"),  # no Swedish wording: the release's, not a mix of two
        ("sv", "es", "en"),  # neither has wording: English
        ("", "en-GB", "en-GB"),
        ("de-XX", "fr", "de"),  # a region Babel does not know: the language still counts
    ],
)
def test_wording_follows_the_recipient_then_the_release_then_english(
    recipient: str, release: str, wording: str
) -> None:
    assert i18n.negotiate(recipient, release) == wording


# -- dates ---------------------------------------------------------------------------------

WINTER = datetime(2026, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
SUMMER = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("moment", "language", "written"),
    [
        (WINTER, "de", "1. Dezember 2026, 09:30 MEZ"),
        (SUMMER, "de", "1. Juli 2026, 09:30 MESZ"),
        (WINTER, "de-AT", "1. Dezember 2026, 09:30 MEZ"),
        (WINTER, "fr", "1 décembre 2026, 09:30 UTC+1"),
        (SUMMER, "fr", "1 juillet 2026, 09:30 UTC+2"),
        (WINTER, "en", "December 1, 2026, 9:30\u202fAM GMT+1"),
        (WINTER, "en-GB", "1 December 2026, 09:30 GMT+1"),
        # an offset the locale's country does not have: the GMT form, not a wrong name
        (WINTER.replace(tzinfo=timezone(timedelta(hours=-5))), "de", "1. Dezember 2026, 09:30 GMT-5"),
        (WINTER.replace(tzinfo=timezone(timedelta(hours=5, minutes=30))), "fr",
         "1 décembre 2026, 09:30 UTC+5:30"),
        (WINTER.replace(tzinfo=UTC), "de", "1. Dezember 2026, 09:30 GMT"),
        (WINTER.replace(tzinfo=UTC), "fr", "1 décembre 2026, 09:30 UTC"),
        # a named zone keeps its name
        (WINTER.replace(tzinfo=ZoneInfo("America/New_York")), "en", "December 1, 2026, 9:30\u202fAM EST"),
        (WINTER.replace(tzinfo=ZoneInfo("Europe/Berlin")), "en-GB", "1 December 2026, 09:30 CET"),
    ],
)  # fmt: skip
def test_moments_are_written_as_the_locale_writes_them(
    moment: datetime, language: str, written: str
) -> None:
    assert i18n.format_moment(moment, language) == written


# -- what a recipient reads ----------------------------------------------------------------


def render_email(
    ws: Workspace, tmp_path: Path, language: str, *people: Contact, description: str = ""
) -> dict[str, tuple[str, str, str]]:
    path = tmp_path / "r.md"
    path.write_text(
        f'+++\ntitle = "Zahlen"\nlanguage = "{language}"\n'
        "embargo = 2026-12-01T09:30:00+01:00\n"
        'links = [{ url = "https://presse.example/zahlen", title = "Fotos" }]\n'
        'contact = { name = "Jana Beispiel", email = "presse@example.org" }\n'
        "+++\nDie Zahlen des Jahres.\n",
        encoding="utf-8",
    )
    mail = EmailConfig(name="m", host="h", from_address="p@example.org", embargo_notice=True,
                       unsubscribe_url="https://presse.example/ab?e={email}")  # fmt: skip
    group = Resolution("tech-presse-intern", tuple(Recipient(p, ("x",)) for p in people), (),
                       description)  # fmt: skip
    [r] = render_release(load_release(path), [mail], ws.templates_dir, audience=[group])
    return {p.target: (p.subject or "", p.text, p.html or "") for p in r.posts}


def test_a_german_release_is_worded_in_german_with_no_group_name(
    ws: Workspace, tmp_path: Path
) -> None:
    mails = render_email(ws, tmp_path, "de", Contact(name="Claudia Weiß", email="cw@example.org"))
    subject, text, html = mails["cw@example.org"]
    assert subject == "SPERRFRIST: 1. Dezember 2026, 09:30 Uhr MEZ – Zahlen"
    assert text.startswith(
        "SPERRFRIST: 1. Dezember 2026, 09:30 Uhr MEZ\n\nGuten Tag Claudia Weiß,\n"
    )
    assert "- Fotos: https://presse.example/zahlen" in text
    assert "Pressekontakt: Jana Beispiel, presse@example.org" in text
    assert text.endswith(
        "Sie erhalten diese Nachricht, weil Sie in unserem Presseverteiler stehen. "
        "Abmelden: https://presse.example/ab?e=cw%40example.org"
    )
    assert "Guten Tag Claudia Weiß," in html and "Pressekontakt:" in html
    for shown in (subject, text, html):
        assert "tech-presse-intern" not in shown


def test_a_recipient_reading_french_gets_french_wording_around_the_german_text(
    ws: Workspace, tmp_path: Path
) -> None:
    mails = render_email(
        ws, tmp_path, "de",
        Contact(name="Claudia Weiß", email="cw@example.org"),
        Contact(name="Léa Martin", email="lm@example.fr", language="fr"),
        Contact(name="", email="desk@example.fr", language="fr-FR"),
    )  # fmt: skip
    subject, text, _ = mails["lm@example.fr"]
    assert subject == "SOUS EMBARGO JUSQU’AU 1 décembre 2026 à 09:30 UTC+1 – Zahlen"
    assert text.startswith(
        "SOUS EMBARGO JUSQU’AU 1 décembre 2026 à 09:30 UTC+1\n\nBonjour Léa Martin,"
    )
    assert "Die Zahlen des Jahres." in text  # the release's text as written
    assert "Contact presse\u00a0: Jana Beispiel" in text
    assert "Vous recevez ce message parce que vous figurez sur notre liste presse." in text
    assert "\nBonjour,\n" in mails["desk@example.fr"][1]
    assert "Guten Tag Claudia Weiß," in mails["cw@example.org"][1]  # her neighbour unchanged


def test_a_template_may_show_the_groups_public_description(ws: Workspace, tmp_path: Path) -> None:
    (ws.templates_dir / "email.txt.j2").write_text(
        '{% include "release.md.j2" %}\n\n-- {{ group_description }}\n', encoding="utf-8"
    )
    mails = render_email(ws, tmp_path, "de", Contact(name="A", email="a@example.org"),
                         description="Technik-Presse")  # fmt: skip
    assert mails["a@example.org"][1].endswith("-- Technik-Presse")


def test_posts_of_a_french_release_word_the_press_contact_in_french(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "r.md"
    path.write_text(
        '+++\ntitle = "Chiffres"\nlanguage = "fr"\n'
        'contact = { name = "Jana Beispiel", phone = "+33 1 00 00 00 00" }\n+++\nLes chiffres.\n',
        encoding="utf-8",
    )
    [r] = render_release(load_release(path), [OutboxConfig(name="press-room")], ws.templates_dir)
    assert r.text.endswith("Contact presse\u00a0: Jana Beispiel, +33 1 00 00 00 00")


# -- conference posts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "announcement", "closing"),
    [
        ("de", "Fragen Sie uns: Die Werkstatt antwortet. Live am 1. Dezember 2026, 15:00 MEZ "
               "bis 16:00 MEZ, mit Jana Beispiel.",
               "Das war es für heute: Die Werkstatt antwortet. 0 von 0 Fragen beantwortet"),
        ("fr", "Posez-nous vos questions\u00a0: Die Werkstatt antwortet. En direct le "
               "1 décembre 2026, 15:00 UTC+1 jusqu’à 16:00 UTC+1, avec Jana Beispiel.",
               "C’est tout pour aujourd’hui\u00a0: Die Werkstatt antwortet. Questions traitées\u00a0: 0 sur 0"),
        ("en", "Ask us: Die Werkstatt antwortet. Live on December 1, 2026, 3:00\u202fPM GMT+1 "
               "until 4:00\u202fPM GMT+1, with Jana Beispiel.",
               "That is all for today: Die Werkstatt antwortet. 0 of 0 questions answered"),
    ],
)  # fmt: skip
def test_conference_posts_are_worded_in_the_conferences_language(
    ws: Workspace, language: str, announcement: str, closing: str
) -> None:
    from prcast import conference
    from prcast.conference.posting import render_post

    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write('\n[channels.masto]\ntype = "mastodon"\ninstance = "https://social.example"\n'
                'token = "env:PRCAST_MASTODON_TOKEN"\n')  # fmt: skip
    (ws.root / "conferences").mkdir()
    (ws.root / "conferences" / "w.toml").write_text(
        'title = "Die Werkstatt antwortet"\nchannels = ["masto"]\nhashtag = "Werkstatt"\n'
        'start = "2026-12-01 15:00"\nend = "2026-12-01 16:00"\ntimezone = "Europe/Berlin"\n'
        f'host = "Jana Beispiel"\nlanguage = "{language}"\n',
        encoding="utf-8",
    )
    conf = conference.load(ws, "w")
    assert render_post(ws, conf, "announcement").startswith(announcement)
    assert render_post(ws, conf, "closing").startswith(closing)


def test_a_template_missing_a_placeholder_value_names_its_file_and_line(
    ws: Workspace, tmp_path: Path
) -> None:
    from prcast.errors import InputError

    (ws.templates_dir / "outbox.md.j2").write_text(
        '{{ title }}\n\n{{ _("Press contact: %(contact)s", kontakt="Jana") }}\n', encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        render_release(
            load_release(ws.releases_dir / "example.md"),
            [OutboxConfig(name="press-room")],
            ws.templates_dir,
        )
    assert info.value.path == ws.templates_dir / "outbox.md.j2"
    assert info.value.line == 3
    assert "no value for %(contact)s" in info.value.message
