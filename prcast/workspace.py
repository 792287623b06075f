"""Find, load and scaffold a workspace: channels.toml, releases/, lists/, templates/, .prcast/."""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from prcast.config import Config, load_config
from prcast.errors import InputError, WorkspaceError
from prcast.fileio import naming

if TYPE_CHECKING:
    from prcast.audit import AuditLog
    from prcast.store import Store
    from prcast.store.database import Database

MARKER = "channels.toml"
STATE_DIR = ".prcast"
#: folders outside the workspace that media, templates and the outbox may use (os.pathsep list)
ALLOW_ENV = "PRCAST_ALLOW_DIRS"


def allowed_dirs() -> tuple[Path, ...]:
    """The folders $PRCAST_ALLOW_DIRS opens beyond the workspace (symlinks resolved)."""
    raw = os.environ.get(ALLOW_ENV, "")
    return tuple(Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip())


def confined(path: Path, root: Path) -> Path | None:
    """`path` with every symlink resolved when it lies inside `root` or an allowed folder."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: nowhere, so not inside
        return None
    for base in (root.resolve(), *allowed_dirs()):
        if real == base or real.is_relative_to(base):
            return real
    return None


def confinement_hint(root: Path) -> str:
    return (
        f"files a workspace uses must lie inside it ({root}); to allow another folder, "
        f"export {ALLOW_ENV}=/that/folder"
    )


def root_of(path: Path) -> Path:
    """The workspace holding `path`: the nearest folder upwards with channels.toml, else its folder."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / MARKER).is_file():
            return candidate
    return folder


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def channels_file(self) -> Path:
        return self.root / MARKER

    @property
    def releases_dir(self) -> Path:
        return self.root / "releases"

    @property
    def lists_dir(self) -> Path:
        return self.root / "lists"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def audit_path(self) -> Path:
        return self.state_dir / "audit.jsonl"

    @property
    def store_path(self) -> Path:
        return self.state_dir / "state.db"

    @functools.cached_property
    def config(self) -> Config:
        return load_config(self.channels_file)

    @property
    def timezone(self) -> ZoneInfo:
        """The workspace's time zone (channels.toml `timezone = "Europe/Berlin"`; else UTC):
        for times given without a zone and for showing times to people."""
        return ZoneInfo(self.config.timezone)

    @functools.cached_property
    def database(self) -> Database:
        """Where state lives: $PRCAST_DATABASE_URL, the `database` setting in channels.toml
        (a PostgreSQL URL, its password as `env:NAME`), else .prcast/state.db."""
        from prcast.store.database import choose

        url, schema, origin = database_setting(self.channels_file)
        return choose(self.store_path, url, schema, origin)

    def audit(self) -> AuditLog:
        """The audit log: in the database with the state when that is PostgreSQL, else
        .prcast/audit.jsonl."""
        from prcast.audit import open_log

        return open_log(self)

    def store(self) -> Store:
        """The state store, opened (and upgraded) on this workspace's database. A database
        is refused while the folder holds state not imported into it (`prcast db import`)."""
        from prcast.store import Store

        store = Store(self.database)
        if self.database.is_postgres and not self.__dict__.get("_imported"):
            from prcast.store.transfer import check_imported

            try:
                check_imported(self, store)
            except BaseException:
                store.close()
                raise
            self.__dict__["_imported"] = True  # looked once per workspace object
        return store

    def release_path(self, name: str) -> Path:
        """Resolve a release argument: a path, or a name under releases/ (with or without .md)."""
        given = Path(name)
        for candidate in (
            given,
            self.root / given,
            self.releases_dir / given,
            self.releases_dir / f"{name}.md",
        ):
            if candidate.is_file():
                return candidate.resolve()
        raise InputError(
            f'release "{name}" not found',
            hint=f"give a path, or a file name in {self.releases_dir}",
        )


def database_setting(channels_file: Path) -> tuple[str | None, str | None, str]:
    """The top-level `database` and `database_schema` of channels.toml, checked, with the
    place they were written (file:line) for messages. A URL may name its password only as
    `env:NAME`; a password written into the file is refused."""
    from prcast.errors import location
    from prcast.fileio import read_input
    from prcast.store.database import SCHEMES
    from prcast.tomlfile import parse_toml

    if not channels_file.is_file():
        return None, None, ""
    doc = parse_toml(read_input(channels_file), channels_file)
    url, schema = doc.data.get("database"), doc.data.get("database_schema")
    origin = location(channels_file, doc.line_of(("database",)))
    for key, value in (("database", url), ("database_schema", schema)):
        if value is not None and not isinstance(value, str):
            raise doc.error((key,), f'"{key}" must be a string, got {type(value).__name__}')
    if isinstance(schema, str):  # checked again in choose(); here to name its own line
        from prcast.store.database import check_schema

        try:
            check_schema(schema, "")
        except InputError as exc:
            raise doc.error(("database_schema",), exc.message.lstrip(": "), hint=exc.hint) from None
    if isinstance(url, str) and url.startswith("env:"):
        from prcast.secrets import ENV_FILE, SecretRef

        env_file = str(channels_file.parent / ENV_FILE)
        return SecretRef(url[4:], origin=origin, env_file=env_file).resolve(), schema, origin
    if isinstance(url, str):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            password = parts.password
        except ValueError:
            raise doc.error(("database",), '"database" is not a URL') from None
        if parts.scheme not in SCHEMES:
            raise doc.error(
                ("database",),
                '"database" must be a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE)',
            )
        in_query = any("password" in k.lower() for k in parts.query.split("&"))
        if in_query or (password is not None and not password.startswith("env:")):
            raise doc.error(
                ("database",),
                '"database": the URL holds a password: refused',
                hint="name it as postgresql://USER:env:PRCAST_DB_PASSWORD@HOST/DATABASE and"
                " export PRCAST_DB_PASSWORD; secrets are never stored in channels.toml",
            )
    return url, schema, origin


