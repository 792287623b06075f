"""prcast's catalogs against the wording its code and templates use.

    .venv/bin/python scripts/i18n.py check    every msgid has a translation in every language
    .venv/bin/python scripts/i18n.py update   add new msgids (empty) to each .po, drop unused ones

Sources are found through babel.cfg; which domain a source's wording belongs to is DOMAINS
below (add a domain's files there). tests/unit/test_i18n.py runs `check`'s logic."""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "prcast" / "locale"
#: prcast.i18n.gettext(language, message, ...) and ngettext(language, singular, plural, n)
KEYWORDS = {"_": None, "gettext": (2,), "ngettext": (2, 3)}
JINJA_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
#: the sources of each domain's wording (globs relative to the repository)
DOMAINS: dict[str, tuple[str, ...]] = {
    "email": (
        "templates/email*.j2",
        "templates/release.md.j2",
        "templates/microblog.txt.j2",
        "templates/matrix.txt.j2",
        "templates/webhook.txt.j2",
        "templates/conference/announcement.txt.j2",
        "templates/conference/opening.txt.j2",
        "templates/conference/closing.txt.j2",
        "prcast/render.py",
    ),
}
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@dataclass(frozen=True)
class Use:
    """One msgid as a source uses it."""

    msgid: str
    plural: str | None
    path: str
    line: int


def used() -> list[Use]:
    """Every translatable message of prcast/ and templates/, with where it is used."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    out = []
    for path, line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        if path.endswith(".j2"):
            # the jinja2 extractor takes the keywords its way: call it again for templates
            continue
        msgid, plural = (message[0], message[1]) if isinstance(message, tuple) else (message, None)
        out.append(Use(msgid, plural, path, line))
    jinja_only = [(p, m) for p, m in method_map if m == "jinja2"]
    for path, line, message, _comments, _context in extract_from_dir(
        str(ROOT), jinja_only, options_map, keywords=JINJA_KEYWORDS
    ):
        msgid, plural = (message[0], message[1]) if isinstance(message, tuple) else (message, None)
        out.append(Use(msgid, plural, path, line))
    return out


def domain_of(path: str) -> str | None:
    for domain, patterns in DOMAINS.items():
        if any(fnmatch.fnmatch(path, p) for p in patterns):
            return domain
    return None


def languages() -> list[str]:
    return sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())


def catalog(language: str, domain: str) -> Catalog | None:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        return read_po(fh, locale=language, domain=domain)


def problems(language: str) -> list[str]:
    """What `language` lacks: untranslated or fuzzy msgids, wrong placeholders, unused ones
    (each named with the file and line that uses it, or the .po file that holds it)."""
    translated: dict[str, tuple[str, ...]] = {}
    found = []
    for po in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        cat = catalog(language, po.stem)
        assert cat is not None
        for m in cat:
            if not m.id:
                continue
            key = m.id[0] if isinstance(m.id, tuple) else m.id
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            if m.fuzzy or not all(strings):
                continue
            translated[key] = tuple(strings)
    uses = used()
    for use in uses:
        where = f"{use.path}:{use.line}"
        if use.msgid not in translated:
            found.append(f'{where}: "{use.msgid}" has no {language} translation')
            continue
        wanted = set(_PLACEHOLDER.findall(use.msgid + (use.plural or "")))
        for string in translated[use.msgid]:
            if set(_PLACEHOLDER.findall(string)) != wanted:
                found.append(
                    f'{where}: "{use.msgid}" in {language} has the placeholders '
                    f"{sorted(set(_PLACEHOLDER.findall(string)))}, not {sorted(wanted)}"
                )
    ids = {u.msgid for u in uses}
    for domain in DOMAINS:
        cat = catalog(language, domain)
        for m in cat or ():
            key = m.id[0] if isinstance(m.id, tuple) else m.id
            if key and key not in ids:
                po = f"prcast/locale/{language}/LC_MESSAGES/{domain}.po:{m.lineno}"
                found.append(f'{po}: "{key}" is used nowhere')
    return found


def update() -> None:
    """Each existing <lang>/<domain>.po gets the domain's new msgids (untranslated), and
    loses those no source uses; translations are kept."""
    template = {d: Catalog(domain=d, project="prcast", version="") for d in DOMAINS}
    for use in used():
        domain = domain_of(use.path)
        if domain is not None:
            mid = (use.msgid, use.plural) if use.plural else use.msgid
            template[domain].add(mid, locations=[(use.path, use.line)])
    for language in languages():
        for domain, pot in template.items():
            cat = catalog(language, domain)
            if cat is None:
                continue
            created = cat.creation_date
            cat.update(pot, no_fuzzy_matching=True)
            cat.obsolete.clear()
            cat.creation_date = created  # a run that changes nothing changes no file
            path = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
            with path.open("wb") as fh:
                write_po(fh, cat, omit_header=False, no_location=True, width=100)


def main(argv: list[str]) -> int:
    if argv == ["check"]:
        found = [p for lang in languages() for p in problems(lang)]
        print("\n".join(found) or f"catalogs complete: {', '.join(languages())}")
        return 1 if found else 0
    if argv == ["update"]:
        update()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
