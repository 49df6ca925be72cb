"""Deployment routes: the same answers as `shipyard env`, `deploy` and `rollout ...`.

The API only records intents and reads state: a deploy or rollback recorded here is driven by
whichever worker takes its lease (`shipyard worker`, or the server's own unless `--no-worker`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from shipyard.api.deps import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.specs import Spec

router = APIRouter()
Reader = Depends(require(Permission.READ))
Deployer = Depends(require(Permission.DEPLOY))


def _spec(
    store: Store,
    principal: Principal,
    permission: Permission,
    project: str | None,
    environment: str | None = None,
) -> Spec:
    """The project's spec as the server holds it (`shipyard apply`); the token must reach the
    project (and the environment, when named). Versions deploy from the artifact registry:
    the server has no working tree to build one from."""
    from shipyard.services import specs

    chosen = specs.choose(store, principal, project)
    principal.require(permission, chosen, environment)
    return specs.require(store, chosen)


class DeployBody(BaseModel):
    environment: str
    version: str | None = None
    artifact: str | None = None
    allow_destructive: str | None = None  # the reason to run a destructive migration


@router.get("/environments")
def environments(
    project: str | None = None, p: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    spec = _spec(store, p, Permission.READ, project)
    return env_svc.environments(store, spec)


@router.get("/deployments")
def history(
    environment: str | None = None,
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    spec = _spec(store, p, Permission.READ, project)
    return svc.history(store, spec, environment)


@router.post("/deployments")
def deploy(
    body: DeployBody, project: str | None = None, p: Principal = Deployer, store: Store = StoreDep
) -> Mapping[str, Any]:
    from shipyard.services import checkouts
    from shipyard.services.compliance import gates

    spec = _spec(store, p, Permission.DEPLOY, project, body.environment)
    create = partial(
        svc.create,
        store,
        spec,
        None,
        body.environment,
        version=body.version,
        artifact=body.artifact,
        actor=p.name,
        allow_destructive=body.allow_destructive,
    )
    if not gates.runs_commands(spec, body.environment):
        return create()
    with checkouts.required(store, spec.project) as tree:  # gate commands need the code
        return create(gate_root=tree)


class RollbackBody(BaseModel):
    to: str | None = None


@router.post("/rollbacks/{environment}")
def rollback(
    environment: str,
    body: RollbackBody | None = None,
    project: str | None = None,
    p: Principal = Deployer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    """`shipyard rollback ENV [--to V]`, driven by a worker. A held rollout is aborted
    instead (its controller, or the next worker to take it, takes the abort)."""
    spec = _spec(store, p, Permission.DEPLOY, project, environment)
    to = body.to if body else None
    queued = svc.abort_for_rollback(store, spec, environment, to=to, actor=p.name)
    if queued is not None:
        return queued
    return svc.create_rollback(store, spec, environment, to=to, actor=p.name)


@router.get("/rollouts/{environment}")
def status(
    environment: str, project: str | None = None, p: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    spec = _spec(store, p, Permission.READ, project)
    return svc.rollout_status(store, spec, environment)


@router.post("/rollouts/{environment}/{action}")
def act(
    environment: str,
    action: str,
    project: str | None = None,
    p: Principal = Deployer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    spec = _spec(store, p, Permission.DEPLOY, project, environment)
    return svc.act(store, spec, environment, action, p.name)
