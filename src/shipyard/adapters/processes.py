"""Shipyard's own processes on this host, by pid: started apart from the command that starts
them (a session of their own, so they outlive it), signalled, looked for. For a rollout
controller (``adapters/controllers.py``) and an environment's supervisor; what a deployment
runs is ``adapters/targets/``'s."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path


def start_detached(argv: Sequence[str], *, cwd: Path, log: Path) -> None:
    """Start ``argv`` in ``cwd`` in a session of its own, with no input and what it writes
    appended to ``log``; return at once."""
    with open(log, "ab") as out:
        subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def exists(pid: int) -> bool:
    """Whether a process ``pid`` exists that this user may signal (an exited one that is not
    reaped yet counts)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def terminate(pid: int) -> None:
    """Ask process ``pid`` to end (SIGTERM); nothing if it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def kill(pid: int) -> None:
    """End process ``pid`` at once (SIGKILL); nothing if it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
