"""Audit: the event log, filterable; each event's inclusion proof to download; the newest
signed checkpoint; the DORA chart and the build chart (services/metrics/charts.py)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from shipyard.api.routes import audit as api
from shipyard.services.compliance import audit
from shipyard.web.page import Ctx, WebRoute, done, form_ctx, page_ctx, render

router = APIRouter(route_class=WebRoute)
CHART_TTL_S = 60.0
BUILD_CHART_DAYS = 14
NO_CHART = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="40">'
    '<text x="4" y="24" font-family="sans-serif">{}</text></svg>'
)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    ctx: Ctx = Depends(page_ctx),
    kind: str | None = None,
    subject: str | None = None,
    since: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
) -> HTMLResponse:
    """GET /api/v1/audit/events (newest first here) and /checkpoints/latest."""
    store = ctx.request.app.state.store
    found = audit.log(
        store,
        kind=kind or None,
        subject=subject or None,
        since=since or None,
        limit=limit,
        project=ctx.project,
    )["events"]
    return render(
        ctx,
        "audit.html",
        events=found[::-1],
        filters={
            "kind": kind or "",
            "subject": subject or "",
            "since": since or "",
            "limit": limit,
        },
        checkpoint=audit.latest_checkpoint(store),
    )


@router.get("/audit/proof/{seq}")
def proof(seq: int, ctx: Ctx = Depends(page_ctx)) -> Response:
    """GET /api/v1/audit/proof/inclusion/{seq}, as a file to keep."""
    body = api.inclusion(seq, tree_size=None, who=ctx.who, store=ctx.request.app.state.store)
    return Response(
        json.dumps(body, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="inclusion-{seq}.json"'},
    )


@router.post("/audit/checkpoints")
def sign_checkpoint(ctx: Ctx = Depends(form_ctx)) -> Response:
    """POST /api/v1/audit/checkpoints (an admin token tied to no project)."""
    out = api.checkpoint(who=ctx.who, store=ctx.request.app.state.store)
    return done(ctx, "/audit", f"checkpoint signed at tree size {out['tree_size']}")


@router.get("/audit/charts/dora.svg")
def dora_chart(ctx: Ctx = Depends(page_ctx)) -> Response:
    """The status page's DORA chart (12 weeks, production), made at most once a minute."""
    from shipyard.api.throttle import Cached
    from shipyard.services.coordination.status_page import delivery_chart

    state = ctx.request.app.state
    if not hasattr(state, "dora_charts"):
        state.dora_charts = {}
    spec = ctx.need_spec()
    cache = state.dora_charts.setdefault(spec.project, Cached[str](CHART_TTL_S))
    svg, _age = cache.get(lambda: delivery_chart(state.store, spec, ctx.now))
    if not svg.startswith("<svg"):  # a line saying why there is no chart (no matplotlib)
        svg = NO_CHART.format(svg.removeprefix("<p>").removesuffix("</p>"))
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"}
    )


@router.get("/audit/charts/builds.svg")
def builds_chart(ctx: Ctx = Depends(page_ctx)) -> Response:
    """Build time and cache hit rate per day over two weeks, from the figures of
    GET /api/v1/metrics/builds, made at most once a minute like the DORA chart."""
    from shipyard.api.throttle import Cached
    from shipyard.services.metrics.charts import builds_svg
    from shipyard.services.pipelines import builds

    state = ctx.request.app.state
    if not hasattr(state, "build_charts"):
        state.build_charts = {}
    project = ctx.project or ""
    cache = state.build_charts.setdefault(project, Cached[str](CHART_TTL_S))
    svg, _age = cache.get(
        lambda: builds_svg(
            builds.daily_report(
                state.store, days=BUILD_CHART_DAYS, project=project or None, now=ctx.now
            )
        )
    )
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"}
    )
