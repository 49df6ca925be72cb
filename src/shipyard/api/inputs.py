"""The input policy at the API's boundary (rules in domain/inputs.py), and the headers every
response carries.

``check_request`` is a dependency of every route (``create_app``): it reads the path
parameters, the query and a JSON body, and refuses with a 4xx, code and hint what the policy
refuses, before the route runs. ``Boundary`` is ASGI middleware: security headers on every
response, and artifact uploads bounded by ``SHIPYARD_MAX_UPLOAD_BYTES`` as they stream in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request

from shipyard.domain import inputs
from shipyard.errors import InputError, ShipyardError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_UPLOAD = 2 * 1024**3  # bytes of one artifact upload, unless configured

# Which rule a path or query parameter's value follows, by the parameter's name.
PARAM_RULES = {
    "project": ("name", "project-name-invalid"),
    "env": ("name", "environment-name-invalid"),
    "environment": ("name", "environment-name-invalid"),
    "job": ("name", "job-name-invalid"),
    "version": ("version", "version-invalid"),
    "filename": ("filename", "filename-invalid"),
}
# The same in JSON bodies (where "name" is free text: a token's, a segment's).
BODY_RULES = {k: PARAM_RULES[k] for k in ("project", "env", "environment")}

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # the dashboard checks Origin on its forms
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The API serves data, never pages: nothing it answers may run script or be framed. The
# dashboard and the status page are pages of this origin's own scripts and styles (inline
# styles: the status page's, htmx's); the Swagger UI and ReDoc pages load theirs from a CDN
# and go without. A page that sets its own policy keeps it.
API_PATHS = ("/api/", "/healthz", "/openapi.json", "/metrics", "/cache")
CSP_API = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
CSP_PAGES = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
)
DOC_PAGES = ("/docs", "/redoc")


class PayloadTooLarge(ShipyardError):
    code = "upload-too-large"
    family = "input"
    http_status = 413


def _refuse(message: str, hint: str, code: str) -> InputError:
    return InputError(message, hint, code=code)


def _check_value(
    param: str, value: str, rule: tuple[str, str] | None, limit: int = inputs.INT64_MAX
) -> None:
    if len(value) > inputs.MAX_QUERY_VALUE:
        raise _refuse(
            f"'{param}' is {len(value)} characters long",
            f"a parameter holds at most {inputs.MAX_QUERY_VALUE}",
            "input-too-long",
        )
    if inputs.control_character(value):
        raise _refuse(
            f"'{param}' holds a control character (a NUL byte or a line break)",
            "send printable text only",
            "input-control-character",
        )
    if inputs.out_of_range_integer(value, limit):
        raise _refuse(
            f"'{param}' is {value[:30]}, out of range",
            f"use a number from {-limit} to {limit}",
            "integer-out-of-range",
        )
    if rule is not None:
        problem = inputs.name_problem(rule[0], value)
        if problem is not None:
            raise _refuse(f"{param}: {problem}", inputs.RULES[rule[0]][1], rule[1])


def _rule(path: str, param: str) -> tuple[str, str] | None:
    if param == "name":
        if path.startswith(("/api/v1/flags", "/api/client")):
            return ("flag", "flag-name-invalid")
        if path.startswith("/api/v1/artifacts"):
            return ("name", "artifact-name-invalid")
        return ("name", "name-invalid")
    return PARAM_RULES.get(param)


def _walk(value: Any, key: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and "\x00" in k:
                raise _refuse(
                    "a key holds a NUL character", "send text only", "input-control-character"
                )
            _walk(v, str(k))
    elif isinstance(value, list):
        for item in value:
            _walk(item, key)
    elif isinstance(value, str):
        problem = inputs.text_problem(key, value)
        if problem is not None:
            code = "input-control-character" if "NUL" in problem else "text-too-long"
            limit = inputs.TEXT_LIMITS.get(key)
            hint = f"at most {limit} characters" if limit else "send printable text only"
            raise _refuse(problem, hint, code)
        rule = BODY_RULES.get(key)
        if rule is not None:
            _check_value(key, value, rule)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > inputs.INT64_MAX:
        raise _refuse(
            f"'{key}' is {str(value)[:30]}, more than a 64-bit integer holds",
            f"use a number from {-inputs.INT64_MAX} to {inputs.INT64_MAX}",
            "integer-out-of-range",
        )


async def check_request(request: Request) -> None:
    """Every path parameter, query parameter and JSON body field against the policy."""
    path = request.url.path
    for param, value in request.path_params.items():
        if isinstance(value, str):
            limit = inputs.ID_MAX if param.endswith("_id") else inputs.INT64_MAX
            _check_value(param, value, _rule(path, param), limit)
    for param, value in request.query_params.multi_items():
        _check_value(param, value, _rule(path, param) if param != "name" else None)
    media = request.query_params.get("media_type")
    if media is not None and inputs.media_type_problem(media):
        raise _refuse(
            str(inputs.media_type_problem(media)),
            "one of: " + ", ".join(sorted(inputs.MEDIA_TYPES)),
            "media-type-invalid",
        )
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        body = await request.body()  # read once; the route gets the same bytes
        if body:
            try:
                _walk(json.loads(body), "")
            except ValueError:
                return  # the route answers malformed JSON as it does today


def max_upload() -> int:
    raw = os.environ.get("SHIPYARD_MAX_UPLOAD_BYTES", "")
    return int(raw) if raw.isdigit() else DEFAULT_MAX_UPLOAD


class Boundary:
    """Security headers on every response; artifact uploads bounded as they stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(DOC_PAGES):
            extra = SECURITY_HEADERS
        else:
            extra = [*SECURITY_HEADERS, CSP_API if path.startswith(API_PATHS) else CSP_PAGES]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *[(k, v) for k, v in extra if k not in have],
                ]
            await send(message)

        if scope.get("method") == "PUT" and path.startswith("/api/v1/artifacts/"):
            receive = _bounded(scope, receive, max_upload())
        await self.app(scope, receive, send_with_headers)


def _bounded(scope: Scope, receive: Receive, limit: int) -> Receive:
    declared = dict(scope.get("headers", [])).get(b"content-length", b"")
    seen = 0

    def too_large(size: int | str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the upload is {size} bytes, more than the {limit} this server accepts",
            "raise SHIPYARD_MAX_UPLOAD_BYTES on the server, or publish a smaller file",
        )

    async def wrapped() -> Message:
        nonlocal seen
        if declared.isdigit() and int(declared) > limit:
            raise too_large(int(declared))
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(f"more than {seen}")
        return message

    return wrapped
