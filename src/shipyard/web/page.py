"""What every dashboard page shares: who asks, for which project, the templates, the errors.

A page handler gets a ``Ctx`` and returns ``render(ctx, template, **data)``; the data comes from
the same service functions the API routes call. Errors a service raises become an HTML page
with the error's status, code, message and hint; a missing or dead session sends to /login.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from shipyard.domain.access import Permission, allowed
from shipyard.domain.projects import default_project
from shipyard.errors import InputError, ShipyardError, Unauthenticated
from shipyard.services.tokens import Principal
from shipyard.web import session

if TYPE_CHECKING:
    from shipyard.services.specs import Spec

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["urldecode"] = unquote
MAX_FORM_BYTES = 64 * 1024

NAV = [
    ("/", "Overview"),
    ("/runs", "Pipeline runs"),
    ("/rollouts", "Rollouts"),
    ("/flags", "Flags"),
    ("/releases", "Releases"),
    ("/audit", "Audit"),
]


@dataclass
class Ctx:
    request: Request
    who: Principal
    token: str
    project: str | None
    projects: list[str]
    spec: Spec | None  # the spec the server holds for ``project`` (`shipyard apply`)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    form: dict[str, str] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return session.csrf_for(self.token)

    def can(self, permission: str) -> bool:
        """Whether the session's role grants ``permission`` (an action it may not take is
        not offered; the server refuses it anyway)."""
        return allowed(self.who.role, Permission(permission))

    def need_spec(self) -> Spec:
        if self.spec is None:
            raise InputError(
                f"the server holds no shipyard.yaml for project '{self.project}'",
                "send it with `shipyard apply` from the project's repository",
                code="project-spec-missing",
            )
        return self.spec


async def _ctx(request: Request, project: str | None) -> Ctx:
    from starlette.concurrency import run_in_threadpool

    from shipyard.services import projects, specs

    store = request.app.state.store
    who, token = await session.principal_of(request)
    known = await run_in_threadpool(projects.list_projects, store, who.project)
    # A page, unlike the API, shows the first project rather than asking which: it offers
    # the others beside it.
    chosen = default_project(project, who.project, known) or (known[0] if known else None)
    if chosen is not None:
        who.require(Permission.READ, chosen)
    held = await run_in_threadpool(specs.current, store, chosen) if chosen is not None else None
    return Ctx(request, who, token, chosen, known, held)


async def page_ctx(request: Request, project: str | None = None) -> Ctx:
    """The context of a page that reads."""
    return await _ctx(request, project)


async def form_ctx(request: Request, project: str | None = None) -> Ctx:
    """The context of a form's POST: its fields read and its CSRF token checked."""
    ctx = await _ctx(request, project)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InputError(
            f"the form is larger than {MAX_FORM_BYTES} bytes",
            "send less text",
            code="form-too-large",
        )
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    ctx.form = {k: v[-1] for k, v in fields.items()}
    session.check_csrf(request, ctx.form.get("csrf"), ctx.csrf)
    return ctx


def render(ctx: Ctx, template: str, status_code: int = 200, **data: Any) -> HTMLResponse:
    flash = ctx.request.cookies.get(session.FLASH_COOKIE)
    response = templates.TemplateResponse(
        ctx.request,
        template,
        {"ctx": ctx, "nav": NAV, "flash": flash, **data},
        status_code=status_code,
    )
    if flash:
        response.delete_cookie(session.FLASH_COOKIE, path="/")
    return response


def done(ctx: Ctx, to: str, message: str) -> Response:
    """After a form's action: back to ``to`` (303, so a reload never repeats it), with a line
    saying what happened on the next page."""
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        session.FLASH_COOKIE,
        quote(message[:300]),
        max_age=60,
        httponly=True,
        samesite="strict",
        secure=session.secure(ctx.request),
        path="/",
    )
    return response


def error_page(request: Request, exc: ShipyardError) -> Response:
    if isinstance(exc, Unauthenticated):
        if request.method == "GET" and "hx-request" not in request.headers:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        response: Response = templates.TemplateResponse(
            request, "error.html", {"error": exc, "nav": [], "ctx": None}, status_code=401
        )
        return response
    return templates.TemplateResponse(
        request, "error.html", {"error": exc, "nav": NAV, "ctx": None}, status_code=exc.http_status
    )


class WebRoute(APIRoute):
    """A dashboard route: errors become pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except ShipyardError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                bad = InputError(
                    f"{where}: {first.get('msg', 'invalid')}",
                    "check the address or the form's fields",
                    code="invalid-request",
                )
                return error_page(request, bad)

        return handler
