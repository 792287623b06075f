"""The prcast command line. Each command module parses, calls the core, prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from prcast import __version__
from prcast.cli import (
    approver,
    audit,
    channels,
    completion,
    conference,
    db,
    doctor,
    lists,
    publish,
    report,
    review,
    schedule,
    worker,
    workspace,
)
from prcast.cli.common import Settings, print_error
from prcast.errors import AbortedError, ExitCode, PrcastError, StorageError, refused_write


def _debugging(ctx: Any) -> bool:
    # the settings exist only once the root callback ran, so look them up at the error
    settings = ctx.find_object(Settings)
    return bool(settings is not None and settings.debug)


#: options of the root command that may also be written after the subcommand
_GLOBAL_FLAGS = ("--debug",)
#: the same, for options that take a value (`--workspace DIR`, `-w DIR`, `--workspace=DIR`)
_GLOBAL_VALUED = ("--workspace", "-w")


def _hoist_global_options(args: list[str]) -> list[str]:
    """`prcast send REL --debug -w DIR` means `prcast --debug -w DIR send REL` (up to a `--`)."""
    end = args.index("--") if "--" in args else len(args)
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < end:
        arg = args[i]
        if arg in _GLOBAL_FLAGS or arg.startswith("--workspace="):
            hoisted.append(arg)
        elif arg in _GLOBAL_VALUED and i + 1 < end:
            hoisted += [arg, args[i + 1]]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest + args[end:]


class PrcastGroup(TyperGroup):
    """The one error boundary: PrcastError becomes a red line, a hint and its exit code."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the root command sees the whole command line
            args = _hoist_global_options(list(args))
        return list(super().parse_args(ctx, args))

    def invoke(self, ctx: Any) -> Any:
        loaded_keys = sys.modules.get("prcast.keys")
        if loaded_keys is not None:
            loaded_keys.created.clear()
        disk_said = False  # the command stopped on a full disk, and said so
        try:
            return super().invoke(ctx)
        except typer.Abort:  # Ctrl-C or end of input at a question: the user's decision
            print_error(AbortedError("aborted: nothing was done"))
            ctx.exit(int(ExitCode.ABORTED))
        except (typer.Exit, TyperException):
            raise
        except PrcastError as exc:
            if _debugging(ctx):
                raise
            print_error(exc)
            disk_said = isinstance(exc, StorageError)
            ctx.exit(int(exc.exit_code))
        except Exception as exc:
            if _debugging(ctx):
                raise
            stopped = refused_write(exc) if isinstance(exc, OSError) else None
            if stopped is not None:  # a full or read-only disk, the file named
                print_error(stopped)
                disk_said = True
                ctx.exit(int(stopped.exit_code))
            kind = (
                "I/O error"
                if isinstance(exc, OSError)
                else f"internal error ({type(exc).__name__})"
            )
            print_error(PrcastError(f"{kind}: {exc}", hint="run with --debug for the traceback"))
            ctx.exit(int(ExitCode.DELIVERY_FAILED))
        finally:
            # every command that wrote to an audit log ends with a signed checkpoint of it
            seal_appended(quiet_about_disk=disk_said)


def _os_reason(exc: OSError) -> str:
    """ "No space left on device: /path", as the system says it, with the file if known."""
    from prcast.errors import storage_reason

    return f"{storage_reason(exc)}: {exc.filename}" if exc.filename else storage_reason(exc)


def seal_appended(quiet_about_disk: bool = False) -> None:
    """Sign a checkpoint of each audit log this command wrote to; say so when a signing key
    was created, and warn (on stderr) about what could not be signed (not again about the
    full disk the command stopped on: `quiet_about_disk`)."""
    from prcast import audit as audit_log

    paths = sorted(audit_log.appended)
    audit_log.appended.clear()
    if not paths:
        return
    from prcast import keys
    from prcast.checkpoint import seal
    from prcast.cli.common import err_console
    from prcast.workspace import STATE_DIR, Workspace

    for path in paths:
        if path.parent.name != STATE_DIR:
            continue
        try:
            sealed = seal(Workspace(path.parent.parent))
        except (PrcastError, OSError) as exc:  # e.g. a full disk: the command's error stands
            if quiet_about_disk and isinstance(exc, (StorageError, OSError)):
                continue  # the one message said it; the next command signs what is left
            reason = exc.message if isinstance(exc, PrcastError) else _os_reason(exc)
            err_console().print(f"warning: no audit checkpoint signed: {reason}",
                                style="yellow", markup=False, soft_wrap=True)  # fmt: skip
            continue
        con = err_console()
        if keys.created and sealed.signed is not None:
            con.print(f"created the audit signing key {keys.created[0]} (keep it outside the "
                      f"workspace; back it up). Its verifier key, to publish:\n{sealed.signed.key.vkey}",
                      markup=False, soft_wrap=True)  # fmt: skip
            keys.created.clear()
        if sealed.unvouched:
            first, last = sealed.unvouched
            con.print(f"warning: audit records {first}-{last} were not written by this account's "
                      "prcast and are not signed: check them (prcast audit verify)",
                      style="yellow", markup=False, soft_wrap=True)  # fmt: skip


app = typer.Typer(
    cls=PrcastGroup,
    name="prcast",
    help=(
        "prcast, a command-line press office: write a release once, publish it to every "
        "channel, keep an audit log that holds up afterwards.\n\n"
        "[bold]Example:[/bold] prcast init press && cd press && prcast send releases/example.md --yes\n\n"
        "Global options (--workspace/-w, --debug) may come before or after the command. "
        "Commands that report take --json (a stable shape, see the README).\n\n"
        "Completion: prcast --install-completion, or prcast completion bash|zsh|fish.\n\n"
        "[bold]Exit codes:[/bold] 0 ok, all delivered; 1 a delivery failed (or the run stopped: a "
        "full disk, a lost database; prcast resume finishes it); 2 bad input or refused "
        "(policy, embargo, conflict, a past time); 3 audit log broken; 4 aborted by the user "
        "(answered no, or no terminal to ask: add --yes)."
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prcast {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace_dir: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="PRCAST_WORKSPACE",
            help="Workspace folder (default: the nearest folder upwards with a channels.toml).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """prcast, a command-line press office."""
    ctx.obj = Settings(workspace=workspace_dir, debug=debug)


workspace.register(app)
publish.register(app)
review.register(app)
app.add_typer(channels.app, name="channels")
app.add_typer(lists.app, name="lists")
app.add_typer(schedule.app, name="schedule")
schedule.register(app)
app.add_typer(conference.app, name="conference")
app.add_typer(audit.app, name="audit")
app.add_typer(db.app, name="db")
app.add_typer(approver.app, name="approver")
report.register(app)
doctor.register(app)
completion.register(app)
worker.register(app)


def main() -> None:
    """Console-script entry point."""
    app(args=sys.argv[1:], prog_name="prcast")
