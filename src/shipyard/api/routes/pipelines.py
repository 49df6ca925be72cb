"""Pipeline routes: the same answers as `shipyard runs`, `runs show` and `logs`.

A token limited to one project sees only that project's runs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from shipyard.api.deps import StoreDep, read_scope, require
from shipyard.domain.access import Permission
from shipyard.services.pipelines import pipeline_history
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("")
def runs(
    project: str | None = None,
    limit: int = Query(20, ge=1, le=1000),
    who: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return pipeline_history.list_runs(store, read_scope(who, project), limit)


@router.get("/why/{job}")
def why(job: str, who: Principal = Reader, store: Store = StoreDep) -> Mapping[str, Any]:
    """`shipyard why JOB`: what changed in the job's cache key between its two newest runs
    (the job as the server's shipyard.yaml declares it)."""
    from shipyard.api.routes.release import _spec

    return pipeline_history.why_job(store, _spec(store, who), job)


@router.get("/{run_id}")
def show(run_id: int, who: Principal = Reader, store: Store = StoreDep) -> Mapping[str, Any]:
    data = pipeline_history.show_run(store, run_id)
    who.require(Permission.READ, data["project"])
    return data


@router.get("/{run_id}/logs/{job}")
def logs(
    run_id: int, job: str, who: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    who.require(Permission.READ, pipeline_history.show_run(store, run_id)["project"])
    return pipeline_history.step_logs(store, run_id, job)


@router.get("/{run_id}/live")
def live(run_id: int, who: Principal = Reader, store: Store = StoreDep) -> Mapping[str, Any]:
    """The steps a running run has started and not yet recorded."""
    from shipyard.services.pipelines import pipeline_live

    who.require(Permission.READ, pipeline_history.show_run(store, run_id)["project"])
    return pipeline_live.index(store, run_id)


@router.get("/{run_id}/logs/{node}/stream")
async def log_stream(
    run_id: int, node: str, request: Request, who: Principal = Reader, store: Store = StoreDep
) -> StreamingResponse:
    """Server-sent events: ``chunk`` (``{"text"}``) as the step prints, masked, then ``final``
    (``{"log", "status"}``, the stored log) when it is recorded."""
    from shipyard.services.pipelines import pipeline_live

    run = await run_in_threadpool(pipeline_history.show_run, store, run_id)
    who.require(Permission.READ, run["project"])

    async def events() -> AsyncIterator[str]:
        stop = request.app.state.stopping
        async for kind, data in pipeline_live.follow(store, run_id, node, stop=stop):
            yield ": ping\n\n" if kind == "ping" else f"event: {kind}\ndata: {json.dumps(data)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
