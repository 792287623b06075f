"""`prcast audit verify|show|export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from prcast.cli.common import console, err_console, print_json, workspace
from prcast.fileio import write_output

app = typer.Typer(
    help="Prove and read the hash-chained audit log.\n\n[bold]Example:[/bold] prcast audit verify",
    rich_markup_mode="rich",
    no_args_is_help=True,
)


@app.command()
def verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            "-c",
            help="Also check against this signed checkpoint file, or every *.checkpoint in this folder (repeatable).",
        ),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            "-k",
            help="A verifier key (NAME+ID+KEY, or a file of them, one a line) to trust besides your own (repeatable). In team mode, pinning keys trusts only these and your own: a key the database lists that is not pinned is named as a problem.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check every record's hash and the chain, the log against every signed checkpoint prcast knows (workspace, your config folder, the press room) and those given, and every approval's signature. Exit 0 when intact, 3 naming each problem: altered, deleted, appended, replaced or reordered records.

    In team mode (the chain in PostgreSQL) the checkpoints every machine signed are in the database too, checked with the verifier keys the machines published there; the verdict names which machines signed. Pin the team's keys (--key, or ~/.config/prcast/trusted-keys.txt) for a check an insider with database access cannot pass: a checkpoint altered in the database, or signed by a key that is not the team's, is named.

    [bold]Example:[/bold] prcast audit verify --checkpoint saved.checkpoint
    """
    from prcast import checkpoint as checkpoints
    from prcast.errors import AuditError, ExitCode

    ws = workspace(ctx)
    verdict = checkpoints.verify(ws, checkpoint or [], key or [])
    if as_json:
        print_json(verdict.as_dict())
        if not verdict.ok:
            raise typer.Exit(int(ExitCode.AUDIT_BROKEN))
        return
    err = err_console()
    for w in verdict.warnings:
        err.print(f"warning: {w}", style="yellow", markup=False, soft_wrap=True)
    if not verdict.ok:
        raise AuditError(
            f"audit log NOT intact ({verdict.records} records):\n"
            + "\n".join(f"- {p}" for p in verdict.problems),
            hint="the records named above are not what was written and signed",
        )
    latest = verdict.checked[-1].checkpoint.size if verdict.checked else 0
    signed = (
        f"; matches {len(verdict.checked)} signed checkpoint(s), the latest covering {latest}"
        if verdict.checked
        else ""
    )
    console().print(f"[green]audit log intact[/green]: {verdict.records} records{signed}")
    for s in verdict.signers:
        host = f" on {s['host']}" if s["host"] else ""
        console().print(
            f"  signed by {s['name']}{host}: {s['checkpoints']} checkpoint(s), the latest"
            f" covering {s['latest']}",
            markup=False,
        )


@app.command("checkpoint")
def checkpoint_cmd(
    ctx: typer.Context,
    vouch: Annotated[
        bool,
        typer.Option(
            "--vouch",
            help="Also sign records this account's prcast did not write (after you checked them).",
        ),
    ] = False,
) -> None:
    """Sign a checkpoint of the audit log now (prcast does so after every command that writes to it) and print it: keep a copy outside the workspace.

    [bold]Example:[/bold] prcast audit checkpoint > ~/press-audit.checkpoint
    """
    from prcast.checkpoint import seal

    sealed = seal(workspace(ctx), vouch_all=vouch)
    err = err_console()
    if sealed.created_key is not None:
        err.print(f"created the audit signing key {sealed.created_key}", markup=False)
    if sealed.unvouched:
        first, last = sealed.unvouched
        err.print(
            f"warning: records {first}-{last} were not written by this account's prcast and are "
            "not signed; check them, then `prcast audit checkpoint --vouch`",
            style="yellow", markup=False, soft_wrap=True,
        )  # fmt: skip
    if sealed.signed is None:
        err.print("the audit log is empty: nothing to sign", markup=False)
        return
    sys.stdout.write(sealed.signed.note)


@app.command()
def witness(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="A Matrix or email channel of channels.toml.")],
    to: Annotated[
        str | None, typer.Option("--to", help="The address, for an email channel.")
    ] = None,
) -> None:
    """Send the latest signed checkpoint to a witness outside the workspace — a Matrix room, or an email address (an auditor, the legal team) — and record that in the audit log. Run it from cron after `prcast run-due`, or after a send.

    [bold]Example:[/bold] prcast audit witness press-mail --to audit@example.org
    """
    from prcast.checkpoint import witness as send_witness

    sent = send_witness(workspace(ctx), channel, to)
    where = f" to {sent['to']}" if sent["to"] else ""
    console().print(
        f"checkpoint of {sent['size']} records sent through {sent['channel']}{where}", markup=False
    )