def find_workspace(explicit: Path | None = None, start: Path | None = None) -> Workspace:
    """The workspace named by --workspace / $PRCAST_WORKSPACE, else the nearest one upwards."""
    if explicit is None and os.environ.get("PRCAST_WORKSPACE"):
        explicit = Path(os.environ["PRCAST_WORKSPACE"])
    if explicit is not None:
        root = explicit.resolve()
        if not (root / MARKER).is_file():
            raise WorkspaceError(
                f"{root} is not a prcast workspace (no {MARKER})",
                hint=f"create one with `prcast init {explicit}`",
            )
        return Workspace(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return Workspace(folder)
    raise WorkspaceError(
        f"no prcast workspace here or above {here}",
        hint="run `prcast init DIR` to create one, or pass --workspace DIR",
    )


def scaffold_source(name: str) -> Path:
    """A file the scaffold copies: packaged in the wheel, or from the repository."""
    from prcast.render import shipped_templates_dir

    shipped = shipped_templates_dir()
    packaged = shipped / "scaffold" / name
    if packaged.is_file():
        return packaged
    return shipped.parent / name


#: what `prcast init` keeps out of git: secrets (.env), the state folder (runs, the audit
#: log: back them up, but not into the repository), the published outbox
GITIGNORE = """# prcast: never commit secrets or state
.env
.env.*
.prcast/
*.db
*.db-journal
*.db-wal
"""


def _with_prcast_ignores(gitignore: Path) -> str:
    """The .gitignore's text with every line of GITIGNORE it does not have yet added."""
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        return GITIGNORE
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{gitignore}: cannot read it: {exc}") from None
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE.splitlines()[1:] if line not in have]
    if not missing:
        return text
    head = GITIGNORE.splitlines()[0]
    return (
        text
        + ("" if not text or text.endswith("\n") else "\n")
        + "\n".join([head, *missing])
        + "\n"
    )


def _write_whole(path: Path, text: str) -> None:
    """Write `path` whole or leave it as it was (a user's .gitignore, say): through a
    temporary file (with the old file's mode) and a rename. A disk that refuses it (full,
    read-only) is an OSError naming `path`."""
    import shutil

    tmp = path.with_name(f".{path.name}.init.tmp")
    with naming(path):
        try:
            tmp.write_text(text, encoding="utf-8")
            if path.exists():
                shutil.copymode(path, tmp)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def init_workspace(root: Path, force: bool = False) -> tuple[Workspace, list[Path]]:
    """Create a workspace with a working outbox channel and an example release."""
    ws = Workspace(root.resolve())
    if ws.channels_file.exists() and not force:
        raise WorkspaceError(
            f"{ws.root} already holds a workspace ({MARKER} exists)",
            hint="use --force to write the example files again (your other files are kept)",
        )
    created: list[Path] = []
    if not ws.channels_file.exists() and not ws.audit_path.exists():
        from prcast.userdir import forget_log

        forget_log(ws.audit_path)  # a workspace made again where one was deleted
    for folder in (ws.root, ws.releases_dir, ws.lists_dir, ws.templates_dir, ws.state_dir):
        folder.mkdir(parents=True, exist_ok=True)
    files = {
        ws.channels_file: scaffold_source("channels.toml").read_text(encoding="utf-8"),
        ws.releases_dir / "example.md": scaffold_source("example.md").read_text(encoding="utf-8"),
        ws.root / "policy.toml": scaffold_source("policy.toml").read_text(encoding="utf-8"),
        ws.lists_dir / "README.md": "Press lists and recipient groups live here.\n",
        ws.templates_dir / "README.md": (
            "Templates here override prcast's shipped ones by file name,\n"
            "e.g. microblog.txt.j2 for Mastodon, Bluesky and X, release.md.j2 for full texts.\n"
        ),
        ws.state_dir
        / "README": "prcast state: state.db (runs) and audit.jsonl (audit log). Back up; never edit.\n",
    }
    gitignore = ws.root / ".gitignore"
    # a workspace kept in git never commits secrets or state: an existing .gitignore (a
    # workspace made inside a repository) gets the lines it lacks
    files[gitignore] = _with_prcast_ignores(gitignore)
    # each file whole or not at all, channels.toml (what marks a workspace) last: a disk
    # that fills up leaves no workspace that looks made, and `prcast init` can run again
    for path in sorted(files, key=lambda p: p == ws.channels_file):
        _write_whole(path, files[path])
        created.append(path)
    return ws, created
