"""Release coordination routes: freezes, trains, gates, approvals, locks, break-glass, and the
public status page. The acting identity is the token's name."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel

from shipyard.api.deps import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.specs import Spec

router = APIRouter()
status_router = APIRouter()
Reader = Depends(require(Permission.READ))
Admin = Depends(require(Permission.ADMIN))
Deployer = Depends(require(Permission.DEPLOY))
Approver = Depends(require(Permission.APPROVE))


def _spec(
    store: Store,
    principal: Principal | None = None,
    permission: Permission = Permission.READ,
    project: str | None = None,
) -> Spec:
    """The project's spec as the server holds it (`shipyard apply`); the token must cover it.
    Without a token (the status page): the project named, else the only one the server holds."""
    from shipyard.services import specs

    if principal is None:
        return specs.require(store, specs.choose(store, None, project))
    chosen = specs.choose(store, principal, project)
    principal.require(permission, chosen)
    return specs.require(store, chosen)


def _repository(store: Store, spec: Spec) -> AbstractContextManager[Path]:
    """The project's git working tree, which cutting a train, a hotfix or a custom gate needs:
    the server's checkout of the repository configured for the project, fetched just now. Use
    it inside the context, which holds the checkout's lock."""
    from shipyard.services import checkouts

    return checkouts.required(store, spec.project)


def _now() -> datetime:
    return datetime.now(UTC)


class FreezeIn(BaseModel):
    name: str
    start: str | None = None
    end: str | None = None
    start_cron: str | None = None
    end_cron: str | None = None
    timezone: str = "UTC"
    environments: list[str] = []
    reason: str = ""


class ApprovalIn(BaseModel):
    environment: str
    version: str
    comment: str = ""


class LockIn(BaseModel):
    reason: str
    ttl: str | None = None


class BreakGlassIn(BaseModel):
    environment: str | None = None  # the end of the promotion chain
    reason: str
    gates: list[str] = ["freeze"]
    ttl: str = "1h"
    incident: str | None = None


class ReviewIn(BaseModel):
    notes: str


class CutIn(BaseModel):
    ref: str = "HEAD"


class ShipIn(BaseModel):
    version: str | None = None
    train: str | None = None


class PickIn(BaseModel):
    train: str | None = None
    comment: str = ""


class HotfixIn(BaseModel):
    version: str


def _ttl(value: str | None) -> Any:
    from shipyard.domain.calendar import parse_duration

    return parse_duration(value) if value else None


