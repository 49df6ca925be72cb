"""Flag management routes: the same answers as `shipyard flags ...`. Reading needs a viewer
token; changing needs the FLAGS permission. The acting identity is the token's name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from shipyard.api.deps import StoreDep, require
from shipyard.domain.access import Permission, reaches_environment
from shipyard.errors import InputError, NotFound
from shipyard.services import checkouts, projects, specs
from shipyard.services.flags import (
    flag_schedules,
    flag_segments,
    flag_strategies,
    flags,
    flags_client,
    flags_lifecycle,
)
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
Writer = Depends(require(Permission.FLAGS))


def _scope(
    principal: Principal,
    project: str | None,
    env: str | None,
    permission: Permission,
    store: Store | None = None,
    *,
    db: Store | None = None,
) -> tuple[str, str | None]:
    """The project (asked for, the token's own, or the one the server holds) and the env,
    checked against the project's environments when the server holds its spec; a write
    (``store`` given) must name a project the server holds or the caller may add."""
    reads = db or store
    assert reads is not None, "every route passes its store"
    chosen = specs.choose(reads, principal, project)
    principal.require(permission, chosen, env)
    if store is not None:
        projects.admit(store, principal, chosen)
    if env is not None:
        spec = specs.current(reads, chosen)
        flags.check_environment(env, list(spec.environments) if spec is not None else None)
    return chosen, env


@dataclass(frozen=True)
class EnvScope:
    """Who asks, about which project and environment: checked before a route runs."""

    project: str
    env: str
    who: Principal


def reading_scope(
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> EnvScope:
    chosen, env = _scope(who, project, _need(env), Permission.READ, db=store)
    return EnvScope(chosen, _need(env), who)


def changing_scope(
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> EnvScope:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS, store, db=store)
    return EnvScope(chosen, _need(env), who)


# The environment named by ``?env=`` (required) and ``?project=``, for reading and for changing.
Reading = Depends(reading_scope)
Writing = Depends(changing_scope)


_Row = TypeVar("_Row", bound=Mapping[str, Any])


def _reach(who: Principal, rows: list[_Row]) -> list[_Row]:
    """Only the rows of the environments a token limited to some may see."""
    return [r for r in rows if reaches_environment(who.environments, r["environment"])]


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
    name: str = Field("sdk", max_length=200)
    kind: str = "client"
    origins: list[str] = Field(default_factory=list, max_length=50)
    expires_in_seconds: int | None = Field(None, gt=0)


class SegmentIn(BaseModel):
    """``constraints`` is Unleash constraint JSON; ``id`` is the next free one if left out."""

    constraints: Any = None
    name: str | None = None
    id: int | None = None


class SegmentChangeIn(BaseModel):
    constraints: Any = None
    name: str | None = None


class StrategyIn(BaseModel):
    """An Unleash strategy: ``name`` (flexibleRollout, userWithId ...), parameters as text."""

    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    constraints: Any = None
    segments: list[Any] = Field(default_factory=list)


class StepIn(BaseModel):
    percentage: int
    at: str


class ScheduleIn(BaseModel):
    """One change (``action`` enable, disable or rollout with ``percentage``, at ``at``) or
    ``steps``; ``at`` is +2h, 10:30 (UTC) or an ISO time with a zone."""

    flag: str
    action: str | None = None
    percentage: int | None = None
    at: str | None = None
    steps: list[StepIn] | None = None


@router.get("")
def list_flags(
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, env, Permission.READ, db=store)
    return {"flags": _reach(who, flags.list_flags(store, chosen, env))}


@router.post("")
def create(
    body: CreateIn,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flags.create(
        store,
        at.project,
        at.env,
        body.name,
        at.who.name,
        kind=body.type,
        description=body.description,
        enabled=body.enabled,
        rollout=body.rollout,
    )


@router.get("/export")
def export(
    at: EnvScope = Reading,
    store: Store = StoreDep,
) -> dict[str, Any]:
    return flags.export(store, at.project, at.env)


@router.post("/import")
def import_(
    payload: dict[str, Any] = Body(...),
    env: str | None = None,
    project: str | None = None,
    strict: bool = False,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS, store, db=store)
    return flags.import_payload(store, chosen, _need(env), payload, who.name, strict=strict)


@router.get("/stale")
def stale(
    days: int = 7, project: str | None = None, who: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.READ, db=store)
    # References are searched in the project's configured repository, when it has one.
    with checkouts.worktree(store, chosen) as root:
        return flags_lifecycle.stale(store, chosen, root, days)


@router.post("/tokens")
def create_token(
    body: TokenIn, project: str | None = None, who: Principal = Writer, store: Store = StoreDep
) -> Mapping[str, Any]:
    from datetime import timedelta

    chosen, env = _scope(who, project, body.environment, Permission.FLAGS, store, db=store)
    life = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    return flags_client.create_token(
        store,
        chosen,
        _need(env),
        body.name,
        who.name,
        expires_in=life,
        kind=body.kind,
        origins=body.origins,
    )


@router.get("/tokens")
def list_tokens(
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, env, Permission.FLAGS, db=store)
    return {"tokens": _reach(who, flags_client.list_client_tokens(store, chosen, env))}


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: str, project: str | None = None, who: Principal = Writer, store: Store = StoreDep
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.FLAGS, db=store)
    if who.environments is not None:
        mine = {t["id"] for t in _reach(who, flags_client.list_client_tokens(store, chosen))}
        if token_id not in mine:
            raise NotFound(
                f"no client token with id '{token_id}' in this token's environments",
                "list them with `shipyard flags token list`",
                code="token-not-found",
            )
    return flags_client.revoke_in_project(store, chosen, token_id, who.name)


@router.get("/stream")
def stream(
    request: Request,
    at: EnvScope = Reading,
    store: Store = StoreDep,
) -> StreamingResponse:
    """Server-sent events: the environment's flags now, then each change as it commits."""
    from shipyard.api.routes.unleash import event_stream

    return event_stream(request, store, at.project, at.env, at.who.token_id)


@router.get("/segments")
def list_segments(
    at: EnvScope = Reading,
    store: Store = StoreDep,
) -> dict[str, Any]:
    return {"segments": flag_segments.list_segments(store, at.project, at.env)}


@router.post("/segments")
def create_segment(
    body: SegmentIn,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flag_segments.create_segment(
        store, at.project, at.env, body.constraints, at.who.name, name=body.name, segment_id=body.id
    )


@router.get("/segments/{segment_id}")
def show_segment(
    segment_id: int,
    at: EnvScope = Reading,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flag_segments.show_segment(store, at.project, at.env, segment_id)


@router.put("/segments/{segment_id}")
def update_segment(
    segment_id: int,
    body: SegmentChangeIn,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flag_segments.update_segment(
        store,
        at.project,
        at.env,
        segment_id,
        at.who.name,
        constraints=body.constraints,
        name=body.name,
    )


@router.delete("/segments/{segment_id}")
def delete_segment(
    segment_id: int,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flag_segments.delete_segment(store, at.project, at.env, segment_id, at.who.name)


@router.get("/schedules")
def list_schedules(
    env: str | None = None,
    pending: bool = False,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, env, Permission.READ, db=store)
    rows = flag_schedules.list_schedules(store, chosen, env, pending=pending)
    return {"schedules": _reach(who, rows)}


@router.post("/schedules")
def create_schedule(
    body: ScheduleIn,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> dict[str, Any]:
    """One scheduled change, or a stepped rollout stored all or none."""
    if body.steps is not None:
        if body.action is not None or body.at is not None or body.percentage is not None:
            raise InputError(
                "steps go alone",
                "send either steps or action and at",
                code="schedule-options-invalid",
            )
        rows = flag_schedules.schedule_steps(
            store,
            at.project,
            at.env,
            body.flag,
            [(s.percentage, s.at) for s in body.steps],
            actor=at.who.name,
        )
        return {"schedules": rows}
    if body.action is None or body.at is None:
        raise InputError(
            "give action (enable, disable, rollout) and at",
            'or steps: [{"percentage": 10, "at": "+1h"}, ...]',
            code="schedule-options-invalid",
        )
    row = flag_schedules.schedule(
        store,
        at.project,
        at.env,
        body.flag,
        body.action,
        body.at,
        body.percentage,
        actor=at.who.name,
    )
    return {"schedules": [row]}


@router.post("/schedules/apply")
def apply_schedules(
    project: str | None = None, who: Principal = Writer, store: Store = StoreDep
) -> dict[str, Any]:
    """Apply what is due now in the project (the server also does so every 30 seconds)."""
    from datetime import UTC, datetime

    from shipyard.services.flags import flag_requests

    chosen, _ = _scope(who, project, None, Permission.FLAGS, store, db=store)
    now = datetime.now(UTC)
    return {
        "applied": flag_schedules.apply_due(store, now, project=chosen),
        "requests": flag_requests.apply_due(store, now, project=chosen),
    }


@router.post("/schedules/{schedule_id}/cancel")
def cancel_schedule(
    schedule_id: int, project: str | None = None, who: Principal = Writer, store: Store = StoreDep
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.FLAGS, store, db=store)
    if who.environments is not None:
        mine = {r["id"] for r in _reach(who, flag_schedules.list_schedules(store, chosen))}
        if schedule_id not in mine:
            raise flag_schedules.ScheduleNotFound(
                f"no schedule {schedule_id} in this token's environments"
            )
    return flag_schedules.cancel(store, chosen, schedule_id, actor=who.name)


@router.get("/{name}")
def show(
    name: str,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    chosen, env = _scope(who, project, env, Permission.READ, db=store)
    shown = flags.show(store, chosen, name, env)
    if who.environments is not None:
        envs = shown["environments"]
        shown["environments"] = {e: v for e, v in envs.items() if e in who.environments}
        shown["exposures"] = _reach(who, shown["exposures"])
        if not shown["environments"]:
            raise flags.FlagNotFound(f"no flag '{name}' in the environments of this token")
    return shown


@router.put("/{name}")
def replace(
    name: str,
    feature: dict[str, Any] = Body(...),
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    """Create or replace the flag with a full Unleash feature object."""
    return flags.save(store, at.project, at.env, {**feature, "name": name}, at.who.name)


@router.delete("/{name}")
def delete(
    name: str,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flags.delete(store, at.project, at.env, name, at.who.name)


@router.post("/{name}/enable")
def enable(
    name: str,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flags.set_enabled(store, at.project, at.env, name, True, at.who.name)


@router.post("/{name}/disable")
def disable(
    name: str,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flags.set_enabled(store, at.project, at.env, name, False, at.who.name)


@router.post("/{name}/rollout")
def rollout(
    name: str,
    body: RolloutIn,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flags.set_rollout(store, at.project, at.env, name, body.percentage, at.who.name)


@router.post("/{name}/eval")
def evaluate(
    name: str,
    body: EvalIn,
    at: EnvScope = Reading,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flags.evaluate(store, at.project, at.env, name, body.context)


@router.get("/{name}/strategies")
def list_strategies(
    name: str,
    at: EnvScope = Reading,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flag_strategies.list_strategies(store, at.project, at.env, name)


@router.post("/{name}/strategies")
def add_strategy(
    name: str,
    body: StrategyIn,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flag_strategies.add_strategy(
        store,
        at.project,
        at.env,
        name,
        at.who.name,
        kind=body.name,
        parameters=body.parameters,
        constraints=body.constraints,
        segments=body.segments,
    )


@router.delete("/{name}/strategies/{index}")
def remove_strategy(
    name: str,
    index: int,
    at: EnvScope = Writing,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return flag_strategies.remove_strategy(store, at.project, at.env, name, index, at.who.name)
