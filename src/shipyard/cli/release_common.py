"""What the release-coordination commands share: the spec, who is acting, now, the server."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path
from typing import Any

from shipyard.cli.common import settings


def spec(file: Path | None = None) -> Any:
    from shipyard.spec.load import find_spec, load_spec

    return load_spec(find_spec(file=file))


def root(file: Path | None = None) -> Path:
    from shipyard.spec.load import find_spec

    return find_spec(file=file).resolve().parent


def actor() -> str:
    """Who is acting: SHIPYARD_ACTOR, else git's user.email, else the login name.

    Separation of duties compares these names, so they should match commit authors.
    """
    if os.environ.get("SHIPYARD_ACTOR"):
        return os.environ["SHIPYARD_ACTOR"]
    try:
        out = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out or getpass.getuser()


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
