"""`prcast worker`: a procrastinate worker running prcast's tasks on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prcast.errors import InputError


def run_worker(
    home: Path | None, concurrency: int, queues: list[str] | None, announce: bool = True
) -> None:
    import os
    import socket

    from prcast.team import required_url, tasks

    url = required_url()
    if concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    wanted = [q.strip() for spec in queues or [] for q in spec.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in tasks.QUEUES]
    if unknown:
        raise InputError(
            f"unknown queue {unknown[0]!r}", hint=f"the queues are {', '.join(tasks.QUEUES)}"
        )
    folder = (home or Path.cwd() / ".prcast-worker").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    tasks._home["path"] = folder
    tasks._say["fn"] = lambda message: print(message, flush=True)
    app = tasks.open_app(url)
    try:
        from prcast.checkpoint import publish_key
        from prcast.team import default_schema, team_workspace

        # the key this machine signs the team chain's checkpoints with, in the database
        schema = default_schema()
        vkey = publish_key(team_workspace(folder / "schemas" / schema, url, schema))
        if announce:
            print(
                f"prcast worker pid {os.getpid()} on {socket.gethostname()}: queues "
                f"{', '.join(wanted or tasks.QUEUES)}, concurrency {concurrency}, folder {folder}"
                f"; audit key {vkey.vkey}",
                flush=True,
            )
        app.run_worker(
            queues=wanted or None,
            concurrency=concurrency,
            name=f"prcast@{socket.gethostname()}:{os.getpid()}",
        )
    finally:
        app.close()


def register(root: typer.Typer) -> None:
    @root.command("worker")
    def worker(
        concurrency: Annotated[
            int,
            typer.Option("--concurrency", "-n", help="Jobs this worker runs at once."),
        ] = 1,
        queues: Annotated[
            list[str] | None,
            typer.Option(
                "--queues",
                "-q",
                help="Only these queues (repeatable or comma-separated): schedule, deliveries, conference. Default: all.",
            ),
        ] = None,
        home: Annotated[
            Path | None,
            typer.Option(
                "--home",
                help="The worker's own folder (channel settings of the runs it sends, no secrets). Default: ./.prcast-worker",
            ),
        ] = None,
    ) -> None:
        """Team mode: do prcast's work from the team database on this machine, until SIGTERM or Ctrl-C.

        Run one on each machine (PRCAST_DATABASE_URL names the PostgreSQL database; no workspace needed). Workers share the work: a scheduled item fires once whichever workers run, the deliveries of a run are split between them (each chain sent by one), and when a worker dies (killed, machine down) its jobs are retried elsewhere and its deliveries taken over once its lease runs out (PRCAST_LEASE_SECONDS, default 60); a delivery it may have sent is reported in doubt, never sent twice blindly. Channel secrets are read from this machine's environment (the env: references in channels.toml).

        [bold]Example:[/bold] PRCAST_DATABASE_URL=postgresql://prcast@db.example.org/prcast prcast worker --concurrency 4
        """
        run_worker(home, concurrency, queues)
