"""Metrics routes: the same figures as `shipyard metrics ...`, incidents, and a Prometheus
``/metrics`` endpoint (viewer token: scrape with ``authorization: {credentials: <token>}``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from shipyard.api.deps import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.identity import of_principal
from shipyard.services import projects
from shipyard.services.coordination import incidents
from shipyard.services.metrics import metrics, promexport
from shipyard.services.pipelines import builds
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
incidents_router = APIRouter()
prometheus_router = APIRouter()
Reader = Depends(require(Permission.READ))
Deployer = Depends(require(Permission.DEPLOY))


@router.get("/dora")
def dora(
    service: str | None = None,
    env: str | None = None,
    since: str | None = None,
    until: str | None = None,
    by: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return metrics.dora_report(
        store, service=service, env=env, since=since, until=until, by=by, project=who.project
    )


@router.get("/builds")
def build_figures(
    request: Request,
    since: str | None = None,
    until: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    request.app.state.remote_cache.flush()  # this process's remote-cache counts, up to now
    return builds.builds_report(store, since=since, until=until, project=who.project)


@router.get("/cost")
def cost(
    developers: int,
    runs_per_day: float,
    hourly_cost: float,
    since: str | None = None,
    until: str | None = None,
    statistic: str = "p50",
    who: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return builds.cost_report(
        store,
        developers,
        runs_per_day,
        hourly_cost,
        since=since,
        until=until,
        statistic=statistic,
        project=who.project,
    )


class IncidentIn(BaseModel):
    service: str
    deployment_id: str | None = None
    title: str = ""
    unlinked: bool = False
    project: str | None = None  # only for an unlinked incident


@incidents_router.get("")
def list_incidents(who: Principal = Reader, store: Store = StoreDep) -> dict[str, Any]:
    return {"incidents": incidents.list_incidents(store, who.project)}


@incidents_router.post("", status_code=201)
def open_incident(
    body: IncidentIn, who: Principal = Deployer, store: Store = StoreDep
) -> Mapping[str, Any]:
    project = body.project or who.project
    if project is not None:
        projects.admit(store, who, project)
    return incidents.open_incident(
        store,
        body.service,
        body.deployment_id,
        title=body.title,
        unlinked=body.unlinked,
        project=project,
        actor=of_principal(who),
    )


@incidents_router.post("/{incident_id}/resolve")
def resolve_incident(
    incident_id: str, who: Principal = Deployer, store: Store = StoreDep
) -> Mapping[str, Any]:
    return incidents.resolve_incident(
        store, incident_id, project=who.project, actor=of_principal(who)
    )


@prometheus_router.get("/metrics", response_class=PlainTextResponse)
def prometheus(
    env: str | None = None, since: str = "30d", who: Principal = Reader, store: Store = StoreDep
) -> PlainTextResponse:
    text = promexport.exposition(store, env=env, since=since, project=who.project)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
