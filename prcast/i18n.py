"""prcast's own wording in the reader's language: gettext catalogs read with Babel.

Catalogs are plain .po files under ``prcast/locale/<lang>/LC_MESSAGES/<domain>.po`` (no build
step: they are compiled in memory on first use). Each part of prcast keeps its own domain
(``email``, ``pressroom``, ``report``, ``cli``); a language's domains are merged into one
catalog. English is the source language: a message with no translation is shown as written.

Templates call ``{{ _("Dear %(name)s,", name=recipient.name) }}`` (jinja2's i18n extension,
new style); the language is the template context's ``locale`` (else ``language``), so one
jinja2 environment serves every language. What a recipient reads is worded in
:func:`negotiate`'s choice: the recipient's language, else the release's, else English.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
import re
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel.core import get_global
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"


def shipped_languages() -> list[str]:
    """Languages with a catalog, plus English (the source)."""
    found = {p.name for p in LOCALE_DIR.iterdir() if p.is_dir()} if LOCALE_DIR.is_dir() else set()
    return sorted(found | {SOURCE_LANGUAGE})


def catalog_languages(domain: str) -> list[str]:
    """Languages whose catalog has `domain` (`email`, `pressroom`, ...), plus English."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{domain}.po")}
    return sorted(found | {SOURCE_LANGUAGE})


def locale_of(language: str | None) -> Locale:
    """Babel's Locale for a language tag ("de", "de-AT", "fr_CH"); English when unknown."""
    if language:
        try:
            return Locale.parse(language.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            pass
    return Locale.parse(SOURCE_LANGUAGE)


@functools.lru_cache(maxsize=256)
def negotiate(*candidates: str | None, domain: str = "email") -> str:
    """The first of `candidates` (language tags, most wanted first: the recipient's, then the
    release's) that prcast has `domain`'s wording for, region kept ("de-AT" words as "de"
    and writes dates as Austria does); English when none has."""
    have = set(catalog_languages(domain))
    for tag in candidates:
        # a tag Babel does not know whole ("de-XX") still names its language
        for form in (tag, re.split(r"[-_]", tag)[0]) if tag else ():
            if _known(form) and locale_of(form).language in have:
                return form
    return SOURCE_LANGUAGE


def _known(tag: str) -> bool:
    try:
        Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return False
    return True


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
    """`message` in `language` (as written when the catalog lacks it), `%(name)s` filled in."""
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


_NUMERIC_ZONE = re.compile(r"^[+-]\d{4}$")


def _territory_zones(loc: Locale) -> list[str]:
    """The time zones of the locale's country (its region, else where the language is
    most spoken: "de" -> Germany, "fr" -> France)."""
    territory = loc.territory
    if not territory:
        likely = get_global("likely_subtags").get(loc.language, "")
        with_region = Locale.parse(likely) if likely else None
        territory = with_region.territory if with_region is not None else None
    zones: list[str] = get_global("territory_zones").get(territory or "", [])
    return zones


def _zone_for(moment: datetime, loc: Locale) -> tzinfo | None:
    """The named zone `moment` is in: its own, or for a bare UTC offset the first zone of the
    locale's country at that offset at that moment (+01:00 in December is MEZ for German)."""
    own = moment.tzinfo
    if isinstance(own, ZoneInfo):
        return own
    offset = moment.utcoffset()
    if not offset:  # "Z" or +00:00 says UTC, not London's or Lisbon's winter time
        return None
    for key in _territory_zones(loc):
        try:
            zone = ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        if moment.astimezone(zone).utcoffset() == offset:
            return zone
    return None


def _gmt(offset: timedelta | None, loc: Locale) -> str:
    """The locale's short GMT form: "GMT+1" (en, de), "UTC+1" (fr), "UTC+5:30", "GMT"."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        shown = ""
    else:
        hours, rest = divmod(abs(minutes), 60)
        shown = ("+" if minutes > 0 else "-") + str(hours) + (f":{rest:02d}" if rest else "")
    pattern = loc.zone_formats.get("gmt", "GMT%s")
    return str(pattern) % shown


def zone_name(moment: datetime, language: str | None) -> str:
    """The time zone of `moment` as the locale names it: "MEZ", "CET", "HNE", else the
    locale's GMT form ("UTC+1" in French, "GMT+1" in English and German)."""
    loc = locale_of(language)
    zone = _zone_for(moment, loc)
    if zone is not None:
        name = babel_dates.get_timezone_name(
            moment.astimezone(zone), width="short", uncommon=True, locale=loc
        )
        if name and not _NUMERIC_ZONE.match(name):
            return str(name)
    return _gmt(moment.utcoffset(), loc)


def moment_parts(moment: datetime, language: str | None) -> dict[str, str]:
    """`date`, `time` and `zone` of a moment as the locale writes them, for a message to
    arrange: {"date": "1. Dezember 2026", "time": "09:30", "zone": "MEZ"}."""
    # aware datetimes at the same instant are equal whatever their zone: the zone is keyed too
    date, time, zone = _moment_parts(moment, moment.tzinfo, language)
    return {"date": date, "time": time, "zone": zone}


@functools.lru_cache(maxsize=64)  # an embargo line per recipient: the same few moments
def _moment_parts(
    moment: datetime, zone: tzinfo | None, language: str | None
) -> tuple[str, str, str]:
    loc = locale_of(language)
    return (
        babel_dates.format_date(moment, format="long", locale=loc),
        babel_dates.format_time(moment, format="short", tzinfo=moment.tzinfo, locale=loc),
        zone_name(moment, language),
    )


def format_moment(moment: datetime, language: str | None) -> str:
    """A moment as readers of the locale expect it, without seconds and with the zone's
    name: "1. Dezember 2026, 09:30 MEZ", "1 décembre 2026, 09:30 UTC+1",
    "December 1, 2026, 9:30 AM GMT+1"."""
    parts = moment_parts(moment, language)
    pattern = str(locale_of(language).datetime_formats.get("long", "{1}, {0}"))
    return pattern.replace("{1}", parts["date"]).replace("{0}", f"{parts['time']} {parts['zone']}")


def _language_of(context: jinja2.runtime.Context) -> str | None:
    value = context.get("locale") or context.get("language")
    return str(value) if value else None


def _filled(message: str, text: str, variables: dict[str, Any]) -> str:
    """`text` with its placeholders filled; a template error (shown with the template's file
    and line) when the template did not pass one."""
    try:
        return text % variables
    except (KeyError, ValueError, TypeError) as exc:
        detail = f"no value for %({exc.args[0]})s" if isinstance(exc, KeyError) else str(exc)
        raise jinja2.TemplateRuntimeError(
            f'_("{message}"): {detail} (pass it: _("...", name=value); write a literal % as %%)'
        ) from None


@jinja2.pass_context
def _jinja_gettext(context: jinja2.runtime.Context, message: str, **variables: Any) -> str:
    text = translations(_language_of(context)).gettext(message)
    return _filled(message, text, variables) if variables else text


@jinja2.pass_context
def _jinja_ngettext(
    context: jinja2.runtime.Context, singular: str, plural: str, n: int, **variables: Any
) -> str:
    variables.setdefault("num", n)
    return _filled(
        singular, translations(_language_of(context)).ngettext(singular, plural, n), variables
    )


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

    @jinja2.pass_context
    def _moment_filter(context: jinja2.runtime.Context, moment: datetime) -> str:
        return format_moment(moment, _language_of(context))

    env.filters["format_datetime"] = _datetime_filter
    env.filters["format_moment"] = _moment_filter
