"""Commands: a shell command line run to its end, for the user's hooks of a command target
(``adapters/targets/command.py``, driven by ``services/deployments/deploy_hooks.py``) and for
custom gate commands (``services/compliance/gates.py``).
``adapters/commands.py`` runs them with ``/bin/sh``; ``tests/fakes.py`` has one that records
each command line and answers as the test scripted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Ran:
    """A command that ended: its exit status (negative: the signal that killed it) and what
    it wrote; ``timed_out`` when it was killed at its timeout (the status is then the kill's)."""

    status: int
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False


@runtime_checkable
class Commands(Protocol):
    def run(
        self,
        line: str,
        *,
        cwd: Path | None,
        env: Mapping[str, str],
        timeout: float,
        merge: bool = False,
    ) -> Ran:
        """Run ``line`` with ``/bin/sh -c`` in ``cwd`` with exactly ``env``, no input, and wait
        for it; past ``timeout`` seconds it is killed with everything it started. With
        ``merge`` what it writes to standard error goes to ``stdout`` too, in the order
        written. ``OSError`` when it cannot be started."""
        ...
