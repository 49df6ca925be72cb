"""Shell command lines as processes of this host (the ``Commands`` port of
``shipyard.ports.commands``), and ``run_once`` for a command whose output is streamed or
read at its end (a release hook, a run request's status command, a deployment's migration)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
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
        with _kept() as out, contextlib.nullcontext(out) if merge else _kept() as err:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", line],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,  # a timeout kills the command and whatever it started
            )
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return Ran(proc.returncode, _read(out), b"" if merge else _read(err), True)
            return Ran(proc.returncode, _read(out), b"" if merge else _read(err))


def run_once(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    timeout: float,
    output: IO[Any] | None = None,
) -> Ran:
    """Run ``argv`` with no input and wait for it; what it writes goes to ``output`` (both
    streams), or is kept in the ``Ran``'s ``stdout`` without one (both streams, in the order
    written). ``OSError`` when it cannot be started; ``TimeoutError`` (an ``OSError`` too) when
    it outlived ``timeout``: it alone is killed then, not what it started."""
    with contextlib.ExitStack() as stack:
        stream = output if output is not None else stack.enter_context(_kept())
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=stream,
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.wait()
            raise TimeoutError(str(exc)) from exc
        return Ran(proc.returncode, b"" if output is not None else _read(stream), b"")


# What a command writes is kept in a file, not read from a pipe: it has ended when its process
# has, though something it left running in the background still holds its output open.
def _kept() -> IO[bytes]:
    return tempfile.TemporaryFile()


def _read(kept: IO[bytes]) -> bytes:
    kept.seek(0)
    return kept.read()
