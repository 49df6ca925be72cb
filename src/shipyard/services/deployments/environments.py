"""Environments as a whole: what runs where (`shipyard env`, the API's and dashboard's
overview), and stopping everything of one. Apart from the deployment use cases (deploy.py),
which the supervisor calls back into: these look at and stop the supervisor too."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.adapters.routers.local import router_client
from shipyard.adapters.targets import local as rt
from shipyard.domain import rollout as r
from shipyard.services import work
from shipyard.services.coordination.coordination import environment
from shipyard.services.deployments import controllers, supervisor
from shipyard.services.deployments import deploy_plan as dp
from shipyard.services.deployments.deploy import _controller_alive
from shipyard.store import deployments as repo
from shipyard.store.append import utcnow
from shipyard.store.deployments import DeploymentRow
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


class Instance(TypedDict):
    """One instance as `shipyard env` shows it."""

    pool: str
    version: str
    revision: str  # "" for one recorded before revisions were
    port: int
    pid: int
    started_at: str | None
    alive: bool
    ready: bool
    health: str  # the supervisor's word (ready, ejected, starting, crashed), else ready or down
    restarts: int


class Environment(TypedDict):
    """What runs in one environment, and how it is doing."""

    environment: str
    promote_from: str | None
    strategy: str
    version: str | None
    config_revision: str | None
    phase: str | None
    health: str | None  # "2/3 ready"; None without instances
    rolling_out: str | None  # the version a rollout brings
    held: bool
    url: str | None
    admin_url: str | None
    weights: dict[str, int]  # by physical pool
    preview_url: str | None
    instances: list[Instance]
    supervisor: supervisor.SupervisorStatus


class Environments(TypedDict):
    """`shipyard env` and the API's ``/environments``: every environment of the spec."""

    environments: list[Environment]


def environments(store: Store, spec: Spec) -> Environments:
    """What runs where: version, config revision, phase, weights, instances and their health
    (probed now), and the environment's supervisor."""
    with store.read() as uow:
        rows = {e["environment"]: e for e in repo.list_environments(uow.conn, spec.project)}
        found = []
        for name in spec.environments:
            row = rows.get(name) or {}
            active = live = None
            if row.get("active_deployment"):
                active = repo.get_deployment(uow.conn, row["active_deployment"])
            if row.get("deployment_id"):
                live = repo.get_deployment(uow.conn, row["deployment_id"])
            found.append((name, row, active, live))
    out: list[Environment] = []
    for name, row, active, live in found:
        e = spec.environments[name]
        routes: dict[str, Any] = {}
        router = row.get("router")
        if router:
            client = router_client(router)
            if client.healthy():
                routes = client.routes()
        side = dp.DeploymentPlan.from_json(live["plan"]).canary if live else None
        path = side["readiness_path"] if side else None
        instances = [_instance(i, path) for i in row.get("instances", [])]
        ready = sum(1 for i in instances if i["ready"])
        running = active is not None and active["status"] == "running"
        state: r.RolloutState | None = None
        if running:
            assert active is not None
            if active["state"]:
                state = r.RolloutState.from_dict(active["state"])
            phase = active["phase"]
            if not _controller_alive(active, store):
                phase = f"{phase} (interrupted: no controller)"
            elif state is not None and state.held:
                phase = "Degraded (held)"
        elif row.get("version"):
            phase = "Healthy" if instances and ready == len(instances) else "Degraded"
        else:
            phase = None
        out.append(
            {
                "environment": name,
                "promote_from": e.promote_from,
                "strategy": e.strategy.kind,
                "version": row.get("version"),
                "config_revision": row.get("config_revision"),
                "phase": phase,
                "health": f"{ready}/{len(instances)} ready" if instances else None,
                "rolling_out": active["version"] if running and active else None,
                "held": bool(state is not None and state.held),
                "url": f"http://127.0.0.1:{router['port']}" if router else None,
                "admin_url": (
                    f"http://127.0.0.1:{router['admin_port']}"
                    if router and router.get("admin_port")
                    else None
                ),
                "weights": routes.get("weights", {}),
                "preview_url": (
                    f"http://127.0.0.1:{routes['preview']['port']}"
                    if (routes.get("preview") or {}).get("port")
                    else None
                ),
                "instances": instances,
                "supervisor": supervisor.status(store, name, spec.project),
            }
        )
    return {"environments": out}


