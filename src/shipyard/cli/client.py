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


def folder_project() -> str | None:
    """The project the working folder's shipyard.yaml names, when it can be read."""
    from shipyard.settings import SPEC_NAME, find_project_root

    root = find_project_root()
    if root is None:
        return None
    import yaml

    try:
        data = yaml.safe_load((root / SPEC_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    project = data.get("project") if isinstance(data, dict) else None
    return project if isinstance(project, str) else None


def call(server: str, token: str | None, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers |= kwargs.pop("headers", None) or {}

    def send() -> httpx.Response:
        try:
            return httpx.request(
                method, server.rstrip("/") + path, headers=headers, timeout=30, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ShipyardError(
                f"cannot reach the Shipyard server at {server}: {exc.__class__.__name__}",
                "check SHIPYARD_SERVER and that the server is running",
                code="server-unreachable",
            ) from exc

    resp = send()
    if (
        resp.status_code == 422
        and _project_required(resp)
        and "project" not in (kwargs.get("params") or {})
    ):
        # A server of several projects and a token limited to none: the project is the one
        # this folder's shipyard.yaml names, as a user in it means (nothing ran the first time).
        project = folder_project()
        if project is None:
            raise InputError(
                resp.json().get("message", "which project?"),
                "run the command in the project's checkout (its shipyard.yaml names it), or "
                "with a token limited to one project",
                code="project-required",
            )
        if not _streamed(kwargs):
            kwargs["params"] = {**(kwargs.get("params") or {}), "project": project}
            resp = send()
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


def _project_required(resp: Any) -> bool:
    try:
        return bool(resp.json().get("code") == "project-required")
    except (ValueError, AttributeError):
        return False


def _streamed(kwargs: dict[str, Any]) -> bool:
    """A body sent from an iterator cannot be sent twice."""
    content = kwargs.get("content")
    return content is not None and not isinstance(content, bytes | str)