@router.get("/freezes")
def list_freezes(
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services.coordination import freezes

    return freezes.list_freezes(store, _spec(store, p, project=project), _now())


@router.post("/freezes")
def add_freeze(
    body: FreezeIn, project: str | None = None, p: Principal = Admin, store: Store = StoreDep
) -> Mapping[str, Any]:
    from shipyard.services.coordination import freezes

    return freezes.add(store, _spec(store, p, Permission.ADMIN, project), body.model_dump(), p.name)


@router.delete("/freezes/{name}")
def remove_freeze(
    name: str, project: str | None = None, p: Principal = Admin, store: Store = StoreDep
) -> Mapping[str, Any]:
    from shipyard.services.coordination import freezes

    return freezes.remove(store, _spec(store, p, Permission.ADMIN, project), name, p.name)


@router.get("/freezes/status")
def freeze_status(
    env: str | None = None,
    at: str | None = None,
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services.coordination import freezes
    from shipyard.services.coordination.coordination import parse_at

    return freezes.status(store, _spec(store, p, project=project), parse_at(at), env)


@router.get("/calendar.ics", response_class=PlainTextResponse)
def calendar_ics(
    weeks: int = Query(26, ge=1, le=260),
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> PlainTextResponse:
    from shipyard.services.coordination import freezes

    text = freezes.ical(store, _spec(store, p, project=project), _now(), weeks)
    return PlainTextResponse(text, media_type="text/calendar")


@router.get("/train")
def train_status(
    at: str | None = None,
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services.coordination import trains
    from shipyard.services.coordination.coordination import parse_at

    return trains.status(store, _spec(store, p, project=project), parse_at(at))


@router.post("/train/cut")
def train_cut(
    body: CutIn, project: str | None = None, p: Principal = Deployer, store: Store = StoreDep
) -> Mapping[str, Any]:
    from shipyard.services import checkouts
    from shipyard.services.coordination import trains

    spec = _spec(store, p, Permission.DEPLOY, project)
    with _repository(store, spec) as root:
        publish = partial(checkouts.push, root)
        return trains.cut(store, spec, root, p.name, _now(), body.ref, publish=publish)


@router.post("/train/ship")
def train_ship(
    body: ShipIn, project: str | None = None, p: Principal = Deployer, store: Store = StoreDep
) -> Mapping[str, Any]:
    """Answers once the candidate is live everywhere (200) or has stopped (409, with where and
    why in ``details``); rollouts run inside the request, so give it a long timeout."""
    from shipyard.errors import Refused
    from shipyard.services.coordination import trains

    spec = _spec(store, p, Permission.DEPLOY, project)
    version = body.version
    if version is None:
        # Only finding the candidate needs the repository; the rollouts take the registry's
        # artifacts, and the checkout is not held while they run.
        with _repository(store, spec) as root:
            version = trains.candidate_of(store, spec, root, body.train)
    out = trains.ship(store, spec, None, p.name, _now(), train_name=body.train, version=version)
    if not out["shipped"]:
        raise Refused(out["message"], out.get("hint"), code=out["code"], details=out)
    return out


@router.post("/train/picks/{sha}/approve")
def train_approve_pick(
    sha: str,
    body: PickIn,
    project: str | None = None,
    p: Principal = Approver,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services.coordination import trains

    spec = _spec(store, p, Permission.APPROVE, project)
    with _repository(store, spec) as root:
        return trains.approve_pick(
            store, spec, root, sha, p.name, _now(), train_name=body.train, comment=body.comment
        )


@router.post("/train/picks/{sha}")
def train_pick(
    sha: str,
    body: PickIn,
    project: str | None = None,
    p: Principal = Deployer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services import checkouts
    from shipyard.services.coordination import trains

    spec = _spec(store, p, Permission.DEPLOY, project)
    with _repository(store, spec) as root:
        publish = partial(checkouts.push, root)
        return trains.pick(
            store, spec, root, sha, p.name, _now(), train_name=body.train, publish=publish
        )


@router.post("/hotfixes")
def hotfix_start(
    body: HotfixIn, project: str | None = None, p: Principal = Deployer, store: Store = StoreDep
) -> Mapping[str, Any]:
    """Creates ``hotfix/VERSION`` in the project's repository, without checking it out."""
    from shipyard.services import checkouts
    from shipyard.services.coordination import hotfix

    spec = _spec(store, p, Permission.DEPLOY, project)
    with _repository(store, spec) as root:
        publish = partial(checkouts.push, root)
        return hotfix.start(
            store, spec, root, body.version, p.name, _now(), checkout=False, publish=publish
        )


@router.get("/gates/{env}")
def gates(
    env: str,
    version: str | None = None,
    at: str | None = None,
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.errors import InputError
    from shipyard.services.compliance import gates as svc
    from shipyard.services.coordination.coordination import parse_at

    spec = _spec(store, p, project=project)
    version = version or svc.default_version(store, spec, env)
    if version is None:
        raise InputError(f"nothing to judge for {env}", "pass ?version=", code="version-missing")
    if not svc.runs_commands(spec, env):
        verdict = svc.check(store, spec, env, version, p.name, parse_at(at))
        return svc.verdict_dict(verdict, env, version)
    # Custom gate commands run in the project's code, at the head of its default branch.
    with _repository(store, spec) as root:
        verdict = svc.check(store, spec, env, version, p.name, parse_at(at), root)
    return svc.verdict_dict(verdict, env, version)


@router.post("/approvals")
def approve(
    body: ApprovalIn, project: str | None = None, p: Principal = Approver, store: Store = StoreDep
) -> Mapping[str, Any]:
    from shipyard.services.compliance import approvals

    spec = _spec(store, p, Permission.APPROVE, project)
    return approvals.approve(
        store, spec, body.environment, body.version, p.name, _now(), body.comment
    )


@router.get("/locks")
def list_locks(
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    from shipyard.services.coordination import locks

    return {"locks": locks.list_locks(store, _spec(store, p, project=project).project, _now())}


@router.post("/locks/{env}")
def lock(
    env: str,
    body: LockIn,
    project: str | None = None,
    p: Principal = Deployer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services.coordination import locks

    spec = _spec(store, p, Permission.DEPLOY, project)
    return locks.lock(store, spec, env, p.name, body.reason, _now(), _ttl(body.ttl))


@router.delete("/locks/{env}")
def unlock(
    env: str,
    force: bool = False,
    project: str | None = None,
    p: Principal = Deployer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services.coordination import locks

    return locks.unlock(
        store, _spec(store, p, Permission.DEPLOY, project), env, p.name, _now(), force=force
    )


@router.get("/break-glass")
def list_break_glass(
    project: str | None = None,
    p: Principal = Reader,
    store: Store = StoreDep,
) -> dict[str, Any]:
    from shipyard.services.coordination import breakglass

    return {"overrides": breakglass.list_overrides(store, _spec(store, p, project=project).project)}


@router.post("/break-glass")
def request_break_glass(
    body: BreakGlassIn, project: str | None = None, p: Principal = Deployer, store: Store = StoreDep
) -> Mapping[str, Any]:
    from shipyard.services.coordination import breakglass

    spec = _spec(store, p, Permission.DEPLOY, project)
    return breakglass.request(
        store,
        spec,
        body.environment,
        body.reason,
        body.gates,
        _ttl(body.ttl),
        p.name,
        _now(),
        body.incident,
    )


@router.post("/break-glass/{override_id}/approve")
def approve_break_glass(
    override_id: str, project: str | None = None, p: Principal = Approver, store: Store = StoreDep
) -> Mapping[str, Any]:
    from shipyard.services.coordination import breakglass

    return breakglass.approve(
        store, _spec(store, p, Permission.APPROVE, project), override_id, p.name, _now()
    )


@router.post("/break-glass/{override_id}/review")
def review_break_glass(
    override_id: str,
    body: ReviewIn,
    project: str | None = None,
    p: Principal = Deployer,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    from shipyard.services.coordination import breakglass

    spec = _spec(store, p, Permission.DEPLOY, project)
    return breakglass.review(store, spec, override_id, p.name, body.notes)


# Public and read-only: stakeholders without a token read it, like any status page. It shows
# only what is already announced to them (versions, freezes, locks, the train), and no route
# here changes anything.
# Making it costs about a second (the delivery chart), so it is made at most every few seconds
# and each client address may ask only so often.
@status_router.get("/status", response_class=HTMLResponse, tags=["release"])
def status_page(
    request: Request, project: str | None = None, store: Store = StoreDep
) -> HTMLResponse:
    """One project's page: ``?project=NAME``, or the server's only project."""
    from shipyard.api.throttle import Cached
    from shipyard.services.coordination import status_page as page

    request.app.state.status_limiter.check(request.client.host if request.client else "")
    spec = _spec(store, project=project)  # an unknown name is refused before it is cached
    pages: dict[str, Cached[str]] = request.app.state.status_pages
    cached = pages.setdefault(spec.project, Cached[str](request.app.state.status_ttl_s))
    html, age = cached.get(lambda: page.render(store, spec, _now()))
    ttl = cached.ttl_s
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": f"public, max-age={max(0, int(ttl - age))}",
            "Age": str(int(age)),
        },
    )
