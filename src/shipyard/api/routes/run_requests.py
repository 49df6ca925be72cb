"""Runs started by events: queue a run of a commit, a repository's settings, the git hosts'
webhooks (services/pipelines/run_requests.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from shipyard.api.deps import StoreDep, read_scope, require
from shipyard.domain.access import Permission
from shipyard.services.pipelines import run_requests
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
Runner = Depends(require(Permission.RUN))
Admin = Depends(require(Permission.ADMIN))


class RunIn(BaseModel):
    commit: str = Field(max_length=64)
    ref: str = Field("", max_length=300)


class RepositoryIn(BaseModel):
    name: str = Field(max_length=300)
    remote: str = Field(max_length=2000)
    secret: str = Field(max_length=500)
    executor: str = Field("local", max_length=300)
    status_command: str | None = Field(None, max_length=4000)


@router.post("/runs", status_code=202)
def queue_run(
    body: RunIn, project: str | None = None, who: Principal = Runner, store: Store = StoreDep
) -> Mapping[str, Any]:
    """Queue a run of a commit of the project's repository; a worker runs it."""
    from shipyard.identity import of_principal

    name = project or who.project
    if name is None:
        from shipyard.errors import InputError

        raise InputError("which project's commit?", "add ?project=NAME", code="project-required")
    who.require(Permission.RUN, name)
    return run_requests.request_run(
        store, name, body.commit, ref=body.ref, trigger="api", actor=of_principal(who)
    )


@router.get("/run-requests")
def list_requests(
    project: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    who: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    return run_requests.list_requests(store, read_scope(who, project), limit)


@router.get("/run-requests/{request_id}")
def show_request(
    request_id: int, who: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    return run_requests.show(store, request_id, who.project)


@router.put("/projects/{project}/repository")
def set_repository(
    project: str, body: RepositoryIn, who: Principal = Admin, store: Store = StoreDep
) -> Mapping[str, Any]:
    return run_requests.configure(store, who, project, **body.model_dump())


@router.post("/hooks/git", status_code=202)
async def git_hook(request: Request, store: Store = StoreDep) -> Mapping[str, Any]:
    """A GitHub or GitLab push or pull/merge request webhook; its signature (or token) is its
    authentication."""
    from starlette.concurrency import run_in_threadpool

    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await run_in_threadpool(run_requests.hook, store, headers, body)
