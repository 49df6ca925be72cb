"""Flags: per environment, each flag's state, rollout, strategies and segments, with its
change history from the event log; edits as the API's routes make them (the flags role, the
same validation and the same protections)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from shipyard.api.routes import flags as api
from shipyard.domain.access import Permission
from shipyard.errors import InputError
from shipyard.services.compliance import audit
from shipyard.services.flags import flag_segments, flags
from shipyard.web.page import Ctx, WebRoute, done, form_ctx, page_ctx, render
from shipyard_sdk.flags import KNOWN_OPERATORS

router = APIRouter(route_class=WebRoute)
# What the strategy form offers; the service validates whatever arrives (as for the CLI).
STRATEGY_TYPES = ("flexibleRollout", "userWithId", "default")
STICKINESS = ("default", "userId", "sessionId", "random")
OPERATORS = sorted(KNOWN_OPERATORS)
ONE_VALUE = frozenset(
    op for op in KNOWN_OPERATORS if op == "REGEX" or op.startswith(("NUM_", "DATE_", "SEMVER_"))
)


def _environments(ctx: Ctx) -> list[str]:
    return list(ctx.spec.environments) if ctx.spec is not None else []


def _env(ctx: Ctx, env: str | None) -> str:
    known = _environments(ctx)
    chosen = env or (known[0] if known else None)
    if chosen is None:
        raise InputError("which environment?", "pass ?env=NAME", code="flag-environment-required")
    flags.check_environment(chosen, known or None)
    return chosen


@router.get("/flags", response_class=HTMLResponse)
def flag_list(ctx: Ctx = Depends(page_ctx), env: str | None = None) -> HTMLResponse:
    """GET /api/v1/flags?env= and /api/v1/flags/segments?env=."""
    store = ctx.request.app.state.store
    chosen = _env(ctx, env)
    project = ctx.project or ""
    return render(
        ctx,
        "flags.html",
        env=chosen,
        environments=_environments(ctx),
        flags=flags.list_flags(store, project, chosen),
        segments=flag_segments.list_segments(store, project, chosen),
        operators=OPERATORS,
    )


@router.get("/flags/{name}", response_class=HTMLResponse)
def flag_page(name: str, ctx: Ctx = Depends(page_ctx), env: str | None = None) -> HTMLResponse:
    """GET /api/v1/flags/{name}, and its events (GET /api/v1/audit/events?subject=flag:NAME)."""
    store = ctx.request.app.state.store
    chosen = _env(ctx, env)
    shown = flags.show(store, ctx.project or "", name, chosen)
    history = audit.log(store, subject=f"flag:{name}", limit=50, project=ctx.project)["events"]
    history = [e for e in reversed(history) if e["payload"].get("environment") in (None, chosen)]
    return render(
        ctx,
        "flag.html",
        env=chosen,
        flag=shown,
        state=shown["environments"][chosen],
        history=history,
        segments=flag_segments.list_segments(store, ctx.project or "", chosen),
        strategy_types=STRATEGY_TYPES,
        stickiness=STICKINESS,
        operators=OPERATORS,
    )


def _int(value: str | None, what: str) -> int:
    try:
        return int(value or "")
    except ValueError as exc:
        raise InputError(
            f"{what} '{value}' is not a whole number", f"give {what} as 0 to 100", code="usage"
        ) from exc


def _list(text: str | None) -> list[str]:
    """Comma-separated values, each trimmed, blanks left out."""
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def _constraints(form: dict[str, str]) -> list[dict[str, Any]] | None:
    """The form's one constraint as Unleash constraint JSON, or None when it names no context.
    An operator that takes one value (NUM_*, DATE_*, SEMVER_*, REGEX) gets ``value``."""
    context = (form.get("context") or "").strip()
    if not context:
        return None
    operator = (form.get("operator") or "").strip()
    values = _list(form.get("values"))
    constraint: dict[str, Any] = {"contextName": context, "operator": operator}
    if operator in ONE_VALUE:
        constraint["value"] = (form.get("values") or "").strip()
    else:
        constraint["values"] = values
    if form.get("inverted"):
        constraint["inverted"] = True
    return [constraint]


def _segment_ids(form: dict[str, str]) -> list[Any]:
    """The ticked segments (``segment-ID`` fields); an id that is no whole number is passed
    on as it came, for the service to refuse."""
    ids: list[Any] = []
    for key in form:
        if key.startswith("segment-"):
            raw = key.removeprefix("segment-")
            ids.append(int(raw) if raw.isdigit() else raw)
    return sorted(ids, key=str)


def _strategy(name: str, form: dict[str, str]) -> api.StrategyIn:
    """The strategy form as the API's body: the parameters of the chosen type only."""
    kind = (form.get("type") or "").strip()
    params: dict[str, Any] = {}
    if kind == "flexibleRollout":
        params = {
            "rollout": (form.get("rollout") or "").strip(),
            "stickiness": (form.get("stickiness") or "default").strip(),
            "groupId": (form.get("group") or "").strip() or name,
        }
    elif kind == "userWithId":
        params = {"userIds": ",".join(_list(form.get("users")))}
    return api.StrategyIn(
        name=kind,
        parameters=params,
        constraints=_constraints(form),
        segments=_segment_ids(form),
    )


@router.post("/flags/segments")
def create_segment(ctx: Ctx = Depends(form_ctx)) -> Response:
    """POST /api/v1/flags/segments: a segment of one constraint, validated as the CLI's."""
    ctx.who.require(Permission.FLAGS)
    store = ctx.request.app.state.store
    env = _env(ctx, ctx.form.get("env"))
    body = api.SegmentIn(
        constraints=_constraints(ctx.form) or [],
        name=(ctx.form.get("name") or "").strip() or None,
    )
    at = api.changing_scope(env, ctx.project, ctx.who, store)
    made = api.create_segment(body, at=at, store=store)
    return done(ctx, f"/flags?env={env}", f"segment {made['id']} created in {env}")


@router.post("/flags/{name}/{action}")
def change(name: str, action: str, ctx: Ctx = Depends(form_ctx)) -> Response:
    """The API's routes, called as they are: enable, disable, rollout, strategies."""
    ctx.who.require(Permission.FLAGS)
    store = ctx.request.app.state.store
    env = _env(ctx, ctx.form.get("env"))
    at = api.changing_scope(env, ctx.project, ctx.who, store)
    common: dict[str, Any] = {"at": at, "store": store}
    if action == "enable":
        api.enable(name, **common)
        said = f"{name} enabled in {env}"
    elif action == "disable":
        api.disable(name, **common)
        said = f"{name} disabled in {env}"
    elif action == "rollout":
        pct = _int(ctx.form.get("percentage"), "percentage")
        api.rollout(name, api.RolloutIn(percentage=pct), **common)
        said = f"{name} rolled out to {pct}% in {env}"
    elif action == "add-strategy":
        body = _strategy(name, ctx.form)
        api.add_strategy(name, body, **common)
        said = f"a {body.name} strategy added to {name} in {env}"
    elif action == "remove-strategy":
        api.remove_strategy(name, _int(ctx.form.get("index"), "index"), **common)
        said = f"a strategy of {name} removed in {env}"
    else:
        raise InputError(
            f"unknown flag action '{action}'",
            "one of enable, disable, rollout, add-strategy, remove-strategy",
            code="usage",
        )
    return done(ctx, f"/flags/{name}?env={env}", said)
