"""What the release-coordination commands share: the spec, who is acting, now, the server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.cli.common import settings

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


def spec(file: Path | None = None) -> Spec:
    from shipyard.spec.load import find_spec, load_spec

    return load_spec(find_spec(file=file))


def root(file: Path | None = None) -> Path:
    from shipyard.spec.load import find_spec

    return find_spec(file=file).resolve().parent


def actor() -> str:
    """Who is acting (see shipyard.identity): SHIPYARD_ACTOR, else git's user.email, else the
    login name."""
    from shipyard.identity import actor as resolve

    return resolve()


def remote(method: str, path: str, **kw: Any) -> Any | None:
    """The server's answer when SHIPYARD_SERVER is set, else None (run in-process)."""
    s = settings()
    if not s.server_url:
        return None
    from shipyard.cli.client import call

    return call(s.server_url, s.token, method, "/api/v1/release" + path, **kw)


def ttl(value: str | None) -> Any:
    from shipyard.domain.calendar import parse_duration

    return parse_duration(value) if value else None
