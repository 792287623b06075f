"""Several prcast processes starting together on a machine where prcast never ran (a
crontab firing `run-due` and a `send` at once, racing runners on a new worker): each one
ends with a signed checkpoint, so each needs the audit signing key, and the first use
creates it. They must all get the same, whole key: never "not a prcast signing key" from
a file another process has created and not yet written. Real processes at a barrier."""

from __future__ import annotations

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
