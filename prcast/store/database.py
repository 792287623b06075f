"""Where a workspace's state lives: its SQLite file (the default), or a schema in a
PostgreSQL database shared by a team. A `Database` is plain data (it crosses into child
processes and threads) and opens a connection of the right dialect; it never shows a
password: its text form and every message built from it carry the URL redacted."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from prcast.errors import InputError
from prcast.secrets import ENV_FILE, SecretRef, redact, register
from prcast.store.dialect import SCHEMA_NAME, Connection, PostgreSQL, SQLite

#: the environment's choice of database, over the workspace's setting
URL_ENV = "PRCAST_DATABASE_URL"
SCHEMA_ENV = "PRCAST_DATABASE_SCHEMA"
DEFAULT_SCHEMA = "prcast"
SCHEMES = ("postgresql", "postgres")


#: `scheme://user:password@host…`: the password is everything between the user's colon and the
#: last "@", whatever it holds ("#", "/", "?" unencoded would otherwise hide it from urlsplit)
_USERINFO = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*):(?P<secret>.*)@(?P<tail>[^@]*)$", re.S
)
#: `password=…` in a query or in a libpq keyword string (`host=db password=…`)
_KEYWORD = re.compile(r"(?P<key>\w*password\w*\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&]+)", re.I)


def _secrets_in(url: str) -> list[str]:
    """Every password `url` may carry, as written and decoded (to register for redaction)."""
    found = [m.group("secret") for m in _KEYWORD.finditer(url)]
    userinfo = _USERINFO.match(url)
    if userinfo:
        found.append(userinfo.group("secret"))
    return [v for s in found for v in {s, unquote(s), s.strip("'")} if v]


def hide_password(url: str) -> str:
    """`url` with its password (if any) replaced by `***`: in the user part of a URL, in its
    query, or in a libpq keyword string; also when it is not a well-formed URL."""
    userinfo = _USERINFO.match(url)
    if userinfo and not userinfo.group("secret").startswith("env:"):
        url = f"{userinfo.group('head')}:***@{userinfo.group('tail')}"
    return redact(_KEYWORD.sub(lambda m: f"{m.group('key')}***", url))


#: `scheme://user:password@` anywhere in a text (an error message that quotes some URL)
_ANY_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@]*@")


def hide_passwords_in(text: str, url: str = "") -> str:
    """`text` (an error message) without a password: `url`, where it is quoted, as
    `hide_password` writes it; the password of any other URL in it masked; known secrets
    redacted. On one line."""
    text = " ".join(text.split())
    if url:
        text = text.replace(url, hide_password(url))
    return redact(_ANY_USERINFO.sub(r"\g<head>***@", text))


def _query(query: str) -> list[tuple[str, str]]:
    """A URL's query as (key, value) pairs, as written (not decoded)."""
    return [(k, v) for k, _, v in (p.partition("=") for p in query.split("&") if p)]


def resolve_url(url: str, origin: str = "", env_file: str = "") -> str:
    """A database URL with an `env:NAME` password (`postgresql://user:env:NAME@host/db`)
    filled in from the environment; every password is registered for redaction."""
    for secret in _secrets_in(url):
        if not secret.startswith("env:"):
            register(secret)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError as exc:
        raise InputError(f"{origin or 'database'}: not a database URL ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise InputError(
            f"{origin or 'database'}: {hide_password(url)} is not a PostgreSQL URL",
            hint="write postgresql://USER@HOST:PORT/DATABASE",
        )
    for key, value in _query(parts.query):  # libpq also takes ?password=...
        if "password" in key.lower() and value:
            register(unquote(value))
    if password is None:
        return url
    password = unquote(password)
    if password.startswith("env:"):
        value = SecretRef(password[4:], origin=origin, env_file=env_file).resolve()
        host = parts.netloc.rpartition("@")[2]
        from urllib.parse import quote

        netloc = f"{parts.username or ''}:{quote(value, safe='')}@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    register(password, user=parts.username or "")
    return url


@dataclass(frozen=True)
class Database:
    """An SQLite file (`path`), or a PostgreSQL `url` and this workspace's `schema` in it."""

    path: Path | None = None
    url: str = field(default="", repr=False)
    schema: str = DEFAULT_SCHEMA
    #: the workspace folder (for release keys when an old database is upgraded)
    root: Path | None = None

    @property
    def is_postgres(self) -> bool:
        return bool(self.url)

    def __str__(self) -> str:
        if self.url:
            return f"{hide_password(self.url)} (schema {self.schema})"
        return str(self.path)

    def __repr__(self) -> str:
        return f"Database({self})"

    @property
    def workspace_root(self) -> Path:
        if self.root is not None:
            return self.root
        if self.path is not None:
            return self.path.parent.parent  # .prcast/state.db
        return Path.cwd()

    def connect(self) -> Connection:
        """A connection of the right dialect; an unreachable server is one clear error."""
        if not self.url:
            assert self.path is not None
            return SQLite(self.path)
        import psycopg

        try:
            return PostgreSQL(self.url, self.schema)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = hide_passwords_in(first, self.url)
            raise InputError(
                f"cannot connect to the database {self}: {reason}",
                hint=f"check {URL_ENV} or the workspace's database setting, and that the server runs",
            ) from None


def choose(
    sqlite_path: Path, setting: str | None, schema_setting: str | None, origin: str = ""
) -> Database:
    """The workspace's database: $PRCAST_DATABASE_URL, else its `database` setting, else its
    SQLite file. The schema: $PRCAST_DATABASE_SCHEMA, else `database_schema`, else "prcast"."""
    root = sqlite_path.parent.parent
    url = os.environ.get(URL_ENV, "").strip()
    where = URL_ENV
    if not url and setting:
        url, where = setting, origin or "database"
    if not url:
        return Database(path=sqlite_path, root=root)
    schema = os.environ.get(SCHEMA_ENV, "").strip() or schema_setting or DEFAULT_SCHEMA
    check_schema(schema, SCHEMA_ENV if os.environ.get(SCHEMA_ENV) else origin or "database_schema")
    env_file = str(root / ENV_FILE)  # `env:NAME`: the environment, else the workspace's .env
    return Database(url=resolve_url(url, where, env_file), schema=schema, root=root)


def check_schema(schema: str, where: str) -> None:
    """Refuse a schema name PostgreSQL would not take, or one of its own schemas."""
    if not SCHEMA_NAME.match(schema):
        raise InputError(
            f"{where}:"
            f' database schema "{schema}" must be lower-case letters, digits and "_"'
            " (at most 63, not starting with a digit)"
        )
    if schema.startswith("pg_") or schema == "information_schema":  # PostgreSQL's own
        raise InputError(
            f'{where}: database schema "{schema}" is one of PostgreSQL\'s own: choose another name',
            hint='for example database_schema = "acme" in channels.toml',
        )