@app.command()
def consistency(
    ctx: typer.Context,
    old: Annotated[Path, typer.Argument(help="An older signed checkpoint of this log.")],
    key: Annotated[
        list[str] | None,
        typer.Option("--key", "-k", help="The verifier key that signed it, if not yours."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the proof to this file.")
    ] = None,
) -> None:
    """Print a consistency proof (RFC 9162) that the latest signed checkpoint extends an older one: whoever kept the old checkpoint checks the new one without the log.

    [bold]Example:[/bold] prcast audit consistency saved.checkpoint -o consistency.json
    """
    import json

    from prcast.checkpoint import consistency as make_proof

    try:
        note = old.read_text(encoding="utf-8")
    except OSError as exc:
        from prcast.errors import InputError

        raise InputError(f"cannot read checkpoint: {exc.strerror}", path=old) from None
    proof = make_proof(workspace(ctx), note, key or [])
    text = json.dumps(proof, ensure_ascii=False, indent=2) + "\n"
    if output:
        write_output(output, text)
    else:
        sys.stdout.write(text)


@app.command("key")
def key_cmd(ctx: typer.Context) -> None:
    """Print the verifier key of your audit signing key (created on first use, in your config folder): give it to whoever checks your checkpoints.

    [bold]Example:[/bold] prcast audit key
    """
    from prcast import keys

    key, created = keys.audit_key(create=True)
    assert key is not None
    if created:
        err_console().print(f"created the audit signing key {key.path}", markup=False)
    sys.stdout.write(key.verifier.vkey + "\n")


@app.command()
def prove(
    ctx: typer.Context,
    record: Annotated[int, typer.Argument(help="The record's number (seq).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the proof to this file.")
    ] = None,
) -> None:
    """Print an inclusion proof of one record in the latest signed checkpoint (JSON: the record's line, the Merkle audit path, the signed checkpoint, the verifier key): a third party checks it with the public key alone.

    [bold]Example:[/bold] prcast audit prove 17 -o record-17.proof.json
    """
    import json

    from prcast.checkpoint import prove as make_proof

    text = json.dumps(make_proof(workspace(ctx), record), ensure_ascii=False, indent=2) + "\n"
    if output:
        write_output(output, text)
    else:
        sys.stdout.write(text)


@app.command()
def show(
    ctx: typer.Context,
    run: Annotated[str | None, typer.Option("--run", help="Only records of this run.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the records as a JSON array.")
    ] = False,
    last: Annotated[int | None, typer.Option("--last", help="Only the last N records.")] = None,
) -> None:
    """Show audit records, oldest first.

    [bold]Example:[/bold] prcast audit show --run run-3f2a9c1d0e4b --json
    """
    from rich.table import Table

    log = workspace(ctx).audit()
    records = [r for r in log.records() if run is None or r.get("run") == run]
    if log.torn:
        err_console().print(
            f"warning: a torn last line ({log.torn} bytes, a crash mid-append) is not shown; "
            "the next append removes it and records that",
            style="yellow", markup=False, soft_wrap=True,
        )  # fmt: skip
    if last is not None:
        records = records[-last:]
    if as_json:
        print_json(records)
        return
    table = Table()
    for col in ("#", "time (UTC)", "type", "run", "channel", "part", "detail"):
        table.add_column(col)
    for r in records:
        detail = r.get("url") or r.get("reason") or r.get("release") or ""
        table.add_row(
            str(r["seq"]),
            r["ts"][:19],
            r["type"],
            r.get("run", ""),
            r.get("channel", ""),
            str(r.get("part", "")),
            str(detail),
        )
    console().print(table)


@app.command()
def export(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option("--out", "--output", "-o", help="Write to this file (default: stdout)."),
    ] = None,
    checkpoints_dir: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="Also write the signed checkpoints the log matches into this folder, with keys.txt: the verifier keys that signed them.",
        ),
    ] = None,
) -> None:
    """Export the audit log as JSON Lines (verified first, against its checkpoints too):
    the file log as it is, or the chain a team keeps in PostgreSQL, as the file any
    verifier reads (`prcast audit verify` in a copy of the workspace, or any JSON Lines
    hash-chain checker). With --checkpoints DIR, the signed checkpoints (every machine's,
    in team mode) and keys.txt go there: a verifier copies the file to .prcast/audit.jsonl
    of a folder with a channels.toml (empty will do) and runs `prcast audit verify --checkpoint DIR --key DIR/keys.txt`.

    [bold]Example:[/bold] prcast audit export --out audit-2026-11.jsonl --checkpoints audit-2026-11.checkpoints
    """
    from prcast import checkpoint as checkpoints
    from prcast.audit import canonical
    from prcast.errors import AuditError

    ws = workspace(ctx)
    verdict = checkpoints.verify(ws)
    if not verdict.ok:
        raise AuditError(
            "audit log NOT intact, not exported:\n" + "\n".join(f"- {p}" for p in verdict.problems)
        )
    log = ws.audit()
    try:
        lines = "".join(canonical(r) + "\n" for r in log.records())
    finally:
        log.close()
    if checkpoints_dir is not None:
        from prcast.fileio import write_atomic

        for s in verdict.checked:
            name = f"{s.checkpoint.size:012d}-{s.key.id.hex()}{checkpoints.SUFFIX}"
            write_atomic(checkpoints_dir / name, s.note.encode("utf-8"))
        signers = sorted({s.key.vkey for s in verdict.checked})
        write_atomic(
            checkpoints_dir / "keys.txt", "".join(k + "\n" for k in signers).encode("utf-8")
        )
        err_console().print(
            f"{len(verdict.checked)} signed checkpoint(s) and {len(signers)} verifier key(s)"
            f" written to {checkpoints_dir}",
            markup=False,
        )
    if output:
        write_output(output, lines)
    else:
        sys.stdout.write(lines)
