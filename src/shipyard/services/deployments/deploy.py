"""Deploying: pick the version (promoted from the previous environment by default), check the
lock, gates and running rollouts, record the deployment, run the migration, then let the
rollout controller take it from there. Also what runs where, and the user's rollout actions.
"""

from __future__ import annotations

import hashlib
import os
import secrets as _secrets
import shlex
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from shipyard.adapters import processes
from shipyard.adapters.commands import run_once
from shipyard.adapters.targets import local as rt
from shipyard.domain import rollout as r
from shipyard.errors import Conflict, InputError, NotFound, Refused, ShipyardError
from shipyard.ports.controllers import Controllers
from shipyard.services import work
from shipyard.services.coordination.coordination import environment
from shipyard.services.deployments import controllers, deploy_hold
from shipyard.services.deployments import deploy_plan as dp
from shipyard.services.deployments.deploy_sides import launch_for, workdir
from shipyard.services.deployments.rollout_runner import Measurements, Outcome, Weights
from shipyard.store import deployments as repo
from shipyard.store.append import utcnow
from shipyard.store.deployments import DeploymentRow
from shipyard.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from shipyard.services.deployments.rollout_runner import Ports
    from shipyard.spec.models import Spec, Target
    from shipyard.store.artifacts import ArtifactRow
    from shipyard.store.work import LogLine

ACTIONS = ("promote", "promote-full", "pause", "resume", "abort")


class GatesFailed(Refused):
    code = "gates-failed"
    default_hint = "see `shipyard gates ENV --version V`; approvals or a break-glass may help"


class MigrationFailed(ShipyardError):
    code = "migration-failed"
    default_hint = "fix the migration and deploy again; traffic did not move"


def _now() -> datetime:
    return datetime.now(UTC)


# -- choosing what to deploy --------------------------------------------------------------------


def _artifact(store: Store, project: str, name: str | None, version: str) -> ArtifactRow | None:
    """The registry row for ``version`` (of ``name`` if given); None when the registry holds
    nothing for this project at all, so a bare version string is deployed from the tree."""
    from shipyard.services.releases import artifacts

    if name is not None:
        return artifacts.show(store, project, f"{name}@{version}")
    rows = artifacts.list_artifacts(store, project)["artifacts"]
    if not rows:
        return None
    found: list[ArtifactRow] = [a for a in rows if a["version"] == version]
    if not found:
        known = ", ".join(sorted({a["version"] for a in rows})[-5:])
        raise NotFound(
            f"no artifact of version {version} in the registry",
            f"publish it first (`shipyard artifacts publish`); recent versions: {known}",
            code="version-unknown",
        )
    names = sorted({a["name"] for a in found})
    if len(names) > 1:
        raise InputError(
            f"version {version} is published as {', '.join(names)}",
            "name the one to deploy with --artifact",
            code="artifact-ambiguous",
        )
    return found[0]


def _default_version(store: Store, spec: Spec, env: str) -> str:
    from shipyard.services.compliance.gates import default_version

    version = default_version(store, spec, env)
    if version is None:
        source = spec.environments[env].promote_from
        raise InputError(
            f"no version to deploy to {env}: "
            + (f"nothing is live in {source}" if source else "no artifact is published"),
            "pass --version V" + (f", or deploy to {source} first" if source else ""),
            code="version-required",
        )
    return version


def _check_promotion(store: Store, spec: Spec, env: str, version: str) -> None:
    """A version reaches an environment only after succeeding in the one it promotes from."""
    from shipyard.services.coordination.coordination import latest_deployment

    source = spec.environments[env].promote_from
    if source is None:
        return
    with store.read() as uow:
        ok = latest_deployment(uow, spec.project, source, version) is not None
    if not ok:
        raise Refused(
            f"{version} was never deployed successfully to {source}, which {env} promotes from",
            f"deploy it to {source} first: shipyard deploy {source} --version {version}",
            code="promotion-skips-environment",
        )


def _check_lock(store: Store, spec: Spec, env: str, actor: str, now: datetime) -> None:
    from shipyard.services.coordination import locks

    held = locks.current(store, spec.project, env, now)
    if held is not None and held["held_by"] != actor:
        raise Refused(
            f"{env} is locked by {held['held_by']}: {held['reason']}",
            f"wait for `shipyard unlock {env}`",
            code="environment-locked",
        )


def _check_gates(
    store: Store, spec: Spec, env: str, version: str, actor: str, now: datetime, root: Path
) -> Any:
    if not spec.environments[env].gates:
        return None
    from shipyard.services.compliance import gates

    verdict = gates.check(store, spec, env, version, actor, now, root)
    if not verdict.passed:
        failing = [f"{g.name}: {g.reason}" for g in verdict.failures]
        raise GatesFailed(
            f"gates refused {version} for {env}: " + "; ".join(failing),
            details=gates.verdict_dict(verdict, env, version),
        )
    gates.record_use(store, spec, env, version, actor, verdict)
    return verdict


