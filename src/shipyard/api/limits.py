"""JSON request bodies within bounds (``shipyard.jsonlimits``) before any route reads them.

A body declared or streamed past the size limit is refused with 413 without reading the rest;
one nested too deep with 422. Both answer ``json-too-complex`` in the API's error shape. Other
bodies (artifact bytes) pass untouched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from shipyard import jsonlimits
from shipyard.jsonlimits import JsonTooComplex

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class JsonBodyLimits:
    """ASGI middleware bounding the size and nesting of JSON request bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        try:
            declared = _header(scope, b"content-length")
            if declared is not None and declared.isdigit():
                jsonlimits.check_size(int(declared), "the request body")
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break  # the client went away; nothing to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                jsonlimits.check_size(size, "the request body")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            jsonlimits.check(body, "the request body")
        except JsonTooComplex as exc:
            await _answer(send, exc)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _is_json(scope: Scope) -> bool:
    kind = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def _answer(send: Send, exc: JsonTooComplex) -> None:
    body = json.dumps(exc.to_dict()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
