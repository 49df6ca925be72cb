"""`shipyard deploy`, `shipyard env` and `shipyard rollout`: deployments and their control."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shipyard.cli.common import (
    FILE,
    JSON,
    console,
    emit,
    interactive,
    json_mode,
    open_store,
    settings,
)

if TYPE_CHECKING:
    from shipyard.adapters.controllers import ProcessControllers
    from shipyard.spec.models import Spec

rollout = typer.Typer(
    help="Watch and steer the running rollout.", add_completion=False, no_args_is_help=True
)
env_app = typer.Typer(help="What runs where.", add_completion=False, invoke_without_command=True)


def _spec(file: Path | None) -> tuple[Any, Path]:
    from shipyard.spec.load import find_spec, load_spec

    path = find_spec(file=file)
    return load_spec(path), path.parent


def _remote(method: str, path: str, **kw: Any) -> Any | None:
    """The server's answer when SHIPYARD_SERVER is set, else None (run in-process)."""
    s = settings()
    if not s.server_url:
        return None
    from shipyard.cli.client import call

    return call(s.server_url, s.token, method, "/api/v1" + path, **kw)


def _server(method: str, path: str, **kw: Any) -> Any:
    """The server's answer where SHIPYARD_SERVER is known to be set (a rollout it drives)."""
    data = _remote(method, path, **kw)
    assert data is not None
    return data


def _follow(environment: str, deployment_id: str, line: Any) -> dict[str, Any]:
    """A rollout the server's controller drives, polled until it ends; its steps are printed
    as the local deploy prints them."""
    import time

    seen: tuple[Any, ...] = ()
    while True:
        data: dict[str, Any] = _server("GET", f"/rollouts/{environment}")
        if data["id"] != deployment_id:
            from shipyard.errors import Conflict

            raise Conflict(
                f"deployment {deployment_id} is no longer the one running in {environment}",
                f"see `shipyard audit log --subject deployment:{deployment_id}`",
                code="rollout-replaced",
            )
        now = (data["phase"], data["step"], data["status"])
        if now != seen and line is not None:
            line(data["step"], data)
        seen = now
        if data["status"] not in ("pending", "running"):
            return data
        time.sleep(0.25)


def _actor() -> str:
    from shipyard.identity import actor

    return actor()


def _printer(as_json: bool) -> Any:
    """Decision lines as they happen: plain lines, or above a live status on a terminal."""
    if as_json:
        return None, None
    if not interactive():

        def plain(text: str, data: dict[str, Any]) -> None:
            weights = data.get("weights")
            w = f" [stable {weights['stable']}% canary {weights['canary']}%]" if weights else ""
            sys.stdout.write(f"{data.get('phase', '-')}{w}: {text}\n")
            sys.stdout.flush()

        return plain, None
    con = console()
    status = con.status("starting the rollout")

    def live(text: str, data: dict[str, Any]) -> None:
        weights = data.get("weights")
        w = f" [stable {weights['stable']}% canary {weights['canary']}%]" if weights else ""
        con.print(f"[bold]{data.get('phase', '-')}[/]{w}: {text}")
        if data.get("step"):
            status.update(f"{data['phase']}: {data['step']}")

    return live, status


