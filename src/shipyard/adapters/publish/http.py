"""HTTP for publishers: httpx's errors translated at the boundary, a refused credential named
as such, and nothing secret in any message (the secret and its Basic-auth encoding are
masked out of every excerpt of a registry's answer that a message quotes)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from shipyard.domain import publish as d
from shipyard.ports.publish import (
    Credentials,
    Package,
    PublishFailed,
    PublishUnauthorized,
    PublishUnreachable,
    Pushed,
)

EXCERPT = 300


def plain_url(url: str) -> str:
    """The URL without user information or query: what a message or event may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def token_hint(target: Any) -> str:
    """Where to look when a target's token is refused."""
    return f"the token in ${target.token_env}" if target.token_env else "the target's token_env"


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

    def found(self, resp: httpx.Response, what: str) -> bool:
        """Whether a look-up found ``what``: False on 404, True on success; any other
        answer is raised as ``publish-failed``."""
        if resp.status_code == 404:
            return False
        if resp.status_code >= 300:
            raise self.failed(resp, what)
        return True

    def close(self) -> None:
        self.client.close()


class HttpPublisher:
    """What the HTTP publishers share: a push on one connection, closed when it is done, and
    the check of what the registry already holds under the version."""

    label: str
    http: Http

    def push(self, package: Package) -> Pushed:
        try:
            return self._push(package)
        finally:
            self.http.close()

    def _push(self, package: Package) -> Pushed:
        raise NotImplementedError

    def _holds(self, what: str, held: str | None, ours: str) -> bool:
        """True when the registry holds these bytes already (``held`` is ``ours``), False
        when it holds nothing; other bytes are a ``publish-conflict``."""
        return d.decide(self.label, what, held, ours) == "already"
