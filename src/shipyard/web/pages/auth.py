"""Logging in with an API token, and out."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from shipyard.errors import ShipyardError
from shipyard.services.tokens import authenticate
from shipyard.web import session
from shipyard.web.page import MAX_FORM_BYTES, Ctx, WebRoute, form_ctx, templates

router = APIRouter(route_class=WebRoute)


def _local(target: str | None) -> str:
    """Only a path of this site: never another origin (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(
    request: Request, target: str, error: ShipyardError | None = None, status: int = 200
) -> Response:
    nonce = session.new_login_nonce()
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"ctx": None, "nav": [], "next": target, "nonce": nonce, "error": error},
        status_code=status,
    )
    response.set_cookie(
        session.LOGIN_COOKIE,
        nonce,
        max_age=900,
        httponly=True,
        samesite="strict",
        secure=session.secure(request),
        path="/login",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, _local(next))


@router.post("/login")
async def login(request: Request) -> Response:
    body = await request.body()
    fields = {k: v[-1] for k, v in parse_qs(body[:MAX_FORM_BYTES].decode(errors="replace")).items()}
    target = _local(fields.get("next"))
    try:
        session.check_csrf(
            request, fields.get("nonce"), request.cookies.get(session.LOGIN_COOKIE, "")
        )
        token = fields.get("token", "").strip()
        await run_in_threadpool(authenticate, request.app.state.store, token)
    except ShipyardError as exc:
        return _login_page(request, target, exc, exc.http_status)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        session.COOKIE,
        token,
        max_age=session.SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=session.secure(request),
        path="/",
    )
    response.delete_cookie(session.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(ctx: Ctx = Depends(form_ctx)) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/")
    return response
