"""Several prcast processes ending together (a crontab firing `run-due` and a `send` at
once, racing runners): each ends with a signed checkpoint of the audit log. On a machine
where prcast never ran, each needs the audit signing key the first use creates: they must
all get the same, whole key, never "not a prcast signing key" from a file another process
has created and not yet written. And the checkpoints they sign at once all verify. Real
processes at a barrier (tests/unit/racing.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.unit.racing import race

ROUNDS = 40


def _first_use(base: str, start: Any, out: Any) -> None:
    from prcast import keys
    from prcast.errors import PrcastError

    os.environ.pop("PRCAST_SIGNING_KEY", None)
    got: list[str] = []
    for n in range(ROUNDS):
        os.environ["XDG_CONFIG_HOME"] = str(Path(base) / f"machine{n}")
        start.wait()  # the barrier is cyclic: all start each round together
        try:
            key, _ = keys.audit_key(create=True)
            assert key is not None
            got.append(key.verifier.vkey)
        except PrcastError as exc:
            got.append(f"error: {exc.message}")
    out.put(got)


def test_processes_using_prcast_for_the_first_time_together_share_one_whole_signing_key(
    tmp_path: Path,
) -> None:
    results, procs = race(_first_use, [(str(tmp_path),)] * 4)
    assert all(p.exitcode == 0 for p in procs)
    for n in range(ROUNDS):
        seen = {r[n] for r in results}
        assert len(seen) == 1 and not next(iter(seen)).startswith("error"), (n, seen)
        key_file = tmp_path / f"machine{n}" / "prcast" / "keys" / "audit.key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def _append_and_seal(root: str, who: int, start: Any, out: Any) -> None:
    """What every command that writes to the audit log does: append, then sign a checkpoint
    as it ends; many such commands end at once."""
    from prcast.audit import AuditLog
    from prcast.checkpoint import seal
    from prcast.errors import PrcastError
    from prcast.workspace import Workspace

    ws = Workspace(Path(root))
    log = AuditLog(ws.audit_path)
    problems: list[str] = []
    for n in range(10):
        start.wait()
        for i in range(20):
            log.append("test.record", who=who, round=n, i=i)
        try:
            seal(ws)
        except PrcastError as exc:
            problems.append(exc.message)
    log.close()
    out.put(problems)


def test_commands_ending_together_each_sign_a_checkpoint_and_the_log_verifies(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from prcast.cli import app
    from prcast.workspace import init_workspace

    ws, _ = init_workspace(tmp_path / "ws")
    results, _ = race(_append_and_seal, [(str(ws.root), who) for who in range(4)])
    assert results == [[]] * 4, results
    verified = CliRunner().invoke(app, ["--workspace", str(ws.root), "audit", "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    verdict = json.loads(verified.stdout)
    assert verdict["intact"] and verdict["records"] == 4 * 10 * 20
