"""`prcast check`, `prcast approve`, `prcast approvals`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from prcast.cli.common import console, err_console, print_json, workspace
from prcast.errors import ExitCode

ReleaseArg = Annotated[str, typer.Argument(help="Release file, or its name under releases/.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def check(ctx: typer.Context, release: ReleaseArg, as_json: JsonOpt = False) -> None:
        """Lint a release: the confidentiality policy (policy.toml), post lengths on every channel, and the embargo. Each finding with its line and the rule that fired; exit 2 when something blocks.

        [bold]Example:[/bold] prcast check releases/example.md
        """
        from prcast import policy
        from prcast.delivery import prepare
        from prcast.errors import InputError
        from prcast.release import load_release

        ws = workspace(ctx)
        rel = load_release(ws.release_path(release))  # a broken release is an error, as everywhere
        findings = policy.check_release(policy.load_policy(ws.root), rel)
        plan_error: InputError | None = None
        try:
            renderings = prepare(ws, release).renderings
        except InputError as exc:  # a post that cannot be split, a broken template: a finding here
            if exc.path is None:
                raise
            renderings, plan_error = (), exc
        channels = [
            {"channel": r.channel.name, "posts": len(r.posts), "longest": max((p.length for p in r.posts), default=0),
             "limit": r.posts[0].limit if r.posts else r.channel.limit} for r in renderings
        ]  # fmt: skip
        blocked = [f for f in findings if f.action == "block"]
        if as_json:
            print_json({"release": rel.id, "findings": [dataclasses.asdict(f) for f in findings], "channels": channels,
                        "length_error": plan_error.message if plan_error else None,
                        "embargo": rel.embargo.isoformat() if rel.embargo else None})  # fmt: skip
        else:
            con, err = console(), err_console()
            for f in findings:
                (err if f.action == "block" else con).print(
                    f.show(rel),
                    style="red" if f.action == "block" else "yellow",
                    markup=False,
                    highlight=False,
                )
            if plan_error:
                err.print(plan_error.message, style="red", markup=False)
            for c in channels:
                con.print(
                    f"{c['channel']}: {c['posts']} post(s), longest {c['longest']}/{c['limit']}",
                    markup=False,
                )
            if rel.embargo:
                con.print(f"embargo until {rel.embargo.isoformat()}", markup=False)
            if not findings and not plan_error:
                con.print("[green]no findings[/green]")
        if blocked or plan_error:
            raise typer.Exit(int(ExitCode.BAD_INPUT))

    @app.command()
    def approve(
        ctx: typer.Context,
        release: ReleaseArg,
        by: Annotated[
            str, typer.Option("--by", help="Who approves (a name; each approver counts once).")
        ],
        note: Annotated[
            str | None, typer.Option("--note", help="A note for the audit log.")
        ] = None,
    ) -> None:
        """Approve exactly the text that would be sent now: records the approver and the SHA-256 of every channel's rendered posts in the audit log. Any later edit invalidates the approval.

        [bold]Example:[/bold] prcast approve releases/example.md --by "Jana Example" --note "legal ok"
        """
        from prcast import policy
        from prcast.audit import AuditLog
        from prcast.delivery import prepare

        ws = workspace(ctx)
        plan = prepare(ws, release)
        digests = policy.content_digests(plan.renderings)
        AuditLog(ws.audit_path).append("release.approved", release=plan.release.id, release_sha256=plan.release.sha256,
                                       by=by.strip(), note=note, channels=digests)  # fmt: skip
        console().print(f"approved by {by.strip()}: {', '.join(digests)}", markup=False)

    @app.command()
    def approvals(ctx: typer.Context, release: ReleaseArg, as_json: JsonOpt = False) -> None:
        """Show who approved a release, whether each approval still covers the current text, and how many are required.

        [bold]Example:[/bold] prcast approvals releases/example.md
        """
        from prcast import policy
        from prcast.audit import AuditLog
        from prcast.delivery import prepare

        ws = workspace(ctx)
        plan = prepare(ws, release)
        digests = policy.content_digests(plan.renderings)
        rules = policy.load_policy(ws.root)
        rows = []
        for a in policy.approvals_of(list(AuditLog(ws.audit_path).records()), plan.release.id):
            changed = sorted(ch for ch, d in digests.items() if a.get("channels", {}).get(ch) != d)
            rows.append(
                {
                    "by": a["by"],
                    "at": a["ts"],
                    "note": a.get("note"),
                    "current": not changed,
                    "changed": changed,
                }
            )
        current = {r["by"] for r in rows if r["current"]}
        if as_json:
            print_json(
                {
                    "release": plan.release.id,
                    "required": rules.required_approvals,
                    "approved_by": sorted(current),
                    "approvals": rows,
                }
            )
            return
        con = console()
        for r in rows:
            state = (
                "covers the current text"
                if r["current"]
                else f"outdated: {', '.join(r['changed'])} changed"
            )
            con.print(f"{r['at'][:19]}  {r['by']}: {state}", markup=False)
        con.print(f"{len(current)} of {rules.required_approvals} required approvals", markup=False)
