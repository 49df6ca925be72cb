"""Shell command lines as processes of this host (the ``Commands`` port of
``shipyard.ports.commands``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from shipyard.ports.commands import Ran


class ShellCommands:
    def run(
        self,
        line: str,
        *,
        cwd: Path | None,
        env: Mapping[str, str],
        timeout: float,
        merge: bool = False,
    ) -> Ran:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", line],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge else subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,  # a timeout kills the command and whatever it started
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return Ran(proc.returncode, out, err or b"", timed_out=True)
        return Ran(proc.returncode, out, err or b"")
