"""HTTP for publishers: httpx's errors translated at the boundary, a refused credential named
as such, and nothing secret in any message (the secret and its Basic-auth encoding are
masked out of every excerpt of a registry's answer that a message quotes)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from shipyard.ports.publish import (
    Credentials,
    PublishFailed,
    PublishUnauthorized,
    PublishUnreachable,
)

EXCERPT = 300


def plain_url(url: str) -> str:
    """The URL without user information or query: what a message or event may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def basic(credentials: Credentials) -> str:
    raw = f"{credentials.username or ''}:{credentials.secret or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class Http:
    """One registry's connection: ``label`` and ``url`` name it in every error."""

    def __init__(
        self,
        label: str,
        url: str,
        credentials: Credentials,
        timeout: float,
        secret_hint: str,
    ) -> None:
        self.label = label
        self.url = url
        self.credentials = credentials
        self.secret_hint = secret_hint  # which variables to check, for a refused credential
        self.client = httpx.Client(timeout=timeout, follow_redirects=True)

    @property
    def where(self) -> str:
        return f"{self.label} ({plain_url(self.url)})"

    def mask(self, text: str) -> str:
        secret = self.credentials.secret
        if not secret:
            return text
        for needle in (secret, basic(self.credentials).split(" ", 1)[1]):
            text = text.replace(needle, "***")
        return text

    def request(
        self, method: str, url: str, *, challenge: bool = False, **kw: Any
    ) -> httpx.Response:
        """The answer, whatever its status, except that an unreachable registry and a refused
        credential (401, 403) are raised as ``publish-unreachable`` and
        ``publish-unauthorized``; with ``challenge`` a 401 is returned, for its
        ``WWW-Authenticate``."""
        try:
            resp = self.client.request(method, url, **kw)
        except httpx.TimeoutException as exc:
            raise PublishUnreachable(
                f"{self.where} did not answer {method} {plain_url(url)} in time",
                "check that the registry is up; the release is recorded, push again later",
                details={"target": self.label},
            ) from exc
        except httpx.HTTPError as exc:
            raise PublishUnreachable(
                f"{self.where} cannot be reached: {self.mask(type(exc).__name__)}",
                "check the target's url in shipyard.yaml and that the registry is running",
                details={"target": self.label},
            ) from exc
        if resp.status_code == 403 or (resp.status_code == 401 and not challenge):
            raise self.unauthorized(resp)
        return resp

    def unauthorized(self, resp: httpx.Response) -> PublishUnauthorized:
        said = "no credentials" if not self.credentials.secret else "the credentials"
        return PublishUnauthorized(
            f"{self.where} refused {said} (HTTP {resp.status_code})",
            f"check {self.secret_hint}",
            details={"target": self.label, "status": resp.status_code},
        )

    def failed(self, resp: httpx.Response, what: str) -> PublishFailed:
        excerpt = self.mask(resp.text[:EXCERPT].strip())
        return PublishFailed(
            f"{self.where} refused {what}: HTTP {resp.status_code}"
            + (f": {excerpt}" if excerpt else ""),
            "the release is recorded; fix the cause and push again with "
            "`shipyard artifacts push NAME@VERSION --to TARGET`",
            details={"target": self.label, "status": resp.status_code},
        )

    def close(self) -> None:
        self.client.close()
