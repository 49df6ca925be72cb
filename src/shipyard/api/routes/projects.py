"""Project routes: a global admin adds projects; every token lists those it reaches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from shipyard.api.deps import StoreDep, require
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
) -> Mapping[str, Any]:
    who.require_global(Permission.ADMIN)
    return projects.create(store, body.name)


class SpecIn(BaseModel):
    yaml: str
    file: str = "shipyard.yaml"


@router.put("/{name}/spec")
def apply_spec(
    name: str,
    body: SpecIn,
    who: Principal = Depends(require(Permission.ADMIN)),
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    """`shipyard apply`: the project's shipyard.yaml, checked as `shipyard validate` checks it,
    kept as its newest revision (``project.applied``); the same bytes again change nothing."""
    from shipyard.services import specs

    who.require(Permission.ADMIN, name)
    projects.admit(store, who, name)
    return specs.apply(store, body.yaml, body.file, who.name, project=name)


@router.get("/{name}/spec")
def get_spec(
    name: str, who: Principal = Depends(require(Permission.READ)), store: Store = StoreDep
) -> Mapping[str, Any]:
    """The project's newest shipyard.yaml revision as the server holds it."""
    from shipyard.services import specs

    who.require(Permission.READ, name)
    return specs.get(store, name)
