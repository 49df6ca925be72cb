"""`shipyard gates`, `approve`, `lock`, `unlock`: what stands between a version and a deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shipyard.cli.common import FILE, JSON, console, emit, json_mode, open_store
from shipyard.cli.release_common import actor, remote, root, spec, ttl


def gates(
    env: str = typer.Argument(..., help="The environment to deploy to."),
    version: str | None = typer.Option(None, help="Default: what the previous environment runs."),
    at: str | None = typer.Option(None, "--at", help="Judge at this ISO time instead of now."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Each gate's verdict and why; exit 5 when one fails."""
    from shipyard.errors import InputError, Refused
    from shipyard.services.compliance import gates as svc
    from shipyard.services.coordination.coordination import parse_at

    params = {k: v for k, v in {"version": version, "at": at}.items() if v}
    data: Any = remote("GET", f"/gates/{env}", params=params)
    if data is None:
        s, store = spec(file), open_store()
        version = version or svc.default_version(store, s, env)
        if version is None:
            raise InputError(
                f"nothing to judge for {env}: no version was published",
                "pass --version",
                code="version-missing",
            )
        verdict = svc.check(store, s, env, version, actor(), parse_at(at), root(file))
        data = svc.verdict_dict(verdict, env, version)
    failed = [g["name"] for g in data["gates"] if not g["passed"]]
    if not (failed and json_mode(json_)):

        def human() -> None:
            c = console()
            c.print(f"gates for {data['version']} -> {data['environment']}:")
            for g in data["gates"]:
                mark = (
                    "[cyan]override[/]"
                    if g["overridden_by"]
                    else ("[green]pass[/]" if g["passed"] else "[red]FAIL[/]")
                )
                c.print(f"  {mark} {g['name']}: {g['reason']}")

        emit(data, json_, human)
    if failed:
        raise Refused(
            f"{len(failed)} gate(s) block {data['version']} -> {env}: {', '.join(failed)}",
            "fix what each gate says, or request break-glass for an emergency",
            code="gates-failed",
            details=data,
        )


def approve(
    env: str = typer.Argument(..., help="The environment the approval is for."),
    version: str = typer.Option(..., help="The version approved."),
    comment: str = typer.Option("", help="Why, or what was checked."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Approve exactly what is published as VERSION now (not its author or deployer)."""
    from datetime import UTC, datetime

    from shipyard.services.compliance import approvals

    body = {"environment": env, "version": version, "comment": comment}
    data = remote("POST", "/approvals", json=body)
    if data is None:
        data = approvals.approve(
            open_store(), spec(file), env, version, actor(), datetime.now(UTC), comment
        )
    emit(
        data,
        json_,
        lambda: console().print(
            f"{data['approver']} approved {version} ({data['release_digest']}) for {env}"
        ),
    )


def lock(
    env: str = typer.Argument(..., help="The environment to lock."),
    reason: str = typer.Option(..., help="Why deploys must wait."),
    ttl_: str | None = typer.Option(None, "--ttl", help="Release it by itself after 2h, 1d, ..."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Hold the environment's deploy lock; others' deploys are blocked until unlock."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import locks

    life = ttl(ttl_)
    data = remote("POST", f"/locks/{env}", json={"reason": reason, "ttl": ttl_})
    if data is None:
        data = locks.lock(open_store(), spec(file), env, actor(), reason, datetime.now(UTC), life)
    emit(data, json_, lambda: console().print(f"{env} locked by {data['held_by']}"))


def unlock(
    env: str = typer.Argument(..., help="The environment to unlock."),
    force: bool = typer.Option(False, help="Take off someone else's lock (recorded)."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Release the environment's deploy lock."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import locks

    data = remote("DELETE", f"/locks/{env}", params={"force": str(force).lower()})
    if data is None:
        data = locks.unlock(open_store(), spec(file), env, actor(), datetime.now(UTC), force=force)
    emit(data, json_, lambda: console().print(f"{env} unlocked"))
