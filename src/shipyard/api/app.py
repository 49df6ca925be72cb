"""The HTTP API: an app factory over one Store; every route but /healthz needs a token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard import __version__
from shipyard.api.deps import require
from shipyard.domain.access import Permission
from shipyard.errors import ShipyardError
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the server's own worker unless told not to (rollouts, scheduled flag changes,
    notifications: docs/server.md), and write the remote cache's counts as it goes."""
    _end_streams_on_exit_signal(app)
    worker = None
    if app.state.worker:
        from shipyard.services.worker import SERVER_KINDS, Worker

        worker = Worker(app.state.store, kinds=SERVER_KINDS)
        worker.start()
    app.state.remote_cache.start()
    try:
        yield
    finally:
        if worker is not None:
            worker.stop.set()
            await asyncio.to_thread(worker.let_go)
        app.state.flag_feed.stop()
        app.state.remote_cache.close()


def _end_streams_on_exit_signal(app: FastAPI) -> None:
    """On SIGTERM or SIGINT, end the open streams (flag clients, live logs) as well.

    Uvicorn stops by waiting for every connection to finish its response, and a stream never
    does: a server with one flag SDK connected ignored SIGTERM until it was killed. Its own
    handler still runs; clients of a stream reconnect (to another replica) as they do on any
    dropped connection. Only the main thread may handle signals (not an in-process test
    client's)."""
    import signal
    import threading

    stopping: asyncio.Event = app.state.stopping
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()

    def stop_streams() -> None:
        stopping.set()
        app.state.flag_feed.close_all("the server is stopping")

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(stop_streams)  # a signal handler must not touch the loop
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


class _DocUrls(TypedDict, total=False):
    openapi_url: str | None
    docs_url: str | None
    redoc_url: str | None


STATUS_TTL_S = 10.0  # the status page is made again at most this often
STATUS_RATE = (5.0, 20.0)  # per client address: requests a second, burst


def create_app(store: Store, *, public_docs: bool = False, worker: bool = False) -> FastAPI:
    """The API over ``store``; ``/openapi.json``, ``/docs`` and ``/redoc`` need a viewer token
    unless ``public_docs``; ``worker`` runs a worker in the server's process."""
    from shipyard.api.throttle import Limiter

    urls: _DocUrls = (
        {} if public_docs else {"openapi_url": None, "docs_url": None, "redoc_url": None}
    )
    from fastapi import Depends

    from shipyard.api.inputs import Boundary, check_request

    # One input policy for every route (api/inputs.py), and security headers on every answer.
    app = FastAPI(
        title="Shipyard",
        version=__version__,
        lifespan=_lifespan,
        dependencies=[Depends(check_request)],
        **urls,
    )
    app.state.store = store
    app.state.worker = worker
    app.state.stopping = asyncio.Event()  # set when the server is told to stop: streams end
    from shipyard.api.flag_feed import FlagFeed

    app.state.flag_feed = FlagFeed(store)  # one watcher for every flag stream (docs/flags.md)
    from shipyard.api.limits import JsonBodyLimits

    app.add_middleware(JsonBodyLimits)  # before any route parses a JSON body
    from shipyard.api.routes.remote_cache import CacheFirst

    app.state.remote_cache = remote_cache_of(store)
    app.add_middleware(CacheFirst, cache=app.state.remote_cache)  # past the API's router
    app.add_middleware(Boundary)  # outermost: its headers reach every answer, errors too
    # One cached status page per project (only projects holding a spec get one).
    app.state.status_pages = {}
    app.state.status_ttl_s = STATUS_TTL_S
    app.state.status_limiter = Limiter(*STATUS_RATE)
    if not public_docs:
        _private_docs(app)

    @app.exception_handler(ShipyardError)
    async def _shipyard_error(_request: Request, exc: ShipyardError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        if exc.http_status == 429:
            headers = {"Retry-After": str(exc.details.get("retry_after_s", 1))}
        # The family travels too: HTTP 409 is both a conflict and a refusal, and the CLI's exit
        # status against a server must be the one it gives on its own store.
        body = exc.to_dict() | {"family": exc.family}
        return JSONResponse(body, status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            {
                "code": "invalid-request",
                "message": f"{where}: {first.get('msg', 'invalid')}",
                "hint": "see /openapi.json for this route's parameters",
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
        return JSONResponse(
            {"code": code, "message": str(exc.detail), "hint": ""}, status_code=exc.status_code
        )

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    from shipyard.api.routes import audit, tokens

    app.include_router(audit.router, prefix="/api/v1/audit", tags=["audit"])
    app.include_router(tokens.router, prefix="/api/v1/tokens", tags=["tokens"])
    from shipyard.api.routes import projects

    app.include_router(projects.router, prefix="/api/v1/projects", tags=["projects"])
    from shipyard.api.routes import artifacts

    app.include_router(artifacts.router, prefix="/api/v1/artifacts", tags=["artifacts"])
    from shipyard.api.routes import pipelines, run_requests

    app.include_router(run_requests.router, prefix="/api/v1", tags=["pipelines"])

    app.include_router(pipelines.router, prefix="/api/v1/runs", tags=["pipelines"])
    from shipyard.api.routes import release

    app.include_router(release.router, prefix="/api/v1/release", tags=["release"])
    app.include_router(release.status_router)
    from shipyard.api.routes import metrics

    app.include_router(metrics.router, prefix="/api/v1/metrics", tags=["metrics"])
    app.include_router(metrics.incidents_router, prefix="/api/v1/incidents", tags=["incidents"])
    app.include_router(metrics.prometheus_router, tags=["metrics"])
    from shipyard.api.routes import deployments

    app.include_router(deployments.router, prefix="/api/v1", tags=["deployments"])
    from shipyard.api.routes import flag_requests, flags, unleash

    # Before the flags router, whose /{name} would otherwise take /requests and /protections.
    app.include_router(flag_requests.router, prefix="/api/v1/flags", tags=["flags"])
    app.include_router(flags.router, prefix="/api/v1/flags", tags=["flags"])
    app.include_router(unleash.router, prefix="/api/client", tags=["unleash"])
    from shipyard.api.routes import frontend

    app.include_router(frontend.router, prefix="/api/frontend", tags=["unleash"])
    from shipyard.web.app import mount

    mount(app)  # the dashboard: pages at /, after every API route (docs/dashboard.md)
    return app


def remote_cache_of(store: Store) -> Any:
    """The server's remote build cache: its blobs in the store's blob store (space ``remote``),
    uploads spooled under the state folder."""
    from shipyard.adapters.blobs import open_blobs
    from shipyard.services.pipelines.remote_cache import Limits, RemoteCache

    blobs = open_blobs(store, "remote")
    return RemoteCache(store, blobs, Limits.from_env(), store.home / "cache-uploads")


def _private_docs(app: FastAPI) -> None:
    """The API's description and its browsable pages, for a viewer token (docs/server.md)."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    reader = Depends(require(Permission.READ))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Principal = reader) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_: Principal = reader) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Shipyard API")

    @app.get("/redoc", include_in_schema=False)
    def redoc(_: Principal = reader) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="Shipyard API")