# -- materialising the version ------------------------------------------------------------------


def revision_key(store: Store) -> bytes:
    """The key of configuration revisions: derived from the signing key (Ed25519 signatures
    are deterministic), so every replica and every run agrees, and nobody without the key
    can test a guess of a secret against a revision."""
    return hashlib.sha256(store.signer.sign(b"shipyard config-revision key v1")).digest()


def _migrate(
    store: Store | None, command: str | None, side: dp.Side, timeout: float = 600.0
) -> str:
    if not command:
        return ""

    launch = launch_for(store, side)  # type: ignore[arg-type]
    assert launch is not None
    secret_values = list(dp.resolve_secrets(side["secret_refs"], Path(side["root"])).values())
    try:
        ran = run_once(
            shlex.split(command),
            cwd=Path(launch.workdir),
            env={**os.environ, **launch.env, "APP_VERSION": side["version"]},
            timeout=timeout,
        )
    except OSError as exc:  # a timeout too
        raise MigrationFailed(f"migration `{command}` could not run: {exc}") from exc
    from shipyard.adapters.targets.base import mask

    tail = mask(ran.stdout.decode(errors="replace").strip()[-500:], secret_values)
    if ran.status != 0:
        raise MigrationFailed(
            f"migration `{command}` exited with status {ran.status}: {tail or '(no output)'}",
            details={"status": ran.status},
        )
    return f"migration `{command}` succeeded" + (f": {tail.splitlines()[-1]}" if tail else "")


# -- the use case -------------------------------------------------------------------------------


class DeployOptions(TypedDict, total=False):
    """What to deploy and who asks: the options ``create`` takes and ``deploy`` passes on."""

    version: str | None
    artifact: str | None
    actor: str
    allow_destructive: str | None


class Created(TypedDict):
    """A deployment recorded, for its controller to roll out."""

    id: str
    environment: str
    version: str
    notes: list[str]


def create(
    store: Store,
    spec: Spec,
    root: Path | None,
    env: str,
    *,
    version: str | None = None,
    artifact: str | None = None,
    actor: str = "cli",
    allow_destructive: str | None = None,
    holder: str | None = None,
    gate_root: Path | None = None,
) -> Created:
    """Check and record a deployment of ``env``; the controller (``run``) rolls it out.
    ``allow_destructive`` is the reason to run a migration the lint flags as destructive.
    ``root`` is the project's working tree; None on a server that holds the project only in
    its database, which deploys published artifacts alone (its custom gate commands run in
    ``gate_root``, the server's checkout). ``holder`` drives it in the foreground: the
    rollout's lease is its from the start."""
    from shipyard.services.compliance.audit import ensure_project

    environment(spec, env)
    now = _now()
    target, strategy = dp.check(spec, env)
    version = version or _default_version(store, spec, env)
    row = _artifact(store, spec.project, artifact, version)
    if row is None and root is None:
        raise NotFound(
            f"no artifact of {spec.project} {version} is published, and a server deploys "
            "published artifacts only",
            "publish it first: shipyard artifacts publish NAME FILE --version V",
            code="artifact-required",
        )
    if root is None:
        root = Path(".")  # secret files: read where the controller runs (use absolute paths)
    _check_promotion(store, spec, env, version)
    _check_lock(store, spec, env, actor, now)
    _check_gates(store, spec, env, version, actor, now, gate_root or root)
    config, refs = dp.config_of(spec, env)
    revision = dp.config_revision(config, dp.resolve_secrets(refs, root), revision_key(store))
    side: dp.Side = {
        "version": version,
        "config_revision": revision,
        "config": config,
        "secret_refs": refs,
        "root": str(root),
        "workdir": str(workdir(store, root, row)),
        "artifact": {"digest": row["digest"], "filename": row["filename"]} if row else None,
        **_target_side(target),
    }
    migration_files, destructive = _lint_migrations(
        store, spec, env, version, Path(side["workdir"]), allow_destructive
    )
    deployment_id = "d" + _secrets.token_hex(6)
    service = row["name"] if row else spec.project
    with store.begin() as uow:
        ensure_project(uow, spec.project)
        live = repo.get_environment(uow.conn, spec.project, env, for_update=True)
        _check_no_rollout(uow, live, env)
        if live and live.get("version") == version and live.get("config_revision") == revision:
            raise Conflict(
                f"{version} with config revision {revision} is already live in {env}",
                "deploy another version, or change the environment's config for a new revision",
                code="already-live",
            )
        previous = (
            repo.get_deployment(uow.conn, live["deployment_id"])
            if live and live.get("deployment_id")
            else None
        )
        plan = dp.DeploymentPlan(
            pools=_pools(live),
            strategy=strategy.to_dict(),
            analysis=dp.analysis_templates(spec),
            readiness_path=side["readiness_path"],
            router=spec.environments[env].router,
            stable=dp.DeploymentPlan.from_json(previous["plan"]).canary if previous else None,
            canary=side,
            migration_files=migration_files,
            migrate=spec.environments[env].migrate,  # so a worker needs no shipyard.yaml
            watch=dp.watch_of(spec, env),
        )
        fields = {
            "service": service,
            "version": version,
            "artifact": f"{row['name']}@{version}" if row else None,
            "digest": row["digest"] if row else None,
            "config_revision": revision,
            "strategy": strategy.type,
            "reason": "",
            "actor": actor,
        }
        _open(uow, spec.project, env, deployment_id, holder, plan, fields)
        uow.events.append(
            "deployment.started",
            f"deployment:{deployment_id}",
            actor,
            {
                "service": service,
                "environment": env,
                "version": version,
                "strategy": strategy.type,
                "commits": _commits(uow, spec.project, row),
                "artifact": f"{row['name']}@{version}" if row else None,
                "digest": row["digest"] if row else None,
                "config_revision": revision,
                "previous": previous["version"] if previous else None,
            },
            project=spec.project,
        )
        if destructive:
            uow.events.append(
                "migration.destructive-allowed",
                f"deployment:{deployment_id}",
                actor,
                destructive,
                project=spec.project,
            )
    notes = [] if row else [f"no artifact in the registry: deploying {version} from {root}"]
    return {"id": deployment_id, "environment": env, "version": version, "notes": notes}


