"""Deployment routes: the same answers as `shipyard env`, `deploy` and `rollout ...`.

A deploy started here runs its controller as a process of its own, as `deploy --detach` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from shipyard.api.app import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.services import deploy as svc
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
Deployer = Depends(require(Permission.DEPLOY))


def _spec(
    principal: Principal, permission: Permission, environment: str | None = None
) -> tuple[Any, Path]:
    from shipyard.spec.load import find_spec, load_spec

    path = find_spec()
    spec = load_spec(path)
    principal.require(permission, spec.project, environment)
    return spec, path.resolve().parent


class DeployBody(BaseModel):
    environment: str
    version: str | None = None
    artifact: str | None = None
    allow_destructive: str | None = None  # the reason to run a destructive migration


@router.get("/environments")
def environments(p: Principal = Reader, store: Store = StoreDep) -> dict[str, Any]:
    spec, _ = _spec(p, Permission.READ)
    return svc.environments(store, spec)


@router.get("/deployments")
def history(
    environment: str | None = None, p: Principal = Reader, store: Store = StoreDep
) -> dict[str, Any]:
    spec, _ = _spec(p, Permission.READ)
    return svc.history(store, spec, environment)


@router.post("/deployments")
def deploy(body: DeployBody, p: Principal = Deployer, store: Store = StoreDep) -> dict[str, Any]:
    from shipyard.cli.deploy import _spawn_controller

    spec, root = _spec(p, Permission.DEPLOY, body.environment)
    created = svc.create(
        store,
        spec,
        root,
        body.environment,
        version=body.version,
        artifact=body.artifact,
        actor=p.name,
        allow_destructive=body.allow_destructive,
    )
    _spawn_controller(created["id"], root)
    return created


class RollbackBody(BaseModel):
    to: str | None = None


@router.post("/rollbacks/{environment}")
def rollback(
    environment: str,
    body: RollbackBody | None = None,
    p: Principal = Deployer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    """`shipyard rollback ENV [--to V]`; its controller runs as a process of its own.
    A held rollout is aborted instead (its running controller takes the abort)."""
    from shipyard.cli.deploy import _spawn_controller
    from shipyard.services import deploy_hold

    spec, root = _spec(p, Permission.DEPLOY, environment)
    to = body.to if body else None
    queued = deploy_hold.abort_for_rollback(store, spec, environment, to=to, actor=p.name)
    if queued is not None:
        if not queued["controller_alive"]:
            _spawn_controller(queued["id"], root)
        return queued
    created = svc.create_rollback(store, spec, environment, to=to, actor=p.name)
    _spawn_controller(created["id"], root)
    return created


@router.get("/rollouts/{environment}")
def status(environment: str, p: Principal = Reader, store: Store = StoreDep) -> dict[str, Any]:
    spec, _ = _spec(p, Permission.READ)
    return svc.rollout_status(store, spec, environment)


@router.post("/rollouts/{environment}/{action}")
def act(
    environment: str, action: str, p: Principal = Deployer, store: Store = StoreDep
) -> dict[str, Any]:
    spec, _ = _spec(p, Permission.DEPLOY, environment)
    return svc.act(store, spec, environment, action, p.name)
