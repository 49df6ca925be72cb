"""One pipeline step on a Dask worker: what ``DaskExecutor`` submits.

The worker shares no file system with the machine that runs `shipyard run`. It gets the step's
files as bytes (Dask hands them over by their digest, each sent to the cluster once), lays them
out in a scratch folder, runs the command there in a process group of its own, and returns the
files the step created or changed with its log, exit status and ``$SHIPYARD_OUTPUT``. The
process group is killed on timeout and when the run's cancel event is set. Standard library
and ``distributed`` only: workers need Shipyard installed, nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CANCEL_EVERY_S = 0.5
GRACE_S = 5.0


def _cancelled(name: str | None) -> bool:
    if not name:
        return False
    try:
        from distributed import Event

        return bool(Event(name).is_set())  # type: ignore[no-untyped-call]  # unannotated upstream
    except Exception:  # no scheduler to ask: the step goes on, its result will be dropped
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    except ProcessLookupError:
        pass


def run_step(
    spec: Mapping[str, Any], files: Mapping[str, bytes], cancel: str | None
) -> dict[str, Any]:
    """Run one attempt of a step; see the module notes for what comes back."""
    scratch = Path(tempfile.mkdtemp(prefix="shipyard-step-"))
    out_dir = Path(tempfile.mkdtemp(prefix="shipyard-out-"))
    try:
        root = scratch / "ws"
        root.mkdir()
        given: dict[str, str] = {}
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            given[rel] = hashlib.sha256(data).hexdigest()
        for folder in spec.get("folders", ()):
            (root / folder).mkdir(parents=True, exist_ok=True)
        cwd = root / spec.get("workdir", ".")
        if not cwd.is_dir():
            return {
                "code": None,
                "log": b"",
                "outputs": "",
                "files": {},
                "duration": 0.0,
                "note": f"cannot start the step: working directory {spec.get('workdir')} "
                "is missing on the worker",
                "worker": socket.gethostname(),
            }
        out_file = out_dir / "output"
        env = {**os.environ, **spec["env"], "SHIPYARD_OUTPUT": str(out_file), "PWD": str(cwd)}
        log_path = out_dir / "log"
        timeout = spec.get("timeout")
        started = time.monotonic()
        note = ""
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                ["bash", "-c", spec["command"]],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            while True:
                # Wakes the moment the step ends; between, checks the timeout and the cancel
                # event twice a second.
                wait = CANCEL_EVERY_S
                if timeout is not None:
                    wait = max(0.0, min(wait, started + timeout - time.monotonic()))
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if timeout is not None and time.monotonic() - started >= timeout:
                    note = "timeout"
                    _stop(proc)
                    break
                if _cancelled(cancel):
                    note = "cancelled"
                    _stop(proc)
                    break
            # Whatever the step left running in the background does not outlive it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        duration = time.monotonic() - started
        made: dict[str, bytes] = {}
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                rel = path.relative_to(root).as_posix()
                data = path.read_bytes()
                if given.get(rel) != hashlib.sha256(data).hexdigest():
                    made[rel] = data
        return {
            "code": proc.returncode,
            "log": log_path.read_bytes(),
            "outputs": out_file.read_text(errors="replace") if out_file.exists() else "",
            "files": made,
            "duration": duration,
            "note": note,
            "worker": socket.gethostname(),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
