"""`prcast doctor`: a workspace checked end to end without posting anything.

Each check gives one line (ok, warn or fail) and, when it fails, the exit code that kind of
failure has elsewhere in prcast: 2 for the workspace's own files (configuration, templates,
releases, lists, policy, secrets that are missing), 1 for a channel that cannot be reached
or refuses its credentials, 3 for an audit log that does not verify. Secrets are named,
never shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from prcast import clock
from prcast.errors import ExitCode, PrcastError
from prcast.secrets import redact
from prcast.workspace import Workspace

OK, WARN, FAIL = "ok", "warn", "fail"
#: how far the clock may lie behind the audit log's last record before it is not sane
CLOCK_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: str  # ok | warn | fail
    detail: str
    #: the exit code this failure stands for (0 when it did not fail)
    code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fail(name: str, exc: PrcastError) -> Check:
    return Check(name, FAIL, redact(exc.message), int(exc.exit_code))


def _guard(name: str, fn: Callable[[], list[Check]]) -> list[Check]:
    try:
        return fn()
    except PrcastError as exc:
        return [_fail(name, exc)]
    except OSError as exc:
        return [Check(name, FAIL, redact(f"{type(exc).__name__}: {exc}"), int(ExitCode.BAD_INPUT))]


def _config(ws: Workspace) -> list[Check]:
    config = ws.config
    return [
        Check(
            "config",
            OK,
            f"{ws.channels_file.name}: {len(config.channels)} channel(s), timezone {config.timezone}",
        )
    ]


def _templates(ws: Workspace) -> list[Check]:
    """Every template prcast would use (the workspace's, and the shipped ones it does not
    override) compiles, in the environment rendering uses (its extensions, its loader)."""
    import jinja2

    from prcast.render import environment

    env = environment(ws.templates_dir)
    # the channel templates; those in subfolders (conference/) have an environment of their own
    # (the press room's and the report's share it)
    names = [
        n
        for n in env.list_templates(extensions=["j2"])
        if "/" not in n or n.startswith(("pressroom/", "report/"))
    ]
    checks = []
    for name in names:
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or name}:{exc.lineno}"
            checks.append(Check("templates", FAIL, f"{where}: {exc.message}", 2))
        except jinja2.TemplateError as exc:
            checks.append(Check("templates", FAIL, f"{name}: {exc}", 2))
    return checks or [Check("templates", OK, f"{len(names)} template(s) compile")]


def _releases(ws: Workspace) -> list[Check]:
    from prcast.delivery import prepare

    paths = sorted(ws.releases_dir.glob("*.md")) if ws.releases_dir.is_dir() else []
    checks = []
    for path in paths:
        try:
            plan = prepare(ws, str(path))
        except PrcastError as exc:
            checks.append(_fail("releases", exc))
            continue
        posts = sum(len(r.posts) for r in plan.renderings)
        checks.append(Check("releases", OK, f"{path.name}: renders ({posts} post(s))"))
    return checks or [Check("releases", WARN, f"no releases in {ws.releases_dir}")]


def _secrets(ws: Workspace) -> list[Check]:
    checks = []
    for config in ws.config.channels.values():
        for ref in config.secrets():
            source = ref.source()
            if source is None:
                checks.append(
                    Check("secrets", FAIL, f"{config.name}: {ref} is not set ({ref.origin})", 2)
                )
            else:
                checks.append(Check("secrets", OK, f"{config.name}: {ref} found ({source})"))
    return checks or [Check("secrets", OK, "no channel needs a secret")]


def _gitignore(ws: Workspace) -> list[Check]:
    from prcast.secrets import ENV_FILE

    if not (ws.root / ENV_FILE).exists():
        return []
    ignore = ws.root / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    if ENV_FILE in (line.strip() for line in lines):
        return [Check("secrets", OK, f"{ENV_FILE} is listed in .gitignore")]
    return [Check("secrets", WARN, f"{ENV_FILE} holds secrets but .gitignore does not list it")]


def _channels(ws: Workspace) -> list[Check]:
    from prcast.channels import ChannelCheck, check_channel
    from prcast.limits import save_limits

    ready = [c for c in ws.config.channels.values() if all(r.source() for r in c.secrets())]
    skipped = [c for c in ws.config.channels.values() if c not in ready]

    async def run_all() -> list[ChannelCheck]:
        return list(
            await asyncio.gather(*(check_channel(c, ws.root, ws.templates_dir) for c in ready))
        )

    results = asyncio.run(run_all()) if ready else []
    save_limits(ws, {r.name: r.limits for r in results if r.limits is not None})
    checks = [
        Check("channels", OK if r.ok else FAIL, f"{r.name} ({r.type}): {redact(r.detail)}",
              0 if r.ok else int(ExitCode.DELIVERY_FAILED))
        for r in results
    ]  # fmt: skip
    checks += [
        Check("channels", WARN, f"{c.name} ({c.type}): not checked, a secret is missing")
        for c in skipped
    ]
    return checks


def _lists(ws: Workspace) -> list[Check]:
    from prcast.lists import PressList

    press = PressList(ws.lists_dir)
    sizes = []
    for name in press.groups:
        sizes.append(f"{name} {len(press.resolve(name).recipients)}")
    detail = f"{len(press.groups)} group(s)" + (f": {', '.join(sizes)}" if sizes else "")
    return [Check("lists", OK, detail)]


def _policy(ws: Workspace) -> list[Check]:
    from prcast import approvals, policy

    rules = policy.load_policy(ws.root)
    approvers = approvals.load_approvers(ws.root)
    detail = f"policy loads; {len(approvers)} approver(s) registered"
    if rules.required_approvals > len(approvers):
        return [Check("policy", WARN, f"{detail}, {rules.required_approvals} approvals required")]
    return [Check("policy", OK, detail)]


def _audit(ws: Workspace) -> list[Check]:
    from prcast import checkpoint

    in_database = ws.database.is_postgres  # the team's chain, not a file of this folder
    if not in_database and not ws.audit_path.exists():
        return [Check("audit", OK, "no audit log yet")]
    verdict = checkpoint.verify(ws)
    if in_database and not verdict.records:
        return [Check("audit", OK, f"no audit records yet in {ws.database}")]
    if not verdict.ok:
        return [Check("audit", FAIL, "; ".join(verdict.problems), int(ExitCode.AUDIT_BROKEN))]
    signed = f", {len(verdict.checked)} signed checkpoint(s) match" if verdict.checked else ""
    checks = [Check("audit", OK, f"chain verifies: {verdict.records} records{signed}")]
    checks += [Check("audit", WARN, w) for w in verdict.warnings]
    return checks


def _clock(ws: Workspace) -> list[Check]:

    now = clock.now()
    last = None
    if ws.database.is_postgres or ws.audit_path.exists():
        log = ws.audit()
        try:
            for record in log.records():
                last = record.get("ts")
        finally:
            log.close()
    if last:
        at = datetime.fromisoformat(str(last))
        if at - now > CLOCK_SLACK:
            return [
                Check(
                    "clock",
                    FAIL,
                    f"the clock ({now:%Y-%m-%d %H:%M} UTC) is behind the audit log's last record "
                    f"({at:%Y-%m-%d %H:%M} UTC): embargoes and schedules would be wrong",
                    int(ExitCode.BAD_INPUT),
                )
            ]
    local = now.astimezone(ws.timezone)
    return [Check("clock", OK, f"{local:%Y-%m-%d %H:%M %Z} ({ws.config.timezone})")]


def diagnose(ws: Workspace, reach: bool = True) -> Iterator[Check]:
    """Every check in order; later checks that need the configuration are skipped when it
    does not load. `reach` = False leaves out the network (channels)."""
    config = _guard("config", lambda: _config(ws))
    yield from config
    if config[0].status == FAIL:
        return
    steps: list[tuple[str, Callable[[Workspace], list[Check]]]] = [
        ("templates", _templates),
        ("releases", _releases),
        ("secrets", _secrets),
        ("secrets", _gitignore),
        ("lists", _lists),
        ("policy", _policy),
        ("audit", _audit),
        ("clock", _clock),
    ]
    if reach:
        steps.insert(4, ("channels", _channels))
    for name, step in steps:
        yield from _guard(name, lambda step=step: step(ws))  # type: ignore[misc]


def exit_code(checks: list[Check]) -> int:
    """0 when nothing failed; else the failures' code (audit 3 > bad input 2 > delivery 1)."""
    codes = [c.code for c in checks if c.status == FAIL]
    return max(codes, default=0)
