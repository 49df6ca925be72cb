"""Token routes: admins create, list and revoke tokens at or below their own scope."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from shipyard.api.deps import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.domain.durations import MAX_DAYS
from shipyard.identity import of_principal
from shipyard.services import tokens
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Admin = Depends(require(Permission.ADMIN))


class NewToken(BaseModel):
    role: str
    name: str = Field("api", max_length=200)
    project: str | None = None
    expires_in_seconds: int | None = Field(None, gt=0, le=MAX_DAYS * 86400)
    environments: list[str] | None = Field(None, max_length=50)


@router.post("", status_code=201)
def create(body: NewToken, who: Principal = Admin, store: Store = StoreDep) -> Mapping[str, Any]:
    life = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    return tokens.create(
        store,
        body.role,
        body.name,
        project=body.project,
        expires_in=life,
        actor=of_principal(who),
        maker=who,
        environments=body.environments,
    )


@router.get("")
def list_(who: Principal = Admin, store: Store = StoreDep) -> dict[str, Any]:
    return {"tokens": tokens.list_tokens(store, who.project)}


@router.delete("/{token_id}")
def revoke(token_id: str, who: Principal = Admin, store: Store = StoreDep) -> Mapping[str, Any]:
    return tokens.revoke(store, token_id, actor=of_principal(who), scope=who.project)
