"""Protected environments and change requests: the same answers as `shipyard flags protect`
and `shipyard flags request ...`. Protecting needs an admin; proposing, applying and
cancelling the FLAGS permission; approving and rejecting the APPROVE permission (an approver
or admin), and the acting identity, for separation of duties, is the token's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from shipyard.api.deps import StoreDep, require
from shipyard.api.routes.flags import _need, _scope
from shipyard.domain.access import Permission, reaches_environment
from shipyard.identity import of_principal
from shipyard.services.flags import flag_requests
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
Writer = Depends(require(Permission.FLAGS))
Approver = Depends(require(Permission.APPROVE))
Admin = Depends(require(Permission.ADMIN))


class ProtectionIn(BaseModel):
    approvals: int


class RequestIn(BaseModel):
    flag: str = Field(max_length=200)
    action: str
    percentage: int | None = None
    at: str | None = Field(None, max_length=64)


class ReasonIn(BaseModel):
    reason: str | None = Field(None, max_length=2000)


@router.get("/protections")
def list_protections(
    project: str | None = None, who: Principal = Reader, store: Store = StoreDep
) -> dict[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.READ, db=store)
    return {"protections": flag_requests.protections(store, chosen)}


@router.put("/protections")
def protect(
    body: ProtectionIn,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Admin,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.ADMIN, store, db=store)
    return flag_requests.protect(store, chosen, _need(env), body.approvals, of_principal(who))


@router.get("/requests")
def list_requests(
    env: str | None = None,
    status: str | None = None,
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    chosen, env = _scope(who, project, env, Permission.READ, db=store)
    rows = flag_requests.list_requests(store, chosen, env, status)
    return {
        "requests": [r for r in rows if reaches_environment(who.environments, r["environment"])]
    }


@router.post("/requests")
def propose(
    body: RequestIn,
    env: str | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    chosen, env = _scope(who, project, _need(env), Permission.FLAGS, store, db=store)
    return flag_requests.propose(
        store,
        chosen,
        _need(env),
        body.flag,
        body.action,
        of_principal(who),
        percentage=body.percentage,
        at=body.at,
    )


@router.get("/requests/{request_id}")
def show(
    request_id: int, project: str | None = None, who: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.READ, db=store)
    return _in_reach(who, flag_requests.show(store, chosen, request_id))


def _in_reach(who: Principal, request: flag_requests.RequestOut) -> flag_requests.RequestOut:
    """A token limited to environments acts on (and sees) requests of those alone."""
    who.require_environment(request["environment"])
    return request


def _reached(who: Principal, store: Store, project: str, request_id: int) -> None:
    _in_reach(who, flag_requests.show(store, project, request_id))


@router.post("/requests/{request_id}/approve")
def approve(
    request_id: int, project: str | None = None, who: Principal = Approver, store: Store = StoreDep
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.APPROVE, db=store)
    _reached(who, store, chosen, request_id)
    return flag_requests.approve(store, chosen, request_id, of_principal(who))


@router.post("/requests/{request_id}/reject")
def reject(
    request_id: int,
    body: ReasonIn | None = None,
    project: str | None = None,
    who: Principal = Approver,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.APPROVE, db=store)
    _reached(who, store, chosen, request_id)
    reason = body.reason if body is not None else None
    return flag_requests.close(
        store, chosen, request_id, of_principal(who), cancel=False, reason=reason
    )


@router.post("/requests/{request_id}/cancel")
def cancel(
    request_id: int,
    body: ReasonIn | None = None,
    project: str | None = None,
    who: Principal = Writer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.FLAGS, db=store)
    _reached(who, store, chosen, request_id)
    reason = body.reason if body is not None else None
    return flag_requests.close(
        store, chosen, request_id, of_principal(who), cancel=True, reason=reason
    )


@router.post("/requests/{request_id}/apply")
def apply(
    request_id: int, project: str | None = None, who: Principal = Writer, store: Store = StoreDep
) -> Mapping[str, Any]:
    chosen, _ = _scope(who, project, None, Permission.FLAGS, db=store)
    _reached(who, store, chosen, request_id)
    return flag_requests.apply(store, chosen, request_id, of_principal(who))
