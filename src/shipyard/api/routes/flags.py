"""Flag management routes: the same answers as `shipyard flags ...`. Reading needs a viewer
token; changing needs the FLAGS permission. The acting identity is the token's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from shipyard.api.app import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.errors import InputError
from shipyard.services import flags, flags_client, flags_lifecycle
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
Writer = Depends(require(Permission.FLAGS))


def _spec() -> Any | None:
    from shipyard.errors import ShipyardError
    from shipyard.spec.load import find_spec, load_spec

    try:
        return load_spec(find_spec())
    except ShipyardError:
        return None  # a server need not run inside a repository


def _scope(
    principal: Principal, project: str | None, env: str | None, permission: Permission
) -> tuple[str, str | None]:
    """The project (asked for, the token's own, or the server's repository's) and the env."""
    spec = _spec()
    chosen = project or principal.project or (spec.project if spec is not None else None)
    if chosen is None:
        raise InputError(
            "which project? this token is not limited to one",
            "pass ?project=NAME",
            code="project-required",
        )
    principal.require(permission, chosen)
    if env is not None:
        known = list(spec.environments) if spec is not None and spec.project == chosen else None
        flags.check_environment(env, known)
    return chosen, env


def _need(env: str | None) -> str:
    if not env:
        raise InputError("which environment?", "pass ?env=NAME", code="flag-environment-required")
    return env


class CreateIn(BaseModel):
    name: str
    type: str = "release"
    description: str | None = None
    rollout: int = 100
    enabled: bool = False


class RolloutIn(BaseModel):
    percentage: int


class EvalIn(BaseModel):
    context: dict[str, Any] = Field(default_factory=dict)


class TokenIn(BaseModel):
    environment: str
    name: str = "sdk"


@router.get("")
def list_flags(
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, env, Permission.READ)
    return {"flags": flags.list_flags(store, chosen, env)}


@router.post("")
def create(
    body: CreateIn,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS)
    return flags.create(
        store,
        chosen,
        _need(env),
        body.name,
        who.name,
        kind=body.type,
        description=body.description,
        enabled=body.enabled,
        rollout=body.rollout,
    )


@router.get("/export")
def export(
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.READ)
    return flags.export(store, chosen, _need(env))


@router.post("/import")
def import_(
    payload: dict[str, Any] = Body(...),
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS)
    return flags.import_payload(store, chosen, _need(env), payload, who.name)


@router.get("/stale")
def stale(
    days: int = 7, project: str | None = None, who: Principal = Reader, store: Store = StoreDep
) -> dict[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.READ)
    return flags_lifecycle.stale(store, chosen, Path.cwd(), days)


@router.post("/tokens")
def create_token(
    body: TokenIn, project: str | None = None, who: Principal = Writer, store: Store = StoreDep
) -> dict[str, Any]:
    chosen, env = _scope(who, project, body.environment, Permission.FLAGS)
    return flags_client.create_token(store, chosen, _need(env), body.name, who.name)


@router.get("/stream")
def stream(
    request: Request,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> StreamingResponse:
    """Server-sent events: the environment's flags now, then each change as it commits."""
    from shipyard.api.routes.unleash import event_stream

    chosen, env = _scope(who, project, _need(env), Permission.READ)
    return event_stream(request, store, chosen, _need(env))


@router.get("/{name}")
def show(
    name: str,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, env, Permission.READ)
    return flags.show(store, chosen, name, env)


@router.put("/{name}")
def replace(
    name: str,
    feature: dict[str, Any] = Body(...),
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    """Create or replace the flag with a full Unleash feature object."""
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS)
    return flags.save(store, chosen, _need(env), {**feature, "name": name}, who.name)


@router.delete("/{name}")
def delete(
    name: str,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS)
    return flags.delete(store, chosen, _need(env), name, who.name)


@router.post("/{name}/enable")
def enable(
    name: str,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS)
    return flags.set_enabled(store, chosen, _need(env), name, True, who.name)


@router.post("/{name}/disable")
def disable(
    name: str,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS)
    return flags.set_enabled(store, chosen, _need(env), name, False, who.name)


@router.post("/{name}/rollout")
def rollout(
    name: str,
    body: RolloutIn,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS)
    return flags.set_rollout(store, chosen, _need(env), name, body.percentage, who.name)


@router.post("/{name}/eval")
def evaluate(
    name: str,
    body: EvalIn,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.READ)
    return flags.evaluate(store, chosen, _need(env), name, body.context)
