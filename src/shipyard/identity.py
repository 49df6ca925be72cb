"""Who is acting: one answer for every command, event and check of separation of duties.

Embedded (the CLI on its own store): ``SHIPYARD_ACTOR``, else git's ``user.email`` in the
folder the command runs in, else the login name. Against a server: the name of the API token's
principal, which the server resolves (``of_principal``); the client's own variables are not
trusted there. Separation of duties compares these names with commit authors' emails, so they
should be people's emails.

Kept free of heavy imports: `shipyard run` answered by the up-to-date check calls it too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV = "SHIPYARD_ACTOR"


def actor(cwd: Path | None = None) -> str:
    """The embedded actor: SHIPYARD_ACTOR, else git's user.email, else the login name."""
    named = os.environ.get(ENV, "").strip()
    if named:
        return named
    return _git_email(cwd) or _login()


def of_principal(principal: Any) -> str:
    """The actor of an API request: its token's principal (the token's name)."""
    return str(principal.name)


def _git_email(cwd: Path | None) -> str:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "config", "user.email"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return f"uid:{os.getuid()}"