def detach(
    store: Store, spec: Any, root: Path | None, env: str, *, controllers: Controllers, **kw: Any
) -> Created:
    """``shipyard deploy --detach``: check and record the deployment (``create``, with its
    keyword arguments), then hand it to a controller of its own and return."""
    created = create(store, spec, root, env, **kw)
    controllers.start(created["id"])
    return created


def _pools(live: Mapping[str, Any] | None) -> dp.Pools:
    """The physical pools of a new rollout: the one live now stays stable (the first one
    when nothing is live), the new side goes to the other."""
    stable_pool = (live or {}).get("live_pool") or rt.PHYSICAL[0]
    return {"stable": stable_pool, "canary": rt.other_pool(stable_pool)}


def _open(
    uow: UnitOfWork,
    project: str,
    env: str,
    deployment_id: str,
    holder: str | None,
    plan: dp.DeploymentPlan,
    fields: Mapping[str, Any],
) -> None:
    """Record a deployment (``fields``: what it deploys, how and why) as running with its
    plan, make it its environment's active one and queue or hold its rollout, all in the
    caller's transaction."""
    now = utcnow()
    row = {
        "id": deployment_id,
        "project": project,
        "environment": env,
        **fields,
        "status": "running",
        "phase": r.Phase.PROGRESSING.value,
        "state": None,
        "plan": plan.to_json(),
        "created_at": now,
        "updated_at": now,
    }
    repo.insert_deployment(uow.conn, row)
    repo.save_environment(uow.conn, project, env, active_deployment=deployment_id, updated_at=now)
    _record_work(uow.conn, deployment_id, project, env, holder)


def _record_work(conn: Any, deployment_id: str, project: str, env: str, holder: str | None) -> None:
    """The deployment's rollout, for a worker to drive, or held by ``holder`` (a command that
    drives it in the foreground) from the same transaction on; and its environment's
    supervision."""
    item = controllers.item_of(deployment_id)
    if holder is None:
        work.add(conn, item, "rollout", project)
    else:
        work.add_held(conn, item, "rollout", project, holder)
    work.add(conn, supervision_of(project, env), "supervise", project, revive=True)


def _held(store: Store, deployment_id: str, holder: str) -> work.Lease:
    return work.Lease(store, controllers.item_of(deployment_id), holder, 1)


