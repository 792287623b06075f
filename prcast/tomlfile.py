"""TOML parsing that remembers where each key stands, so errors can name a line."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prcast.errors import InputError

if sys.version_info >= (3, 11):  # noqa: UP036 - the design card keeps tomli for old Pythons
    import tomllib
else:  # pragma: no cover - exercised only on old Pythons
    import tomli as tomllib

KeyPath = tuple[str | int, ...]

_LINE_COL = re.compile(r"\(at line (\d+), column \d+\)")
_KEY_LINE = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(?:#.*)?$")


def _split_dotted(key: str) -> list[str]:
    parts: list[str] = []
    for m in re.finditer(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', key):
        parts.append(next(g for g in m.groups() if g is not None))
    return parts


@dataclass
class TomlDocument:
    """A parsed TOML document plus a map from key paths to 1-based line numbers."""

    data: dict[str, Any]
    path: Path
    line_offset: int = 0
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key: Sequence[str | int]) -> int | None:
        """The line where `key` (or its nearest parent) is defined."""
        k: KeyPath = tuple(key)
        while k:
            if k in self.lines:
                return self.lines[k] + self.line_offset
            k = k[:-1]
        return None

    def error(self, key: Sequence[str | int], message: str, hint: str | None = None) -> InputError:
        """An InputError pointing at `key`'s line in this document."""
        return InputError(message, path=self.path, line=self.line_of(key), hint=hint)


def _index_lines(text: str) -> dict[KeyPath, int]:
    lines: dict[KeyPath, int] = {}
    table: KeyPath = ()
    array_counts: dict[KeyPath, int] = {}
    in_multiline: str | None = None
    depth = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if depth > 0:
            depth += _bracket_delta(line)
            continue
        header = _HEADER.match(line)
        if header and not _KEY_LINE.match(line):
            names = tuple(_split_dotted(header.group(2)))
            if header.group(1) == "[[":
                index = array_counts.get(names, 0)
                array_counts[names] = index + 1
                table = (*names, index)
                lines.setdefault(names, number)
            else:
                table = names
            # implicit super-tables: [a.b] also defines a (as deep as a limit can report)
            for n in range(1, min(len(names), MAX_DEPTH + 2)):
                lines.setdefault(names[:n], number)
            lines[table] = number
            continue
        m = _KEY_LINE.match(line)
        if not m:
            continue
        key = (*table, *_split_dotted(m.group(1)))
        for n in range(len(table) + 1, min(len(key), MAX_DEPTH + 2)):
            lines.setdefault(key[:n], number)  # a.b.c = 1 also defines a.b
        lines.setdefault(key, number)
        rest = line[m.end() :]
        for quote in ('"""', "'''"):
            if rest.count(quote) % 2 == 1:
                in_multiline = quote
        if not in_multiline:
            depth = max(0, _bracket_delta(rest))
    return lines


def _bracket_delta(s: str) -> int:
    s = re.sub(r'"(?:\\.|[^"\\])*"|\'[^\']*\'', "", s)
    s = s.split("#", 1)[0]
    return s.count("[") + s.count("{") - s.count("]") - s.count("}")


#: how deeply arrays, inline tables and tables may nest in any TOML file prcast reads
MAX_DEPTH = 20
#: the longest string value a TOML file may hold (a title, a term, a URL)
MAX_STRING = 10_000
#: the most items one TOML array may hold
MAX_ITEMS = 10_000

_TOKENS = re.compile(
    r'"""(?:\\.|[^\\])*?"""|\'\'\'.*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]',
    re.S,
)


def _check_brackets(text: str, path: Path, line_offset: int) -> None:
    """Refuse arrays and inline tables nested deeper than MAX_DEPTH before the parser recurses."""
    depth = 0
    for m in _TOKENS.finditer(text):
        token = m.group(0)
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, m.start()) + 1 + line_offset
                raise InputError(
                    f"arrays or tables nested more than {MAX_DEPTH} deep", path=path, line=line
                )
        elif token in ("]", "}"):
            depth = max(0, depth - 1)


def _check_values(doc: TomlDocument, max_items: int = MAX_ITEMS) -> None:
    """Refuse values nested too deeply, strings too long and arrays too large (file and line)."""
    stack: list[tuple[KeyPath, Any]] = [((), doc.data)]
    while stack:
        key, value = stack.pop()
        if len(key) > MAX_DEPTH:
            raise doc.error(key, f"keys and tables nested more than {MAX_DEPTH} deep")
        if isinstance(value, dict):
            stack.extend(((*key, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            if len(value) > max_items:
                raise doc.error(key, f"an array of more than {max_items:,} items")
            if (
                len(key) < MAX_DEPTH
                and all(type(v) is str for v in value)
                and max(map(len, value), default=0) <= MAX_STRING
            ):
                continue  # strings within the limits (a 100,000-member group): in one pass
            stack.extend(((*key, i), v) for i, v in enumerate(value))
        elif isinstance(value, str) and len(value) > MAX_STRING:
            raise doc.error(key, f"a string of more than {MAX_STRING:,} characters")


def _last_line(text: str, line_offset: int) -> int:
    return max(1, len(text.splitlines())) + line_offset


def parse_toml(
    text: str, path: Path, line_offset: int = 0, *, max_items: int = MAX_ITEMS
) -> TomlDocument:
    """Parse TOML text; a syntax error becomes an InputError with file and line.

    Nesting, string lengths and array sizes are bounded (MAX_DEPTH, MAX_STRING, MAX_ITEMS)."""
    _check_brackets(text, path, line_offset)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _LINE_COL.search(msg)
        # "(at end of document)" names no line: the last line it is
        line = int(m.group(1)) + line_offset if m else _last_line(text, line_offset)
        detail = (
            _LINE_COL.sub("", msg)
            .replace("(at end of document)", "(at the end of the file)")
            .strip()
        )
        raise InputError(f"invalid TOML: {detail}", path=path, line=line) from None
    except RecursionError:
        raise InputError(
            f"values nested more than {MAX_DEPTH} deep",
            path=path,
            line=_last_line(text, line_offset),
        ) from None
    except ValueError as exc:  # an integer of more than 4,300 digits, say
        digits = re.search(r"\d{1000,}", text)
        line = (
            text.count("\n", 0, digits.start()) + 1 + line_offset
            if digits
            else _last_line(text, line_offset)
        )
        raise InputError(
            f"invalid TOML value: {str(exc).split(';')[0]}", path=path, line=line
        ) from None
    doc = TomlDocument(data=data, path=path, line_offset=line_offset, lines=_index_lines(text))
    _check_values(doc, max_items)
    return doc
