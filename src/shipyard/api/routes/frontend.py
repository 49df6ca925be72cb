"""The Unleash frontend API (``/api/frontend``), for browser and mobile SDKs such as
``unleash-proxy-client``: evaluated answers for a frontend token, with CORS per token.

``GET /api/frontend?userId=..&properties[plan]=..`` or ``POST /api/frontend {"context"}``:
the flags that are on for the context, with their variants; ``ETag`` and ``304``.
``POST /api/frontend/client/metrics`` and ``/client/register``: what the SDK reports.
A browser's request is answered with ``Access-Control-Allow-Origin`` only when its token
lists the ``Origin``; a preflight (which carries no token) passes when any live frontend
token lists it. Errors carry the CORS headers too, so a page can read why it was refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from shipyard.errors import Forbidden, InputError, ShipyardError
from shipyard.services.flags import flags_client, flags_frontend
from shipyard.services.flags.flags_client import ClientPrincipal

router = APIRouter()
ALLOW_METHODS = "GET, POST, OPTIONS"
PREFLIGHT_MAX_AGE = "600"


class OriginRefused(Forbidden):
    code = "flag-origin-refused"
    default_hint = (
        "add the origin to the token: `shipyard flags token create --frontend --origin URL`"
    )


def _cors(origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "ETag",
        "Vary": "Origin",
    }


def _guarded(request: Request, act: Callable[[], Response]) -> Response:
    """Run ``act``, answering its errors in the API's shape, with CORS headers for the
    request's origin unless that origin is what was refused."""
    origin = request.headers.get("origin")
    try:
        response = act()
    except OriginRefused as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers={"Vary": "Origin"})
    except ShipyardError as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=_cors(origin))
    response.headers.update(_cors(origin))
    return response


def _allowed(who: ClientPrincipal, request: Request) -> ClientPrincipal:
    origin = request.headers.get("origin")
    if not flags_frontend.origin_allowed(who.origins, origin):
        raise OriginRefused(f"this frontend token does not allow the origin '{origin}'")
    return who


def _toggles(request: Request, context: dict[str, Any]) -> Response:
    def act() -> Response:
        remote = request.client.host if request.client is not None else None
        who, body, tag = flags_frontend.evaluate(
            request.app.state.store, request.headers.get("authorization"), context, remote
        )
        _allowed(who, request)
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        match = request.headers.get("if-none-match")
        if match and tag in (v.strip().removeprefix("W/") for v in match.split(",")):
            return Response(status_code=304, headers=headers)
        return Response(json.dumps(body), media_type="application/json", headers=headers)

    return _guarded(request, act)


def _report(request: Request, body: Any, kind: str) -> Response:
    def act() -> Response:
        store = request.app.state.store
        who = _allowed(
            flags_client.authenticate(store, request.headers.get("authorization"), "frontend"),
            request,
        )
        if not isinstance(body, dict):
            raise InputError("the body must be a JSON object", code="flag-client-body-invalid")
        if kind == "metrics":
            flags_client.record_metrics(store, who, body)
        else:
            flags_client.register(store, who, body)
        return Response(status_code=202)

    return _guarded(request, act)


async def _body(request: Request) -> Any:
    """The JSON body, or None when it is not JSON (refused later, with CORS headers)."""
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        return None


@router.get("")
def toggles(request: Request) -> Response:
    return _toggles(request, flags_frontend.context_from_query(request.query_params.multi_items()))


@router.post("")
async def toggles_post(request: Request) -> Response:
    """``usePOSTrequests``: the context in the body, ``{"context": {...}}``."""
    body = await _body(request)
    context = body.get("context") if isinstance(body, dict) else None
    return await run_in_threadpool(_toggles, request, context if isinstance(context, dict) else {})


@router.post("/client/metrics", status_code=202)
async def metrics(request: Request) -> Response:
    return await run_in_threadpool(_report, request, await _body(request), "metrics")


@router.post("/client/register", status_code=202)
async def register(request: Request) -> Response:
    return await run_in_threadpool(_report, request, await _body(request), "register")


@router.options("")
@router.options("/client/metrics")
@router.options("/client/register")
def preflight(request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin is None or not flags_frontend.any_token_allows(request.app.state.store, origin):
        return Response(status_code=403, headers={"Vary": "Origin"})
    asked = request.headers.get("access-control-request-headers", "")
    return Response(
        status_code=204,
        headers={
            **_cors(origin),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": asked or "authorization, content-type",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )
