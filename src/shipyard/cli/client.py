"""Talking to a Shipyard server: the same commands, over the REST API."""

from __future__ import annotations

from typing import Any

from shipyard.errors import (
    EXIT_CODES,
    Conflict,
    Forbidden,
    InputError,
    NotFound,
    ShipyardError,
    Unauthenticated,
)

_BY_STATUS: dict[int, type[ShipyardError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InputError,
}


def call(server: str, token: str | None, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers |= kwargs.pop("headers", None) or {}
    try:
        resp = httpx.request(
            method, server.rstrip("/") + path, headers=headers, timeout=30, **kwargs
        )
    except httpx.HTTPError as exc:
        raise ShipyardError(
            f"cannot reach the Shipyard server at {server}: {exc.__class__.__name__}",
            "check SHIPYARD_SERVER and that the server is running",
            code="server-unreachable",
        ) from exc
    if resp.status_code >= 400:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        cls = _BY_STATUS.get(resp.status_code, ShipyardError)
        error = cls(
            body.get("message", f"server answered {resp.status_code}"),
            body.get("hint"),
            code=body.get("code"),
            details=body.get("details"),
        )
        if body.get("family") in EXIT_CODES:
            error.family = body["family"]  # the same exit status as on the local store
        raise error
    return resp.json()
