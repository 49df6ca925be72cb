"""Pipeline routes: the same answers as `shipyard runs`, `runs show` and `logs`.

A token limited to one project sees only that project's runs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from shipyard.api.app import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.services import pipeline_history
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))


@router.get("")
def runs(
    project: str | None = None,
    limit: int = Query(20, ge=1, le=1000),
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    if project is not None:
        who.require(Permission.READ, project)
    return pipeline_history.list_runs(store, project or who.project, limit)


@router.get("/{run_id}")
def show(run_id: int, who: Principal = Reader, store: Store = StoreDep) -> dict[str, Any]:
    data = pipeline_history.show_run(store, run_id)
    who.require(Permission.READ, data["project"])
    return data


@router.get("/{run_id}/logs/{job}")
def logs(run_id: int, job: str, who: Principal = Reader, store: Store = StoreDep) -> dict[str, Any]:
    who.require(Permission.READ, pipeline_history.show_run(store, run_id)["project"])
    return pipeline_history.step_logs(store, run_id, job)
