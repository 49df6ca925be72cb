"""``/cache``: the remote build cache, in Bazel's and Gradle's HTTP protocols.

    GET|HEAD|PUT /cache/ac/<sha256 hex>    action results (Bazel, ccache's bazel layout, and
                                           `shipyard run --remote-cache`)
    GET|HEAD|PUT /cache/cas/<sha256 hex>   content named by its SHA-256 (checked on upload)
    GET|HEAD|PUT /cache/<hex key>          Gradle's HTTP build cache

A miss is ``404``; a stored entry ``200`` (GET with its bytes, HEAD with its length); an upload
``200``. Reads need a viewer token, writes a token that may run pipelines (developer and up),
sent as ``Authorization: Bearer <token>`` (Bazel: ``--remote_header=Authorization=Bearer ...``)
or as the password of HTTP basic authentication (Gradle's and ccache's credentials).

The cache answers thousands of small requests a build, and FastAPI's router and per-request
machinery would cost more than the lookup: ``CacheFirst`` takes ``/cache/...`` requests to the
cache before they reach them.
"""

from __future__ import annotations

import base64
import binascii

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.domain import remote_cache as rc
from shipyard.domain.access import Permission
from shipyard.errors import ShipyardError
from shipyard.services.pipelines.remote_cache import BlobTooLarge, RemoteCache

PREFIX = "/cache/"


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


def _error(exc: ShipyardError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer, Basic realm="shipyard"'}
    return JSONResponse(
        exc.to_dict(),
        status_code=exc.http_status,
        headers=headers if exc.http_status == 401 else None,
    )


def _miss(addr: rc.Address) -> JSONResponse:
    return JSONResponse(
        {"code": "cache-miss", "message": f"no {addr.kind} entry {addr.key}", "hint": ""},
        status_code=404,
    )


async def _entry(request: Request, cache: RemoteCache, path: str) -> Response:
    if request.method not in ("GET", "HEAD", "PUT"):
        return JSONResponse(
            {
                "code": "method-not-allowed",
                "message": f"the cache takes GET, HEAD and PUT, not {request.method}",
                "hint": "",
            },
            status_code=405,
            headers={"Allow": "GET, HEAD, PUT"},
        )
    addr = rc.address(path)
    if addr is None:
        return JSONResponse(
            {
                "code": "cache-key-invalid",
                "message": f"/cache/{path} names no cache entry",
                "hint": "use /cache/ac/<sha256 hex>, /cache/cas/<sha256 hex> or /cache/<hex key>",
            },
            status_code=404,
        )
    try:
        if request.method == "PUT":
            principal = await run_in_threadpool(cache.principal, _token(request))
            principal.require(Permission.RUN)
            return await _put(request, cache, addr)
        # One trip to the thread pool for the token and the read: a build asks thousands.
        if request.method == "GET":
            data = await run_in_threadpool(cache.read, _token(request), addr.kind, addr.key)
            if data is None:
                return _miss(addr)
            if isinstance(data, bytes):
                return Response(data, media_type="application/octet-stream")
            return StreamingResponse(
                iterate_in_threadpool(data), media_type="application/octet-stream"
            )
        size = await run_in_threadpool(cache.size_of, _token(request), addr.kind, addr.key)
        if size is None:
            return Response(status_code=404)
        return Response(headers={"content-length": str(size)})
    except ShipyardError as exc:
        return _error(exc)


async def _put(request: Request, cache: RemoteCache, addr: rc.Address) -> Response:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cache.limits.max_blob:
        cache.refused(addr.kind)
        raise BlobTooLarge(
            f"the upload ({int(declared):,} bytes) is larger than the cache takes "
            f"({cache.limits.max_blob:,} bytes)",
            "raise SHIPYARD_CACHE_MAX_BLOB on the server, or leave this output uncached",
        )
    spool = cache.spool()
    try:
        try:
            async for chunk in request.stream():
                spool.write(chunk)
        except BlobTooLarge:
            cache.refused(addr.kind)
            raise
        spool.finish()
        await run_in_threadpool(
            cache.put, addr.kind, addr.key, spool.path, spool.digest, spool.size
        )
    finally:
        spool.discard()
    return Response(status_code=200)


class CacheFirst:
    """``/cache/...`` to the cache, everything else to the API."""

    def __init__(self, app: ASGIApp, cache: RemoteCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        response = await _entry(Request(scope, receive), self.cache, path[len(PREFIX) :])
        await response(scope, receive, send)
