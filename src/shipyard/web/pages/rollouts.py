"""Rollouts: each environment's live rollout (steps, weights, every analysis measurement
against its threshold as it arrives), the deployer's buttons, and the deployment history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from shipyard.domain.access import Permission
from shipyard.errors import InputError, NotFound
from shipyard.services.deployments import deploy
from shipyard.services.deployments import environments as env_svc
from shipyard.web.page import Ctx, WebRoute, done, form_ctx, page_ctx, render

router = APIRouter(route_class=WebRoute)
BUTTONS = ("promote", "promote-full", "pause", "resume", "abort")


@router.get("/rollouts", response_class=HTMLResponse)
def rollouts(ctx: Ctx = Depends(page_ctx), environment: str | None = None) -> HTMLResponse:
    """GET /api/v1/environments and /api/v1/deployments."""
    spec = ctx.need_spec()
    store = ctx.request.app.state.store
    return render(
        ctx,
        "rollouts.html",
        environments=env_svc.environments(store, spec)["environments"],
        history=deploy.history(store, spec, environment or None, 50)["deployments"],
        environment=environment,
    )


def _live(ctx: Ctx, env: str) -> dict[str, Any]:
    """GET /api/v1/rollouts/{env} and `rollout explain` (every measurement, as it is stored)."""
    spec = ctx.need_spec()
    store = ctx.request.app.state.store
    try:
        status = deploy.rollout_status(store, spec, env)
    except NotFound:
        return {"environment": env, "status": None, "explain": None}
    return {
        "environment": env,
        "status": status,
        "explain": deploy.explain(store, spec, env),
        "buttons": BUTTONS,
    }


@router.get("/rollouts/{env}", response_class=HTMLResponse)
def rollout(env: str, ctx: Ctx = Depends(page_ctx)) -> HTMLResponse:
    spec = ctx.need_spec()
    store = ctx.request.app.state.store
    history = deploy.history(store, spec, env, 20)["deployments"]
    return render(ctx, "rollout.html", **_live(ctx, env), history=history)


@router.get("/rollouts/{env}/live", response_class=HTMLResponse)
def live(env: str, ctx: Ctx = Depends(page_ctx)) -> HTMLResponse:
    """The live part alone: the page asks for it again every second while a rollout runs."""
    return render(ctx, "rollout_live.html", **_live(ctx, env))


@router.post("/rollouts/{env}/{action}")
def act(env: str, action: str, ctx: Ctx = Depends(form_ctx)) -> Response:
    """POST /api/v1/rollouts/{env}/{action}, or /api/v1/rollbacks/{env} for ``rollback``."""
    spec = ctx.need_spec()
    ctx.who.require(Permission.DEPLOY, spec.project)
    store = ctx.request.app.state.store
    if action == "rollback":
        from shipyard.api.routes.deployments import RollbackBody
        from shipyard.api.routes.deployments import rollback as api_rollback

        to = ctx.form.get("to") or None
        out = api_rollback(env, RollbackBody(to=to), p=ctx.who, store=store)
        return done(ctx, f"/rollouts/{env}", f"rollback of {env} started ({out['id']})")
    if action not in BUTTONS:
        raise InputError(
            f"unknown rollout action '{action}'",
            f"one of {', '.join(BUTTONS)}, rollback",
            code="rollout-action-unknown",
        )
    deploy.act(store, spec, env, action, ctx.who.name)
    return done(ctx, f"/rollouts/{env}", f"{action} queued for the rollout in {env}")
