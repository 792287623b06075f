"""prcast's own wording in the reader's language: gettext catalogs read with Babel.

Catalogs are plain .po files under ``prcast/locale/<lang>/LC_MESSAGES/<domain>.po`` (no build
step: they are compiled in memory on first use). Each part of prcast keeps its own domain
(``email``, ``pressroom``, ``report``, ``cli``); a language's domains are merged into one
catalog. English is the source language: a message with no translation is shown as written.

Templates call ``{{ _("Dear %(name)s,", name=recipient.name) }}`` (jinja2's i18n extension,
new style); the language is the template context's ``locale`` (else ``language``), so one
jinja2 environment serves every language.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"


def shipped_languages() -> list[str]:
    """Languages with a catalog, plus English (the source)."""
    found = {p.name for p in LOCALE_DIR.iterdir() if p.is_dir()} if LOCALE_DIR.is_dir() else set()
    return sorted(found | {SOURCE_LANGUAGE})


def locale_of(language: str | None) -> Locale:
    """Babel's Locale for a language tag ("de", "de-AT", "fr_CH"); English when unknown."""
    if language:
        try:
            return Locale.parse(language.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            pass
    return Locale.parse(SOURCE_LANGUAGE)


@functools.lru_cache(maxsize=32)
def translations(language: str | None) -> _gettext.NullTranslations:
    """The merged catalog for a language: its region first ("de_AT"), then the language ("de")."""
    loc = locale_of(language)
    chain: _gettext.NullTranslations = _gettext.NullTranslations()
    for tag in (loc.language, str(loc)) if str(loc) != loc.language else (loc.language,):
        folder = LOCALE_DIR / tag / "LC_MESSAGES"
        if not folder.is_dir():
            continue
        for po in sorted(folder.glob("*.po")):
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=tag, domain=po.stem)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            t = _gettext.GNUTranslations(buf)
            t.add_fallback(chain)
            chain = t
    return chain


def gettext(language: str | None, message: str, **variables: Any) -> str:
    text = translations(language).gettext(message)
    return text % variables if variables else text


def ngettext(language: str | None, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(language).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


def format_datetime(
    moment: datetime, language: str | None, tz: tzinfo | None = None, format: str = "long"
) -> str:
    """A date and time as the locale writes it: "1. Dezember 2026 um 09:30:00 MEZ" ("long"),
    "1. Dez. 2026, 09:30" ("medium"), or a CLDR pattern."""
    moment = moment.astimezone(tz) if tz is not None else moment
    return babel_dates.format_datetime(
        moment, format=format, tzinfo=moment.tzinfo, locale=locale_of(language)
    )


def format_date(moment: datetime, language: str | None, format: str = "long") -> str:
    return babel_dates.format_date(moment, format=format, locale=locale_of(language))


def _language_of(context: jinja2.runtime.Context) -> str | None:
    value = context.get("locale") or context.get("language")
    return str(value) if value else None


@jinja2.pass_context
def _jinja_gettext(context: jinja2.runtime.Context, message: str, **variables: Any) -> str:
    text = translations(_language_of(context)).gettext(message)
    return text % variables if variables else text


@jinja2.pass_context
def _jinja_ngettext(
    context: jinja2.runtime.Context, singular: str, plural: str, n: int, **variables: Any
) -> str:
    variables.setdefault("num", n)
    return translations(_language_of(context)).ngettext(singular, plural, n) % variables


def install(env: jinja2.Environment) -> None:
    """Give a jinja2 environment `_`, `gettext`, `ngettext` and the date filters, all following
    the template context's language."""
    env.add_extension("jinja2.ext.i18n")
    env.globals["_"] = env.globals["gettext"] = _jinja_gettext
    env.globals["ngettext"] = _jinja_ngettext

    @jinja2.pass_context
    def _datetime_filter(
        context: jinja2.runtime.Context, moment: datetime, format: str = "long"
    ) -> str:
        return format_datetime(moment, _language_of(context), format=format)

    env.filters["format_datetime"] = _datetime_filter