def _lint_migrations(
    store: Store, spec: Spec, env: str, version: str, workdir: Path, reason: str | None
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Lint the migration files changed since the live deployment (``deploy_migrations``)."""
    from shipyard.services.deployments import deploy_migrations

    with store.read() as uow:
        live = repo.get_environment(uow.conn, spec.project, env)
        prev = (
            repo.get_deployment(uow.conn, live["deployment_id"])
            if live and live.get("deployment_id")
            else None
        )
    seen = dict(dp.DeploymentPlan.from_json(prev["plan"]).migration_files) if prev else {}
    return deploy_migrations.check(store, spec, env, version, workdir, seen, reason)


def _check_no_rollout(uow: Any, live: dict[str, Any] | None, env: str) -> None:
    """One rollout per environment at a time."""
    if not live or not live.get("active_deployment"):
        return
    active = repo.get_deployment(uow.conn, live["active_deployment"])
    if active is None or active["status"] != "running":
        return
    held = deploy_hold.held_state(active)
    controller = controllers.state(uow.conn, active)
    if held is not None:
        raise deploy_hold.refused(active, held, env, alive=controller == "running")
    if controller == "waiting":
        raise Conflict(
            f"deployment {active['id']} of {active['version']} in {env} waits for a "
            "controller: no worker has taken it yet",
            f"a `shipyard worker` (or `shipyard server`) takes it; `shipyard rollout continue "
            f"{env}` drives it here; `shipyard rollout abort {env}` cancels it",
            code="rollout-waiting",
        )
    if controller == "stopped":
        raise Conflict(
            f"deployment {active['id']} of {active['version']} in {env} was "
            "interrupted (its controller stopped)",
            f"a running `shipyard worker` takes it over; `shipyard rollout continue {env}` "
            f"resumes it here from its recorded step; queue `shipyard rollout abort {env}` "
            "first to roll it back",
            code="rollout-interrupted",
        )
    raise Conflict(
        f"deployment {active['id']} of {active['version']} is rolling out in {env}",
        f"wait for it, or `shipyard rollout abort {env}`",
        code="rollout-in-progress",
    )


def _target_side(target: Target) -> dp.TargetSide:
    """What the controller needs of the target, stored with each side of a deployment."""
    if target.type == "command":
        return {
            "target": "command",
            "hooks": dp.hooks_of(target),
            "timeout": target.timeout,
            "command": None,
            "readiness_path": None,
            "grace": 0.0,
        }
    return {
        "target": "process",
        "command": target.command,
        "readiness_path": target.readiness.path,
        "grace": min(target.grace, 10.0),
    }


def supervision_of(project: str, env: str) -> str:
    """The work row of an environment's supervision (``supervisor.py``)."""
    return f"supervise:{project}/{env}"


def controller_state(store: Store, dep: DeploymentRow) -> str:
    """``running``, ``waiting`` or ``stopped`` (see ``controllers.state``)."""
    with store.read() as uow:
        return controllers.state(uow.conn, dep)


def _controller_alive(dep: DeploymentRow, store: Store | None = None) -> bool:
    """Whether a live controller drives ``dep``: its lease is held (with ``store``), else, for
    a caller without one, whether its recorded controller process runs on this host."""
    if store is not None:
        return controller_state(store, dep) == "running"
    pid = dep.get("controller_pid")
    if not pid:
        return False
    if not processes.exists(int(pid)):
        return False
    try:  # a process that exited and is not reaped yet is gone too
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X")


class DrivenHere(DeploymentRow):
    """A deployment followed to its end and driven here: its row, with the measurements of
    how it ended (``Outcome``)."""

    measurements: Measurements


def follow(
    store: Store,
    spec: Spec,
    deployment_id: str,
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
    poll: float = 0.1,
) -> DeploymentRow | DrivenHere:
    """Wait until the deployment ends, driving it here if its controller is gone (so a
    queued abort acts at once even when nothing else would take it)."""
    said = ""
    while True:
        with store.read() as uow:
            dep = repo.get_deployment(uow.conn, deployment_id)
        assert dep is not None
        if dep["status"] != "running":
            return dep
        if controller_state(store, dep) != "running":
            try:
                return {**dep, **run(store, spec, deployment_id, on_line)}
            except Conflict as exc:
                if exc.code not in ("rollout-in-progress", "lease-lost"):
                    raise  # another controller took it meanwhile: follow that one
        if on_line and dep["reason"] != said:
            said = dep["reason"]
            on_line(said, {"phase": dep["phase"]})
        import time

        time.sleep(poll)


class Resumed(TypedDict):
    """An interrupted rollout carried on to its end."""

    id: str
    environment: str
    version: str
    status: str
    reason: str


def resume(
    store: Store,
    spec: Spec,
    env: str,
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
) -> Resumed:
    """Carry on an interrupted rollout from its recorded state (after a crash or kill -9)."""
    environment(spec, env)
    dep = _active(store, spec.project, env)
    if dep["status"] != "running":
        raise Conflict(
            f"no rollout of {env} is waiting to continue (the last one {dep['status']})",
            code="no-rollout",
        )
    # With a controller (the supervisor or a worker took it over, or another command drives
    # it), follow it to its end; without (its lease ran out), drive it here.
    out = follow(store, spec, dep["id"], on_line)
    return {
        "id": out["id"],
        "environment": out["environment"],
        "version": out["version"],
        "status": out["status"],
        "reason": out["reason"],
    }


class Commit(TypedDict):
    """A commit of a release, as its ``release.created`` event lists it."""

    sha: str
    time: str


def _commits(uow: Any, project: str, row: Mapping[str, Any] | None) -> list[Commit]:
    if row is None:
        return []
    from shipyard.services.coordination.coordination import release_event

    found = release_event(uow, project, row["name"], row["version"])
    return list(found.payload.get("commits", [])) if found is not None else []


def run(
    store: Store,
    spec: Spec | None,
    deployment_id: str,
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
    *,
    lease: work.Lease | None = None,
    wait: bool = False,
    ports: Ports | None = None,
) -> Outcome:
    """Drive the deployment to its end under its lease (``controllers.py``): the
    migration, then the rollout; returns how it finished. ``spec`` may be None (a worker):
    the plan holds what the controller needs. ``ports`` are the rollout's (``Runner``'s)."""

    def control(fenced: Store, line: Callable[[str, dict[str, Any]], None]) -> Outcome:
        return _control(fenced, spec, deployment_id, line, ports)

    return controllers.drive(store, deployment_id, control, on_line=on_line, lease=lease, wait=wait)


def _control(
    store: Store,
    spec: Spec | None,
    deployment_id: str,
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
    ports: Ports | None = None,
) -> Outcome:
    from shipyard.services.deployments.rollout_runner import Runner

    runner = Runner(store, deployment_id, on_line, ports=ports)
    if runner.state is None and not runner.plan.direct:  # a rollback migrates nothing
        env = runner.dep["environment"]
        command = (
            runner.plan.migrate
            if runner.plan.recorded("migrate")
            else spec.environments[env].migrate
            if spec is not None
            else None
        )
        try:
            said = _migrate(store, command, runner.plan.canary)
        except ShipyardError as exc:
            runner._finish("failed", f"{exc.code}: {exc.message}")
            raise
        if said and on_line:
            on_line(said, {})
    return runner.run()


class Deployed(Outcome):
    """A deployment driven to its end here, with the notes of its recording."""

    notes: list[str]


def deploy(
    store: Store,
    spec: Spec,
    root: Path | None,
    env: str,
    *,
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
    ports: Ports | None = None,
    **options: Unpack[DeployOptions],
) -> Deployed:
    """``shipyard deploy`` in the foreground: create (with ``options``), then run to the end."""
    holder = work.owner_id()
    created = create(store, spec, root, env, holder=holder, **options)
    for note in created["notes"]:
        if on_line:
            on_line(note, {})
    out = run(
        store, spec, created["id"], on_line, lease=_held(store, created["id"], holder), ports=ports
    )
    return {**out, "notes": created["notes"]}


# -- rolling back -------------------------------------------------------------------------------


def _rollback_source(
    conn: Any, project: str, env: str, live_version: str, to: str | None
) -> DeploymentRow:
    """The succeeded deployment to go back to: the newest of ``to``, else of another version."""
    done = [
        d
        for d in repo.list_deployments(conn, project, env, limit=500)
        if d["status"] == "succeeded"
    ]
    if to is None:
        found = next((d for d in done if d["version"] != live_version), None)
        if found is None:
            raise NotFound(
                f"no version other than {live_version} ever succeeded in {env}",
                "there is nothing earlier to go back to; deploy a fix instead",
                code="rollback-target-unknown",
            )
        return found
    if to == live_version:
        raise Conflict(
            f"{to} is already live in {env}",
            "name another version with --to, or leave out --to for the previous one",
            code="already-live",
        )
    found = next((d for d in done if d["version"] == to), None)
    if found is None:
        known = ", ".join(dict.fromkeys(d["version"] for d in done)) or "none"
        raise NotFound(
            f"{to} was never deployed successfully to {env}",
            f"versions that were live in {env}: {known}",
            code="rollback-target-unknown",
        )
    return found


RollbackCreated = TypedDict(
    "RollbackCreated",
    {"id": str, "environment": str, "version": str, "from": str, "notes": list[str]},
)
"""A rollback recorded, for its controller to drive: from the version live to ``version``."""


def create_rollback(
    store: Store,
    spec: Spec,
    env: str,
    *,
    to: str | None = None,
    actor: str = "cli",
    reason: str = "",
    check_lock: bool = True,
    holder: str | None = None,
) -> RollbackCreated:
    """Record a direct rollout of ``env`` back to an earlier live version (the one before the
    current, or ``to``): its recorded build and configuration, every step and analysis skipped.
    Gates and promotion are not checked again (the version passed them once); a lock is,
    unless the supervisor rolls back a version that failed its watch (``check_lock``), and
    ``reason`` says why."""
    environment(spec, env)
    now = _now()
    if check_lock:
        _check_lock(store, spec, env, actor, now)
    why = reason
    # Failing back to the version live now is always safe: it ran after any migration.
    strategy = replace(dp.strategy_of(spec, env), on_failure=r.OnFailure.ROLLBACK)
    deployment_id = "d" + _secrets.token_hex(6)
    with store.begin() as uow:
        live = repo.get_environment(uow.conn, spec.project, env, for_update=True)
        _check_no_rollout(uow, live, env)
        if not live or not live.get("version"):
            raise NotFound(
                f"nothing is live in {env}, so there is nothing to roll back",
                f"shipyard deploy {env}",
                code="nothing-to-roll-back",
            )
        source = _rollback_source(uow.conn, spec.project, env, live["version"], to)
        current = (
            repo.get_deployment(uow.conn, live["deployment_id"])
            if live.get("deployment_id")
            else None
        )
        side = dp.DeploymentPlan.from_json(source["plan"]).canary
        plan = dp.DeploymentPlan(
            pools=_pools(live),
            strategy=strategy.to_dict(),
            analysis={},
            readiness_path=side.get("readiness_path"),
            router=spec.environments[env].router,
            direct=True,
            rollback_of=current["id"] if current else None,
            stable=dp.DeploymentPlan.from_json(current["plan"]).canary if current else None,
            canary=side,
        )
        reason = f"rollback of {env} from {live['version']} to {source['version']}"
        if why:
            reason = f"{reason}: {why}"
        fields = {
            "service": source["service"],
            "version": source["version"],
            "artifact": source["artifact"],
            "digest": source["digest"],
            "config_revision": source["config_revision"],
            "strategy": strategy.type,
            "reason": reason,
            "actor": actor,
        }
        _open(uow, spec.project, env, deployment_id, holder, plan, fields)
        rollback = {
            "environment": env,
            "from": live["version"],
            "to": source["version"],
            "from_deployment": current["id"] if current else None,
            "to_deployment": source["id"],
            "config_revision": source["config_revision"],
        }
        uow.events.append(
            "deployment.rollback",
            f"deployment:{deployment_id}",
            actor,
            rollback,
            project=spec.project,
        )
        uow.events.append(
            "deployment.started",
            f"deployment:{deployment_id}",
            actor,
            {
                "service": source["service"],
                "environment": env,
                "version": source["version"],
                "strategy": strategy.type,
                "commits": [],
                "artifact": source["artifact"],
                "digest": source["digest"],
                "config_revision": source["config_revision"],
                "previous": live["version"],
                "rollback": True,
            },
            project=spec.project,
        )
    return {
        "id": deployment_id,
        "environment": env,
        "version": source["version"],
        "from": live["version"],
        "notes": [reason],
    }


_From = TypedDict("_From", {"from": str})


class RolledBack(Outcome, _From):
    """A rollback driven to its end here: how it ended, from which version, and its notes."""

    notes: list[str]


def rollback(
    store: Store,
    spec: Spec,
    env: str,
    *,
    to: str | None = None,
    actor: str = "cli",
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
) -> AbortFollowed | RolledBack:
    """``shipyard rollback ENV [--to V]`` in the foreground: straight back, no steps, no analysis
    (argo-rollouts#2168). The migration is not run again. A held rollout is aborted instead."""
    queued = abort_for_rollback(store, spec, env, to=to, actor=actor)
    if queued is not None:
        if on_line:
            on_line(queued["notes"][0], {})
        return _follow_abort(store, spec, queued, on_line)
    holder = work.owner_id()
    created = create_rollback(store, spec, env, to=to, actor=actor, holder=holder)
    if on_line:
        on_line(created["notes"][0], {})
    out = run(store, spec, created["id"], on_line, lease=_held(store, created["id"], holder))
    return {**out, "from": created["from"], "notes": created["notes"]}


# -- reading ------------------------------------------------------------------------------------


AbortQueued = TypedDict(
    "AbortQueued",
    {
        "id": str,
        "environment": str,
        "version": str | None,  # the stable version; None when nothing was live before
        "from": str,
        "controller_alive": bool,
        "notes": list[str],
    },
)
"""The abort of a held rollout queued, as `shipyard rollback` of its environment."""


def abort_for_rollback(
    store: Store, spec: Spec, env: str, *, to: str | None, actor: str
) -> AbortQueued | None:
    """Queue the abort of ``env``'s held rollout for `shipyard rollback`; None when none is held.

    ``to`` may only name the stable version: going anywhere else first needs the held version
    gone, and two rollouts at once are refused everywhere else too.
    """
    with store.read() as uow:
        live = repo.get_environment(uow.conn, spec.project, env)
        active = live.get("active_deployment") if live else None
        dep = repo.get_deployment(uow.conn, active) if active else None
    state = deploy_hold.held_state(dep)
    if live is None or dep is None or state is None:
        return None
    stable = live.get("version")
    if to is not None and to != stable:
        then = f"`shipyard rollout abort {env}` first, then `shipyard rollback {env} --to {to}`"
        raise deploy_hold.refused(dep, state, env, ways=then)
    act(store, spec, env, "abort", actor)
    return {
        "id": dep["id"],
        "environment": env,
        "version": stable,
        "from": dep["version"],
        "controller_alive": controller_state(store, dep) == "running",
        "notes": [f"{dep['version']} is held in {env}: aborting {dep['id']} goes back to {stable}"],
    }


class AbortFollowed(AbortQueued):
    """The queued abort of a held rollout followed to its end."""

    status: str
    reason: str
    aborted: str  # the held deployment


def _follow_abort(
    store: Store,
    spec: Spec,
    queued: AbortQueued,
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
) -> AbortFollowed:
    """Wait for the aborted rollout to end, driving it here if its controller is gone."""
    dep = follow(store, spec, queued["id"], on_line)
    # The rollback asked for is done when the held deployment rolled back.
    status = "succeeded" if dep["status"] == "rolled-back" else dep["status"]
    return {**queued, "status": status, "reason": dep["reason"], "aborted": dep["id"]}


def _active(store: Store, project: str, env: str) -> DeploymentRow:
    with store.read() as uow:
        live = repo.get_environment(uow.conn, project, env)
        dep = None
        if live and live.get("active_deployment"):
            dep = repo.get_deployment(uow.conn, live["active_deployment"])
        if dep is None:
            recent = repo.list_deployments(uow.conn, project, env, limit=1)
            dep = recent[0] if recent else None
    if dep is None:
        raise NotFound(
            f"nothing was ever deployed to {env}",
            f"shipyard deploy {env}",
            code="deployment-not-found",
        )
    return dep


class Controller(TypedDict):
    """Who drives a rollout: its lease's holder and fencing token, or its process."""

    state: str  # running, waiting or stopped (``controllers.state``); done once it ended
    alive: bool
    owner: str | None
    token: int | None
    pid: int | None


class ControllerView(TypedDict):
    """A rollout's controller, and the last lines its controllers logged."""

    controller: Controller
    log: list[LogLine]


class DeploymentSummary(TypedDict):
    """What every view of a deployment starts with: which it is, what and how it deploys."""

    id: str
    environment: str
    version: str
    strategy: str
    status: str
    phase: str


class RolloutStatus(ControllerView, DeploymentSummary):
    """Where a rollout is: `shipyard rollout status` and the API's ``/rollouts/{env}``."""

    held: bool
    failure: str
    step: str
    weights: Weights | None  # None before the controller starts it
    reason: str
    analysis: dict[str, Any] | None  # the running or last analysis (``r.AnalysisState``)
    plan: list[str]  # its steps, in words


def _summary(dep: DeploymentRow, env: str) -> DeploymentSummary:
    return {
        "id": dep["id"],
        "environment": env,
        "version": dep["version"],
        "strategy": dep["strategy"],
        "status": dep["status"],
        "phase": dep["phase"],
    }


def rollout_status(store: Store, spec: Spec, env: str) -> RolloutStatus:
    environment(spec, env)
    dep = _active(store, spec.project, env)
    state = r.RolloutState.from_dict(dep["state"]) if dep["state"] else None
    analysis = state.analysis.to_dict() if state and state.analysis else None
    return {
        **_summary(dep, env),
        "held": dep["status"] == "running" and state is not None and state.held,
        "failure": state.failure if state else "",
        "step": r.describe_step(state) if state else "not started",
        "weights": {"stable": 100 - state.canary_weight, "canary": state.canary_weight}
        if state
        else None,
        "reason": dep["reason"],
        "analysis": analysis,
        "plan": list(r.describe_plan(state.strategy, direct=state.direct)) if state else [],
        **_controller_view(store, dep),
    }


def _controller_view(store: Store, dep: DeploymentRow, lines: int = 20) -> ControllerView:
    """Who drives the rollout (a live lease's holder, and its fencing token) and the last
    lines its controllers logged."""
    from shipyard.store import work as work_repo

    item = controllers.item_of(dep["id"])
    with store.read() as uow:
        row = work_repo.get(uow.conn, item)
        said = controllers.state(uow.conn, dep) if dep["status"] == "running" else "done"
        log = work_repo.logs(uow.conn, item, lines)
    return {
        "controller": {
            "state": said,
            "alive": said == "running",
            "owner": row["owner"] if row and said == "running" else None,
            "token": row["fence"] if row else None,
            "pid": dep.get("controller_pid"),
        },
        "log": log,
    }


class Measured(TypedDict):
    """One interval's measurement of one metric: its verdict, with the windows behind it."""

    seq: int
    at: str
    phase: str
    decision: str  # the metric's phase after it
    checks: list[dict[str, Any]]  # ``analysis.Check.to_dict()``: values, thresholds, p-values
    message: str
    canary: dict[str, Any]  # ``summarize``d windows
    baseline: dict[str, Any]


class ExplainedMetric(TypedDict):
    """One metric of an analysis, every measurement of it in order."""

    name: str
    metric: str | None
    judge: str | None
    runs: list[Measured]


class ExplainedAnalysis(TypedDict):
    """One run of an analysis template (a step's, a background one, the watch...)."""

    analysis: str
    kind: str
    metrics: list[ExplainedMetric]


class Explained(DeploymentSummary):
    """`shipyard rollout explain`: every measurement behind a deployment's decisions."""

    reason: str
    analyses: list[ExplainedAnalysis]


def explain(store: Store, spec: Spec, env: str, deployment: str | None = None) -> Explained:
    """Every measurement behind a deployment's decisions: per analysis and metric, each
    interval's verdict with its values, thresholds, baselines and p-values."""
    environment(spec, env)
    dep: DeploymentRow | None
    if deployment is None:
        dep = _active(store, spec.project, env)
    else:
        with store.read() as uow:
            dep = repo.get_deployment(uow.conn, deployment)
        if dep is None or dep["environment"] != env or dep["project"] != spec.project:
            raise NotFound(
                f"no deployment {deployment} in {env}",
                f"see `shipyard deployments {env}`",
                code="deployment-not-found",
            )
    with store.read() as uow:
        rows = repo.list_measurements(uow.conn, dep["id"])
    # By analysis run (template and kind), then by metric, in the order first measured.
    analyses: dict[tuple[str, str], dict[str, ExplainedMetric]] = {}
    for row in rows:
        metrics = analyses.setdefault((row["analysis"], row["kind"]), {})
        data = row["data"]
        m = metrics.setdefault(
            row["metric"],
            {
                "name": row["metric"],
                "metric": data.get("metric"),
                "judge": data.get("judge"),
                "runs": [],
            },
        )
        m["runs"].append(
            {
                "seq": row["seq"],
                "at": row["at"],
                "phase": row["phase"],
                "decision": row["decision"],
                "checks": data["verdict"]["checks"],
                "message": data["verdict"]["message"],
                "canary": data["canary"],
                "baseline": data["baseline"],
            }
        )
    return {
        **_summary(dep, env),
        "reason": dep["reason"],
        "analyses": [
            {"analysis": analysis, "kind": kind, "metrics": list(metrics.values())}
            for (analysis, kind), metrics in analyses.items()
        ],
    }


class Deployment(DeploymentSummary):
    """One deployment of the history."""

    reason: str
    actor: str
    created_at: str
    finished_at: str | None


class History(TypedDict):
    """`shipyard deployments` and the API's ``/deployments``: the newest first."""

    deployments: list[Deployment]


def history(store: Store, spec: Spec, env: str | None = None, limit: int = 20) -> History:
    """The newest deployments first: what went where, how, how it ended and why."""
    if env is not None:
        environment(spec, env)
    with store.read() as uow:
        rows = repo.list_deployments(uow.conn, spec.project, env, limit)
    return {
        "deployments": [
            {
                **_summary(d, d["environment"]),
                "reason": d["reason"],
                "actor": d["actor"],
                "created_at": d["created_at"],
                "finished_at": d["finished_at"],
            }
            for d in rows
        ]
    }


# -- acting -------------------------------------------------------------------------------------


class ActionQueued(TypedDict):
    """A user's action queued for the rollout's controller."""

    id: str
    environment: str
    action: str
    queued: bool


class ActionCancelled(ActionQueued):
    """An abort of a deployment no controller started: it ended at once, nothing queued."""

    status: str
    reason: str


def act(
    store: Store, spec: Spec, env: str, action: str, actor: str
) -> ActionQueued | ActionCancelled:
    """Queue ``action`` for the environment's running rollout; its controller takes it next."""
    environment(spec, env)
    if action not in ACTIONS:
        raise InputError(
            f"unknown rollout action '{action}'",
            f"one of {', '.join(ACTIONS)}",
            code="rollout-action-unknown",
        )
    dep = _active(store, spec.project, env)
    if dep["status"] == "running" and not dep["state"] and action == "abort":
        cancelled = _cancel_unstarted(store, dep, actor)
        if cancelled is not None:
            return cancelled
        # A controller took it and is starting: it takes the abort with its first step.
    elif dep["status"] != "running" or not dep["state"]:
        raise Conflict(
            f"no rollout is running in {env} (the last one {dep['status']})",
            f"start one with `shipyard deploy {env}`",
            code="no-rollout",
        )
    else:
        state = r.RolloutState.from_dict(dep["state"])
        r.step(state, r.UserAction(r.Action(action), actor), _now())  # refuse now, not later
    with store.begin() as uow:
        repo.add_action(
            uow.conn,
            {
                "id": "a" + _secrets.token_hex(6),
                "deployment_id": dep["id"],
                "action": action,
                "actor": actor,
                "created_at": utcnow(),
            },
        )
    return {"id": dep["id"], "environment": env, "action": action, "queued": True}


def _cancel_unstarted(store: Store, dep: DeploymentRow, actor: str) -> ActionCancelled | None:
    """Abort a deployment no controller ever started (nothing moved): it ends ``cancelled``,
    in one transaction with its work row, unless a controller holds it by now (None)."""
    reason = f"cancelled by {actor} before a controller started it"
    now = utcnow()
    with store.begin() as uow:
        if not work.finish_unheld(uow.conn, controllers.item_of(dep["id"])):
            return None
        repo.update_deployment(
            uow.conn, dep["id"], status="cancelled", reason=reason, finished_at=now, updated_at=now
        )
        repo.save_environment(
            uow.conn, dep["project"], dep["environment"], active_deployment=None, updated_at=now
        )
        uow.events.append(
            "deployment.finished",
            f"deployment:{dep['id']}",
            actor,
            {
                "service": dep["service"],
                "environment": dep["environment"],
                "version": dep["version"],
                "status": "cancelled",
                "reason": reason,
                "config_revision": dep["config_revision"],
                "measurements": {},
            },
            project=dep["project"],
        )
    return {
        "id": dep["id"],
        "environment": dep["environment"],
        "action": "abort",
        "queued": False,
        "status": "cancelled",
        "reason": reason,
    }
