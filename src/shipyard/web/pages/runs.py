"""Pipeline runs: the list, one run as its DAG, each step's log (live while it runs), and why
a step ran."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from shipyard.domain.access import Permission
from shipyard.errors import ShipyardError
from shipyard.services.pipelines import pipeline_history, pipeline_live
from shipyard.web.dag import columns
from shipyard.web.page import Ctx, WebRoute, page_ctx, render

router = APIRouter(route_class=WebRoute)


@router.get("/runs", response_class=HTMLResponse)
def runs(ctx: Ctx = Depends(page_ctx), limit: int = Query(50, ge=1, le=1000)) -> HTMLResponse:
    store = ctx.request.app.state.store
    found = pipeline_history.list_runs(store, ctx.project, limit)["runs"] if ctx.project else []
    return render(ctx, "runs.html", runs=found, limit=limit)


def _needs(ctx: Ctx, run: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The run's graph as the server's shipyard.yaml declares it, or none when the server
    holds no spec for the run's project or the spec no longer has the run's jobs."""
    if ctx.spec is None or ctx.spec.project != run["project"]:
        return {}
    from shipyard.domain.pipeline import build_graph
    from shipyard.services.pipelines.pipeline import select_jobs

    try:
        graph = build_graph(select_jobs(ctx.spec, run["jobs"] or None))
    except ShipyardError:
        return {}
    return {nid: node.needs for nid, node in graph.nodes.items()}


def _run(ctx: Ctx, run_id: int) -> dict[str, Any]:
    """GET /api/v1/runs/{id} and /live, laid out as a DAG."""
    store = ctx.request.app.state.store
    run = pipeline_history.show_run(store, run_id)
    ctx.who.require(Permission.READ, run["project"])
    live: Mapping[str, Any] = (
        pipeline_live.index(store, run_id) if run["status"] == "running" else {"running": []}
    )
    return {"run": run, "dag": columns(_needs(ctx, run), run["steps"], live["running"])}


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: int, step: str | None = None, ctx: Ctx = Depends(page_ctx)) -> HTMLResponse:
    store = ctx.request.app.state.store
    data = _run(ctx, run_id)
    log: Mapping[str, Any] | None = None
    why: Mapping[str, Any] | None = None
    chosen = None
    if step is not None:
        chosen = next((n for col in data["dag"] for n in col if n["node"] == step), None)
        if chosen is None:
            from shipyard.errors import NotFound

            raise NotFound(f"run {run_id} has no step {step!r}", "pick one of the run's steps")
        if chosen["state"] != "pending" or data["run"]["status"] == "running":
            log = pipeline_live.read(
                store, run_id, step, 0
            )  # a pending step streams once it starts
        if ctx.spec is not None and ctx.spec.project == data["run"]["project"]:
            job = chosen["step"]["job"] if chosen["step"] else step.split(" ", 1)[0]
            try:
                why = pipeline_history.why_job(store, ctx.spec, job)
            except ShipyardError:
                why = None  # the job is no longer in shipyard.yaml
    return render(ctx, "run.html", **data, chosen=chosen, log=log, why=why)


@router.get("/runs/{run_id}/dag", response_class=HTMLResponse)
def dag(run_id: int, step: str | None = None, ctx: Ctx = Depends(page_ctx)) -> HTMLResponse:
    """The DAG alone, which a running run's page asks for again every two seconds."""
    return render(ctx, "run_dag.html", **_run(ctx, run_id), chosen={"node": step} if step else None)


@router.get("/runs/{run_id}/logs/{node}/stream")
async def log_stream(
    run_id: int, node: str, offset: int = Query(0, ge=0), ctx: Ctx = Depends(page_ctx)
) -> StreamingResponse:
    """The API's log stream (GET /api/v1/runs/{id}/logs/{node}/stream), as HTML for htmx:
    ``chunk`` events append text, ``final`` replaces it with the stored log."""
    store = ctx.request.app.state.store
    run = await run_in_threadpool(pipeline_history.show_run, store, run_id)
    ctx.who.require(Permission.READ, run["project"])

    async def events() -> AsyncIterator[str]:
        stop = ctx.request.app.state.stopping
        async for kind, data in pipeline_live.follow(store, run_id, node, offset, stop=stop):
            if kind == "ping":
                yield ": ping\n\n"
                continue
            html = escape(data["text"] if kind == "chunk" else data["log"])
            lines = "\n".join(f"data: {line}" for line in html.split("\n"))
            yield f"event: {kind}\n{lines}\n\n"
        yield "event: end\ndata: \n\n"

    from shipyard.api.routes.pipelines import SSE_HEADERS

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