def deploy(
    environment: str = typer.Argument(..., help="The environment to deploy to."),
    version: str | None = typer.Option(
        None, "--version", help="Default: the version live in the environment it promotes from."
    ),
    artifact: str | None = typer.Option(None, "--artifact", help="The artifact name."),
    detach: bool = typer.Option(False, "--detach", help="Start the rollout and return."),
    allow_destructive: str | None = typer.Option(
        None,
        "--allow-destructive",
        metavar="REASON",
        help="Run a migration with destructive statements; the reason is recorded.",
    ),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Roll a version out to an environment the way shipyard.yaml says."""
    from shipyard.services.deployments import deploy as svc

    spec, root = _spec(file)
    remote = bool(settings().server_url)  # then the server records it, its controller drives it
    store = None if remote else open_store(root)
    if store is not None:
        _supervise(store, spec, root, environment)
    if detach:
        if store is None:
            body = {"environment": environment, "version": version, "artifact": artifact}
            created = _server("POST", "/deployments", json=_with(body, allow_destructive))
        else:
            created = svc.detach(
                store,
                spec,
                root,
                environment,
                controllers=_controllers(root),
                version=version,
                artifact=artifact,
                actor=_actor(),
                allow_destructive=allow_destructive,
            )
        emit(created, json_, lambda: console().print(f"started deployment {created['id']}"))
        return
    line, status = _printer(json_mode(json_))
    try:
        if status is not None:
            status.start()
        if store is None:
            body = {"environment": environment, "version": version, "artifact": artifact}
            created = _server("POST", "/deployments", json=_with(body, allow_destructive))
            for note in created.get("notes", []):
                if line is not None:
                    line(note, {})
            out: Mapping[str, Any] = {
                "service": created.get("service"),
                **_follow(environment, created["id"], line),
            }
        else:
            out = svc.deploy(
                store,
                spec,
                root,
                environment,
                version=version,
                artifact=artifact,
                actor=_actor(),
                on_line=line,
                allow_destructive=allow_destructive,
            )
    finally:
        if status is not None:
            status.stop()
    _finished(out, environment, json_)


def _with(body: dict[str, Any], allow_destructive: str | None) -> dict[str, Any]:
    return body | {"allow_destructive": allow_destructive}


def _finished(out: Mapping[str, Any], environment: str, json_: bool) -> None:
    """The deployment's end: printed when it succeeded, else an error with it in its details."""
    from shipyard.errors import ShipyardError

    if out["status"] != "succeeded":
        see = f"see `shipyard rollout status {environment}` and `shipyard audit log`"
        if out["status"] == "rolled-back":
            see = f"{environment} is back to what it ran before; {see}"
        # One document on stdout with --json: the error, the deployment in its details.
        raise ShipyardError(
            f"deployment {out['id']} of {out['version']} to {environment} {out['status']}: "
            f"{out['reason']}",
            see,
            code=f"deployment-{out['status']}",
            details={"deployment": out},
        )
    emit(out, json_, lambda: None)


def rollback(
    environment: str = typer.Argument(..., help="The environment to roll back."),
    to: str | None = typer.Option(
        None, "--to", help="A version live there before. Default: the one before the current."
    ),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Go straight back to an earlier version, skipping every step and analysis."""
    from shipyard.errors import ShipyardError
    from shipyard.services.deployments import deploy as svc

    spec, root = _spec(file)
    store = open_store(root)
    as_json = json_mode(json_)
    _supervise(store, spec, root, environment)
    line, status = _printer(as_json)
    try:
        if status is not None:
            status.start()
        out = svc.rollback(store, spec, environment, to=to, actor=_actor(), on_line=line)
    finally:
        if status is not None:
            status.stop()
    emit(out, json_, lambda: None)
    if out["status"] != "succeeded":
        raise ShipyardError(
            f"rollback {out['id']} of {environment} to {out['version']} {out['status']}: "
            f"{out['reason']}",
            f"see `shipyard rollout status {environment}` and the instance logs",
            code=f"rollback-{out['status']}",
        )


def _supervise(store: Any, spec: Spec, root: Path, environment: str) -> None:
    """Start the environment's supervisor (once): it outlives this command, watches what is
    live and takes over a rollout whose controller stops."""
    from shipyard.services.deployments import supervisor

    if environment in spec.environments:
        supervisor.ensure(store, root, environment)


def _controllers(root: Path) -> ProcessControllers:
    """A controller of its own for `deploy --detach`: it takes the deployment's lease, and logs
    its decisions with it (`rollout status`); what it prints goes to a file beside the state."""
    from shipyard.adapters.controllers import ProcessControllers

    return ProcessControllers(root, settings(root).home / "deploy")


def deployments(
    environment: str | None = typer.Argument(None, help="Only this environment."),
    limit: int = typer.Option(20, min=1, help="At most this many, newest first."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Deployment history: version, strategy, result and reason, newest first."""
    from shipyard.services.deployments import deploy as svc

    spec, root = _spec(file)
    data = svc.history(open_store(root), spec, environment, limit)

    def human() -> None:
        from rich.table import Table

        table = Table(
            "id", "started", "environment", "version", "strategy", "result", "reason", box=None
        )
        table.columns[-1].overflow = "fold"
        for d in data["deployments"]:
            result = d["status"] if d["status"] != "running" else f"running ({d['phase']})"
            table.add_row(
                d["id"],
                d["created_at"][:19].replace("T", " "),
                d["environment"],
                d["version"],
                d["strategy"],
                result,
                d["reason"] or "-",
            )
        console().print(table)

    emit(data, json_, human)


@env_app.callback()
def env(
    ctx: typer.Context,
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Show each environment's live version, phase, traffic weights and instances."""
    if ctx.invoked_subcommand is not None:
        return
    from shipyard.services.deployments import environments as env_svc

    data = _remote("GET", "/environments")
    if data is None:
        spec, root = _spec(file)
        data = env_svc.environments(open_store(root), spec)

    def human() -> None:
        from rich.table import Table

        table = Table(
            "environment",
            "version",
            "config",
            "phase",
            "health",
            "weights",
            "instances",
            "supervisor",
            "url",
            box=None,
        )
        for e in data["environments"]:
            weights = " ".join(f"{k}={v}%" for k, v in sorted(e["weights"].items()))
            pools: dict[str, int] = {}
            for i in e["instances"]:
                pools[f"{i['pool']}:{i['version']}"] = (
                    pools.get(f"{i['pool']}:{i['version']}", 0) + 1
                )
            unwell = [
                f"{i['pool']}:{i['pid']} {i.get('health')}"
                + (f" ({i['restarts']} restarts)" if i.get("restarts") else "")
                for i in e["instances"]
                if i.get("health") not in (None, "ready") or i.get("restarts")
            ]
            sup: Mapping[str, Any] = e.get("supervisor") or {}
            table.add_row(
                e["environment"],
                e["version"] or "-",
                e["config_revision"] or "-",
                e["phase"] or "-",
                "; ".join([e.get("health") or "-", *unwell]),
                weights or "-",
                " ".join(f"{k}x{n}" for k, n in pools.items()) or "-",
                _supervised_by(sup),
                e["url"] or "-",
            )
        console().print(table)

    emit(data, json_, human)


def _supervised_by(sup: Mapping[str, Any]) -> str:
    """A process on this host (its pid), a worker on any host (its lease's owner), or none."""
    if not sup.get("running"):
        return "-"
    if "pid" in sup:
        return f"pid {sup['pid']}"
    return f"worker {sup['owner']}" if "owner" in sup else "running"


@env_app.command("stop")
def env_stop(
    environment: str = typer.Argument(..., help="The environment to stop."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Stop an environment's instances and router."""
    from shipyard.services.deployments import environments as env_svc

    spec, root = _spec(file)
    out = env_svc.stop_environment(open_store(root), spec, environment, _actor())
    emit(
        out,
        json_,
        lambda: console().print(f"stopped {out['stopped']} instance(s) of {environment}"),
    )


@env_app.command("supervise", hidden=True)
def env_supervise(environment: str = typer.Argument(...), file: Path | None = FILE) -> None:
    """Run the environment's supervisor in the foreground (started by `shipyard deploy`)."""
    from shipyard.services.coordination import coordination
    from shipyard.services.deployments import supervisor

    spec, root = _spec(file)
    coordination.environment(spec, environment)
    raise typer.Exit(supervisor.serve(open_store(root), root, spec.project, environment))


@rollout.command("status")
def status(
    environment: str = typer.Argument(...), file: Path | None = FILE, json_: bool = JSON
) -> None:
    """Where the rollout is, and the numbers behind its last analysis."""
    from shipyard.services.deployments import deploy as svc

    spec, root = _spec(file)
    data = svc.rollout_status(open_store(root), spec, environment)

    def human() -> None:
        c = console()
        w: Mapping[str, object] = data["weights"] or {}
        said = "held" if data["held"] else data["status"]
        c.print(
            f"{data['id']} {data['version']} ({data['strategy']}): {said}, "
            f"{data['phase']}, {data['step']}; stable {w.get('stable', '-')}% "
            f"canary {w.get('canary', '-')}%",
            markup=False,
        )
        if data["held"]:
            c.print(f"  held after: {data['failure']}", markup=False)
            c.print(
                f"  next: `shipyard rollout abort {environment}` rolls back, `shipyard rollout "
                f"promote {environment}` accepts {data['version']}, `shipyard rollout resume "
                f"{environment}` tries the step again",
                markup=False,
            )
        c.print(f"  {data['reason']}", markup=False)
        ctl = data.get("controller") or {}
        if ctl.get("state") == "running":
            c.print(f"  controller: {ctl['owner']} (token {ctl['token']})", markup=False)
        elif ctl.get("state") in ("waiting", "stopped"):
            c.print(f"  controller: none ({ctl['state']}; a worker takes it)", markup=False)
        a = data["analysis"]
        if a:
            c.print(f"  analysis {a['name']}: {a['phase']} {a['message']}", markup=False)
            for line in _measured(a.get("details") or {}):
                c.print(f"    {line}", markup=False)
        if data.get("log"):
            c.print("  controller log:", markup=False)
            for entry in data["log"]:
                c.print(f"    {entry['ts'][11:19]} {entry['line']}", markup=False)

    emit(data, json_, human)


def _ms(value: Any) -> str:
    return "inf" if value == "inf" else f"{value:.1f}ms"


def _window(pool: str, n: dict[str, Any]) -> str:
    rate, p95, p99 = n.get("error_rate"), n.get("p95_ms"), n.get("p99_ms")
    return (
        f"{pool}: {n.get('requests', 0)} requests, {n.get('errors', 0)} errors"
        + (f", error rate {rate:.2%}" if rate is not None else "")
        + (f", p95 {_ms(p95)}" if p95 is not None else "")
        + (f", p99 {_ms(p99)}" if p99 is not None else "")
    )


def _check(check: dict[str, Any]) -> str:
    """``error_rate_increase Failed: value 0.061, threshold 0.005 (baseline 0.004, ...)``."""
    value, limit = check.get("value"), check.get("threshold")
    extra = []
    if "baseline" in check:
        extra.append(f"baseline {_num(check['baseline'])}")
    if "p_value" in check:
        extra.append(f"p {_num(check['p_value'])}")
    if "samples" in check:
        extra.append(f"{check['samples']} samples")
    said = f"{check['name']} {check['phase']}: value {_num(value)}, threshold {_num(limit)}"
    return said + (f" ({', '.join(extra)})" if extra else "")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _measured(details: dict[str, Any]) -> list[str]:
    """The numbers behind an analysis verdict: each pool's window and each check."""
    lines = [_window(pool, details[pool]) for pool in ("canary", "baseline") if details.get(pool)]
    metrics = details.get("metrics") or {}
    if len(metrics) > 1:
        for name, m in metrics.items():
            lines += [f"{name}: {_check(c)}" for c in m["verdict"]["checks"]]
        return lines
    lines += [_check(c) for c in (details.get("verdict") or {}).get("checks", [])]
    return lines


@rollout.command("explain")
def explain(
    environment: str = typer.Argument(...),
    deployment: str | None = typer.Option(None, "--deployment", help="Default: the latest."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Every analysis measurement behind a rollout's decisions, with its numbers."""
    from shipyard.services.deployments import deploy as svc

    spec, root = _spec(file)
    data = svc.explain(open_store(root), spec, environment, deployment)

    def human() -> None:
        c = console()
        c.print(
            f"{data['id']} {data['version']} ({data['strategy']}): {data['status']}: "
            f"{data['reason']}",
            markup=False,
        )
        if not data["analyses"]:
            c.print("  no analysis measured anything", markup=False)
        for a in data["analyses"]:
            c.print(f"analysis '{a['analysis']}' ({a['kind']})", markup=False)
            for m in a["metrics"]:
                c.print(f"  {m['name']} ({m['metric']}, judge {m['judge']})", markup=False)
                for run in m["runs"]:
                    c.print(
                        f"    #{run['seq']} {run['at'][11:23]} {run['phase']} -> "
                        f"{run['decision']}: {run['message']}",
                        markup=False,
                    )
                    for line in [_window(p, run[p]) for p in ("canary", "baseline")]:
                        c.print(f"       {line}", markup=False)
                    for check in run["checks"]:
                        c.print(f"       {_check(check)}", markup=False)

    emit(data, json_, human)


def _action(name: str) -> Any:
    def command(
        environment: str = typer.Argument(...), file: Path | None = FILE, json_: bool = JSON
    ) -> None:
        from shipyard.services.deployments import deploy as svc

        spec, root = _spec(file)
        store = open_store(root)
        out: Mapping[str, Any] = svc.act(store, spec, environment, name, _actor())
        if name != "abort":
            emit(out, json_, lambda: console().print(f"{name} queued for {out['id']}"))
            return
        # An abort is followed to its end, and driven here when no controller runs.
        line, _status = _printer(json_mode(json_))
        dep = svc.follow(store, spec, out["id"], line)
        out = {**out, "status": dep["status"], "reason": dep["reason"]}
        emit(out, json_, lambda: console().print(f"{out['id']} {out['status']}: {out['reason']}"))

    command.__doc__ = {
        "promote": "Skip the current pause, analysis or promotion gate; accept a held version.",
        "promote-full": "Skip every remaining step and analysis.",
        "pause": "Hold the rollout where it is.",
        "resume": "Continue a paused rollout, or retry a held one's step.",
        "abort": "Roll back to the stable version now.",
    }[name]
    return command


for _name in ("promote", "promote-full", "pause", "resume", "abort"):
    rollout.command(_name)(_action(_name))


@rollout.command("continue")
def continue_(
    environment: str = typer.Argument(...), file: Path | None = FILE, json_: bool = JSON
) -> None:
    """Resume an interrupted rollout from its recorded step, in the foreground."""
    from shipyard.services.deployments import deploy as svc

    spec, root = _spec(file)
    store = open_store(root)
    _supervise(store, spec, root, environment)
    line, _status = _printer(json_mode(json_))
    out = svc.resume(store, spec, environment, line)
    emit(out, json_, lambda: console().print(f"{out['id']} {out['status']}: {out['reason']}"))


@rollout.command("drive", hidden=True)
def drive(deployment_id: str = typer.Argument(...), file: Path | None = FILE) -> None:
    """Run a recorded deployment's controller (used by --detach and the API)."""
    from shipyard.services.deployments import deploy as svc

    spec, root = _spec(file)
    svc.run(open_store(root), spec, deployment_id)
