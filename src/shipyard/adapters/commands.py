"""Shell command lines as processes of this host (the ``Commands`` port of
``shipyard.ports.commands``), and ``run_once`` for a command whose output is streamed or
read at its end (a release hook, a run request's status command, a deployment's migration)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

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


def run_once(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    timeout: float,
    output: IO[Any] | None = None,
) -> Ran:
    """Run ``argv`` with no input and wait for it; what it writes goes to ``output`` (both
    streams), or is kept in the ``Ran`` without one. ``OSError`` when it cannot be started;
    ``TimeoutError`` (an ``OSError`` too) when it outlived ``timeout``: it alone is killed
    then, not what it started."""
    stream: IO[Any] | int = subprocess.PIPE if output is None else output
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=stream,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(str(exc)) from exc
    return Ran(done.returncode, done.stdout or b"", done.stderr or b"")
