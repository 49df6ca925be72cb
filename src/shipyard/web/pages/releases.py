"""Releases and compliance: releases and artifacts (provenance, SBOM, verification), gates per
environment and why, approvals with separation of duties, break-glass requests and reviews.
Every action goes through the API's own release routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from shipyard.api.routes import release as api
from shipyard.errors import ShipyardError
from shipyard.services.compliance import audit
from shipyard.services.coordination import breakglass
from shipyard.services.releases import artifacts, release
from shipyard.web.page import Ctx, WebRoute, done, form_ctx, page_ctx, render

router = APIRouter(route_class=WebRoute)


def _gates(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /api/v1/release/gates/{env} for each environment, or why there is no verdict."""
    out: list[dict[str, Any]] = []
    for env in ctx.need_spec().environments:
        try:
            verdict = api.gates(
                env, version=None, at=None, p=ctx.who, store=ctx.request.app.state.store
            )
            out.append({"environment": env, "verdict": verdict, "error": None})
        except ShipyardError as exc:
            out.append({"environment": env, "verdict": None, "error": exc})
    return out


def _releases(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /api/v1/audit/events?kind=release.created, newest first, each with the changelog
    section its release wrote (the event holds it; the server reads no repository for a page)."""
    store = ctx.request.app.state.store
    project = ctx.project or ""
    found = audit.log(store, kind="release.created", limit=20, project=project)["events"][::-1]
    return [{**e, "changelog": release.changelog_of(e)} for e in found]


@router.get("/releases", response_class=HTMLResponse)
def releases(ctx: Ctx = Depends(page_ctx)) -> HTMLResponse:
    store = ctx.request.app.state.store
    project = ctx.project or ""
    spec = ctx.spec
    return render(
        ctx,
        "releases.html",
        releases=_releases(ctx),
        artifacts=artifacts.list_artifacts(store, project)["artifacts"] if project else [],
        gates=_gates(ctx) if spec is not None else [],
        approvals=audit.log(store, kind="approval.granted", limit=20, project=project)["events"][
            ::-1
        ],
        overrides=breakglass.list_overrides(store, spec.project)[::-1] if spec is not None else [],
        environments=list(spec.environments) if spec is not None else [],
    )


@router.get("/releases/artifacts/{name}/{version}", response_class=HTMLResponse)
def artifact(name: str, version: str, ctx: Ctx = Depends(page_ctx)) -> HTMLResponse:
    """GET /api/v1/artifacts/{name}/{version} and its /verify."""
    store = ctx.request.app.state.store
    ref = f"{name}@{version}"
    project = ctx.project or ""
    return render(
        ctx,
        "artifact.html",
        artifact=artifacts.show(store, project, ref),
        verified=artifacts.verify(store, project, ref),
    )


@router.post("/releases/approvals")
def approve(ctx: Ctx = Depends(form_ctx)) -> Response:
    """POST /api/v1/release/approvals: separation of duties is the service's to enforce."""
    body = api.ApprovalIn(
        environment=ctx.form.get("environment", ""),
        version=ctx.form.get("version", ""),
        comment=ctx.form.get("comment", ""),
    )
    api.approve(body, p=ctx.who, store=ctx.request.app.state.store)
    return done(ctx, "/releases", f"{body.version} approved for {body.environment}")


@router.post("/releases/break-glass/{override_id}/approve")
def approve_break_glass(override_id: str, ctx: Ctx = Depends(form_ctx)) -> Response:
    api.approve_break_glass(override_id, p=ctx.who, store=ctx.request.app.state.store)
    return done(ctx, "/releases", f"break-glass {override_id} approved")


@router.post("/releases/break-glass/{override_id}/review")
def review_break_glass(override_id: str, ctx: Ctx = Depends(form_ctx)) -> Response:
    body = api.ReviewIn(notes=ctx.form.get("notes", ""))
    api.review_break_glass(override_id, body, p=ctx.who, store=ctx.request.app.state.store)
    return done(ctx, "/releases", f"break-glass {override_id} reviewed")
