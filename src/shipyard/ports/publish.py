"""Publishers: a released artifact pushed to a package registry (PyPI, npm, an OCI registry).

A publisher gets the artifact's bytes as a file restored from the blob store (checked against
the registry's digest on the way out) and pushes it; pushing what the target already holds is
success (``Pushed.already``), other bytes under the version are ``publish-conflict``.
Credentials come in ``Credentials`` (read from environment variables by the service) and never
appear in an error, a log line or an event. Backends: ``adapters/publish/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipyard.errors import Refused, ShipyardError


@dataclass(frozen=True)
class Package:
    """One artifact version to push."""

    name: str
    version: str
    filename: str
    media_type: str
    digest: str  # sha256:<hex>, the registry's digest of the bytes
    size: int
    path: Path  # the bytes, restored from the blob store


@dataclass(frozen=True)
class Pushed:
    location: str  # where it can be fetched, without credentials
    remote_digest: str  # the target's own name for the bytes (sha256, npm integrity, manifest)
    already: bool  # the target held these bytes before: nothing was sent


@dataclass(frozen=True)
class Credentials:
    username: str | None
    secret: str | None = None

    def __repr__(self) -> str:  # never print the secret, even in a traceback's locals
        return f"Credentials(username={self.username!r}, secret={'***' if self.secret else None})"


class Publisher(Protocol):
    label: str  # the target's name, for messages

    def push(self, package: Package) -> Pushed: ...


class PublishUnreachable(ShipyardError):
    code = "publish-unreachable"


class PublishUnauthorized(Refused):
    code = "publish-unauthorized"


class PublishFailed(ShipyardError):
    code = "publish-failed"
