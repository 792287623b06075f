"""The exact approved plan, kept in the team database so any worker can send it.

At `prcast schedule add` (team mode) the release is rendered, checked (policy over every
rendered byte, approvals over the exact text, the ledger) and recorded: the ledger's rows
hold every rendered post and recipient with its content hash. The manifest kept beside
them holds the rest a worker needs: the settings of the channels used (secrets stay
`env:` references, resolved on the worker's machine), the approvals that covered the text
and the release's content hash. A worker writes those channel settings into a folder of
its own and sends from the ledger; it never reads the workspace's files."""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prcast import clock
from prcast.errors import InputError
from prcast.store import Store
from prcast.store.database import Database
from prcast.workspace import MARKER, Workspace

VERSION = 1


@dataclass(frozen=True)
class Manifest:
    run_id: str
    release_id: str
    release_sha256: str
    #: channels.toml tables of the channels used, as written (secrets as env: references)
    channels: dict[str, dict[str, Any]]
    approvals: list[dict[str, Any]] = field(default_factory=list)
    submitted_by: str = ""
    submitted_on: str = ""
    submitted_at: str = ""

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, **self.__dict__}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data.pop("version", None)
        return cls(**data)


def _channel_tables(ws: Workspace, names: list[str]) -> dict[str, dict[str, Any]]:
    from prcast.fileio import read_input
    from prcast.tomlfile import parse_toml

    raw = parse_toml(read_input(ws.channels_file), ws.channels_file).data.get("channels", {})
    return {name: dict(raw[name]) for name in names}


def check(ws: Workspace, plan: Any) -> list[dict[str, Any]]:
    """What `send` checks before it sends, except what belongs to the time of sending (the
    embargo, the frequency cap, the secrets, which the worker's machine holds): the policy
    over every rendered byte, the ledger, the approvals over the exact text. Returns the
    approval records that covered it."""
    from prcast import policy
    from prcast.delivery.preflight import check_content

    return check_content(ws, plan, policy.load_policy(ws.root), ws.audit())


def submit(ws: Workspace, plan: Any) -> Manifest:
    """Check and record `plan` in the team database with its manifest (see the module)."""
    from prcast.delivery.plan import record_plan

    with_media = sorted({d.channel for d in plan.deliveries if d.post.media})
    if with_media:
        raise InputError(
            f"team mode cannot carry images yet: the release has media on {', '.join(with_media)}",
            path=plan.release.path,
            hint="send it from this machine (prcast send), or schedule it without [[media]]",
        )
    approvals = check(ws, plan)
    names = sorted({d.channel for d in plan.deliveries})
    manifest = Manifest(
        run_id=plan.run_id,
        release_id=plan.release.id,
        release_sha256=plan.release.sha256,
        channels=_channel_tables(ws, names),
        approvals=approvals,
        submitted_by=getpass.getuser(),
        submitted_on=socket.gethostname(),
        submitted_at=clock.now().isoformat(),
    )
    record_plan(ws, plan)
    store = ws.store()
    try:
        store.save_team_plan(plan.run_id, manifest.to_json())
    finally:
        store.close()
    return manifest


def load(store: Store, run_id: str) -> Manifest:
    text = store.team_plan(run_id)
    if text is None:
        raise InputError(
            f'run "{run_id}" has no stored plan in the team database',
            hint="schedule it in team mode: PRCAST_DATABASE_URL=... prcast schedule add RELEASE",
        )
    return Manifest.from_json(text)


def materialize(home: Path, manifest: Manifest, database: Database) -> Workspace:
    """A folder of the worker's own holding the run's channel settings (no secret values):
    the workspace the engine sends the run from. Written afresh, so a re-submitted plan
    is seen."""
    import tomlkit

    from prcast.team import team_workspace

    root = home / "schemas" / database.schema / "runs" / manifest.run_id
    root.mkdir(parents=True, exist_ok=True)
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(f"written by prcast worker from the team database: run {manifest.run_id}")
    )
    channels = tomlkit.table(is_super_table=True)
    for name, table in manifest.channels.items():
        channels[name] = table
    doc["channels"] = channels
    path = root / MARKER
    temp = path.with_suffix(".tmp")
    temp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    temp.replace(path)
    return team_workspace(root, database.url, database.schema)