def _instance(recorded: dict[str, Any], path: str | None = None) -> Instance:
    """One instance as `shipyard env` shows it: what it runs, which process, whether that
    process is still the one recorded and answers its readiness probe now, and what the
    supervisor knows (``ready``, ``ejected``, ``starting``, ``crashed``; restarts)."""
    import httpx

    from shipyard.adapters import local_http

    m = rt.member_of(recorded)
    alive = rt.is_running(m)
    ready = False
    if alive:
        try:
            ready = local_http.get(
                f"http://{m.address}{path or '/healthz'}", timeout=0.5
            ).is_success
        except httpx.HTTPError:
            ready = False
    return {
        "pool": m.pool,
        "version": m.version,
        "revision": m.revision,
        "port": m.port,
        "pid": m.pid,
        "started_at": (
            datetime.fromtimestamp(m.started_at, UTC).isoformat() if m.started_at else None
        ),
        "alive": alive,
        "ready": ready,
        "health": recorded.get("health") or ("ready" if ready else "down"),
        "restarts": int(recorded.get("restarts", 0)),
    }


class Stopped(TypedDict):
    """`shipyard env stop`: how many instances were stopped."""

    environment: str
    stopped: int


def stop_environment(store: Store, spec: Spec, env: str, actor: str = "cli") -> Stopped:
    """Stop everything of ``env``: its supervisor, the controller of a rollout in progress,
    every instance and the router (what runs is forgotten, history is not)."""
    environment(spec, env)
    supervisor.stop(store, env, project=spec.project)  # first: nothing restarts what stops next
    with store.read() as uow:
        row = repo.get_environment(uow.conn, spec.project, env)
        active = None
        if row and row.get("active_deployment"):
            active = repo.get_deployment(uow.conn, row["active_deployment"])
    if row is None:
        return {"environment": env, "stopped": 0}
    if active is not None and active["status"] == "running":
        _stop_controller(store, active)
        with store.read() as uow:
            row = repo.get_environment(uow.conn, spec.project, env) or row
            active = repo.get_deployment(uow.conn, active["id"])
    instances = rt.Instances(store.home / "deploy" / env / "logs", row["instances"])
    count = len(instances.members)
    instances.stop_all(grace=5.0)
    router = row.get("router")
    if router and router.get("kind") == "nginx":
        router_client(router).stop()
    elif router:
        # The process answering on the recorded admin port, and the one recorded, if other.
        pids = {router_client(router).process(), router.get("pid")} - {None}
        for pid in pids:
            rt.kill_group(int(pid), 2.0)
    now = utcnow()
    with store.begin() as uow:
        if active is not None and active["status"] == "running":
            repo.update_deployment(
                uow.conn,
                active["id"],
                status="failed",
                reason=f"environment stopped by {actor} during the rollout",
                finished_at=now,
                updated_at=now,
            )
        repo.save_environment(
            uow.conn,
            spec.project,
            env,
            version=None,
            config_revision=None,
            live_pool=None,
            router=None,
            instances=[],
            active_deployment=None,
            updated_at=now,
        )
    return {"environment": env, "stopped": count}


def _stop_controller(store: Store, dep: DeploymentRow, grace: float = 10.0) -> None:
    """End the controller of a rollout being stopped. A controller process of its own (the
    CLI's, a detached one, the supervisor's) gets SIGTERM (it rolls back and records how it
    ended), SIGKILL after ``grace``; a worker's (which drives other work too, maybe on another
    host) has its lease revoked instead: its next write is refused and it stops."""
    import time

    from shipyard.adapters import processes
    from shipyard.store import work as work_repo

    if not _controller_alive(dep, store):
        return
    item = controllers.item_of(dep["id"])
    row = work.get(store, item)
    if row is not None and str(row["owner"] or "").startswith("worker@"):
        with store.begin() as uow:
            work_repo.revoke(uow.conn, item, utcnow())
        time.sleep(1.0)  # it writes every 0.2 s: by then it has met the revoked lease
        return
    pid = dep.get("controller_pid")
    if not pid or pid == os.getpid():
        return
    processes.terminate(int(pid))
    deadline = time.monotonic() + grace
    while _controller_alive(dep, store) and time.monotonic() < deadline:
        time.sleep(0.05)
    processes.kill(int(pid))
