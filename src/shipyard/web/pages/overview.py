"""Overview: what runs where, the train, freezes and locks, recent deployments and runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from shipyard.services.coordination import freezes, locks, trains
from shipyard.services.deployments import deploy
from shipyard.services.deployments import environments as env_svc
from shipyard.services.pipelines import pipeline_history
from shipyard.web.page import Ctx, WebRoute, page_ctx, render

router = APIRouter(route_class=WebRoute)


def data(ctx: Ctx) -> dict[str, Any]:
    """The same answers as GET /api/v1/environments, /release/train, /release/freezes/status,
    /release/locks, /deployments and /runs."""
    store = ctx.request.app.state.store
    spec = ctx.spec
    out: dict[str, Any] = {"environments": [], "train": None, "frozen": [], "locks": []}
    out["deployments"] = []
    if spec is not None:
        out["environments"] = env_svc.environments(store, spec)["environments"]
        if spec.release.train is not None:
            out["train"] = trains.status(store, spec, ctx.now)
        out["frozen"] = [
            st
            for name in spec.environments
            if (st := freezes.status(store, spec, ctx.now, name))["frozen"]
        ]
        out["locks"] = locks.list_locks(store, spec.project, ctx.now)
        out["deployments"] = deploy.history(store, spec, None, 10)["deployments"]
    out["runs"] = pipeline_history.list_runs(store, ctx.project, 10)["runs"] if ctx.project else []
    return out


@router.get("/", response_class=HTMLResponse)
def overview(ctx: Ctx = Depends(page_ctx)) -> HTMLResponse:
    return render(ctx, "overview.html", **data(ctx))
