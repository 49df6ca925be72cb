"""Project routes: a global admin adds projects; every token lists those it reaches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from shipyard.api.app import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.services import projects
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()


class ProjectIn(BaseModel):
    name: str


@router.get("")
def list_(
    who: Principal = Depends(require(Permission.READ)), store: Store = StoreDep
) -> dict[str, Any]:
    return {"projects": projects.list_projects(store, who.project)}


@router.post("", status_code=201)
def create(
    body: ProjectIn, who: Principal = Depends(require(Permission.ADMIN)), store: Store = StoreDep
) -> dict[str, Any]:
    who.require_global(Permission.ADMIN)
    return projects.create(store, body.name)
