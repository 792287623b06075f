"""`prcast check`, `prcast approve`, `prcast approvals`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, tzinfo
from typing import Annotated

import typer

from prcast.cli.common import console, err_console, print_json, workspace
from prcast.cli.completion import release_names
from prcast.errors import ExitCode

ReleaseArg = Annotated[
    str,
    typer.Argument(help="Release file, or its name under releases/.", autocompletion=release_names),
]
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
        as_: Annotated[
            str | None,
            typer.Option("--as", help="Which of your approver keys (when you hold several)."),
        ] = None,
        note: Annotated[
            str | None, typer.Option("--note", help="A note for the audit log.")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Approve exactly the text that would be sent now: signs, with your approver key, the SHA-256 of every channel's rendered posts, and records the signature in the audit log. Only keys listed in approvers.toml count; any later edit invalidates the approval.

        [bold]Example:[/bold] prcast approve releases/example.md --note "legal ok"
        """
        from prcast import approvals, policy
        from prcast.delivery import prepare

        ws = workspace(ctx)
        key = approvals.own_key(as_)
        plan = prepare(ws, release)
        digests = policy.content_digests(plan.renderings)
        texts = approvals.texts_of(plan.renderings)
        data = approvals.sign(key, plan.release.id, plan.release.sha256, digests, note, texts)
        record = ws.audit().append("release.approved", **data)
        registered = {a.key.public: a.name for a in approvals.load_approvers(ws.root)}
        name = registered.get(key.verifier.public)
        if as_json:
            print_json({"release": plan.release.id, "record": record.get("seq"), "by": name or key.name,
                        "key": key.verifier.vkey, "registered": name is not None,
                        "signed_at": data["signed_at"], "channels": digests, "note": note})  # fmt: skip
        else:
            console().print(
                f"approved as {name or key.name} (signed): {', '.join(digests)}", markup=False
            )
        if name is None:
            err_console().print(
                f"warning: your key {key.name} is not in approvers.toml: this approval does not count "
                f"until it is added (prcast approver add --name NAME {key.verifier.vkey})",
                style="yellow", markup=False, soft_wrap=True,
            )  # fmt: skip

    @app.command()
    def approvals(
        ctx: typer.Context,
        release: ReleaseArg,
        show_diff: Annotated[
            bool,
            typer.Option(
                "--diff", help="For an outdated approval, show what changed since (unified diff)."
            ),
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Show each approval of a release: who signed it, whether the signature verifies by a key in approvers.toml, whether it still covers the current text and has not expired, and how many are required. With --diff, an outdated approval shows a unified diff of the approved text against the current one.

        [bold]Example:[/bold] prcast approvals releases/example.md --diff
        """
        from prcast import approvals as signed
        from prcast import policy
        from prcast.delivery import prepare

        ws = workspace(ctx)
        plan = prepare(ws, release)
        digests = policy.content_digests(plan.renderings)
        rules = policy.load_policy(ws.root)
        approvers = signed.load_approvers(ws.root)
        records = policy.approvals_of(ws.audit().verified_records(), plan.release.id)
        standings = signed.judge(records, digests, approvers, rules.approval_ttl)
        current = signed.counted(standings, approvers)
        now_texts = signed.texts_of(plan.renderings) if show_diff else {}

        def diffs(s: signed.Standing) -> dict[str, str]:
            return {ch: signed.diff(s.texts, now_texts, ch) for ch in s.changed}

        if as_json:
            print_json({
                "release": plan.release.id,
                "required": rules.required_approvals,
                "approved_by": current,
                "approvals": [
                    {"record": s.seq, "by": s.by, "at": s.at, "note": s.note, "signed": s.signed,
                     "registered": s.registered is not None, "current": not s.changed,
                     "changed": list(s.changed), "expired": s.expired, "counts": s.counts,
                     **({"diff": diffs(s)} if show_diff else {})}
                    for s in standings
                ],
            })  # fmt: skip
            return
        con = console()
        for s in standings:
            con.print(f"{_local(s.at, ws.timezone)}  {s.by}: {s.state}", markup=False)
            for text in diffs(s).values() if show_diff else ():
                for line in text.splitlines():
                    style = (
                        "green" if line.startswith("+") else "red" if line.startswith("-") else None
                    )
                    con.print(line, style=style, markup=False, highlight=False)
        con.print(f"{len(current)} of {rules.required_approvals} required approvals", markup=False)


def _local(at: str, zone: tzinfo) -> str:
    """An audit time (ISO 8601, UTC) in the workspace's time zone, with the zone's name."""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at[:19]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
