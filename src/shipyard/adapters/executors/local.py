"""Run steps as local subprocesses, each in its own process group, and leave nothing behind.

A step is ``bash -c RUN`` (``/bin/sh -c``, or the program alone, where that cannot differ: see
``commands``). The processes themselves are started and watched by spawners (``spawner.py``),
a small process per worker, so that the wait for each new program to be exec'd never holds up
this one. Here is the rest: which command line a step gets, its retries with backoff, its
``$SHIPYARD_OUTPUT`` values, and the masking of secrets in its log.

Each step leads its own process group, which its spawner kills as a whole on timeout, on
cancel, after the step's shell exits (a background ``sleep &`` must not outlive its step), and
when this process ends or dies: the spawner's requests pipe closes and it stops everything.
"""

from __future__ import annotations

import marshal
import os
import random
import select
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.adapters.executors import retries, spawner
from shipyard.adapters.executors.commands import Found, Launch, launch_for, shell, wants_bash
from shipyard.adapters.executors.outputs import OutputsError, parse_outputs
from shipyard.adapters.masking import MIN_SECRET_LENGTH, mask
from shipyard.domain.pipeline import retry_delay
from shipyard.errors import InputError

# Time a step gets between SIGTERM and SIGKILL.
DEFAULT_GRACE_S = 5.0


@dataclass(frozen=True)
class Task:
    node: str
    command: str
    cwd: Path
    env: Mapping[str, str]
    timeout_s: float | None = None
    retries: int = 0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    secrets: Sequence[str] = ()  # values to mask in the log
    # For an executor whose workers share no file system with this one (Dask): the files the
    # step may read (relative path -> digest, read from ``root``), where the workspace is, the
    # working directory within it, and the labels of the workers it may run on.
    files: Mapping[str, str] = field(default_factory=dict)
    root: Path | None = None
    workdir: str = "."
    outputs: Sequence[str] = ()
    runs_on: Sequence[str] = ()


@dataclass
class Result:
    node: str
    status: str  # success, failure, cancelled
    exit_code: int | None
    attempt: int
    duration_s: float
    log: bytes
    outputs: dict[str, str] = field(default_factory=dict)
    reason: str = ""


def check_secret(name: str, value: str) -> None:
    """Refuse a secret too short to mask without hiding every matching word in the log."""
    if len(value) < MIN_SECRET_LENGTH:
        raise InputError(
            f"secret {name} is shorter than {MIN_SECRET_LENGTH} characters",
            "a value this short would be masked everywhere it appears in a log; use a real "
            "credential, or pass the value through `env` if it is not secret",
            code="secret-too-short",
        )


class _Spawner:
    """One spawner process and the pipes to it; it runs one step at a time."""

    def __init__(self, folder: Path, grace_s: float) -> None:
        folder.mkdir()
        to_spawner, self.send = os.pipe()
        self.recv, from_spawner = os.pipe()
        argv = [sys.executable, "-I", "-S", spawner.__file__, "1", str(grace_s), str(folder)]
        # Its own process group: Ctrl-C reaches this process, which decides what stops.
        self.pid = os.posix_spawn(
            sys.executable,
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, to_spawner, 0),
                (os.POSIX_SPAWN_DUP2, from_spawner, 1),
            ],
            setpgroup=0,
        )
        os.close(to_spawner)
        os.close(from_spawner)
        self.reports = spawner.frames(self.recv)
        self.held = 0  # attempts handed to it and not yet reported
        self.log = folder / "0.log"  # its one slot's log: what the step it runs writes
        self.freed = 0.0  # when it last reported an end (and started what it held next)

    def tell(self, item: tuple[Any, ...]) -> None:
        data = marshal.dumps(item)
        os.write(self.send, len(data).to_bytes(4, "little") + data)

    def close(self) -> None:
        """Its requests end, which stops it (and whatever still ran)."""
        if self.send >= 0:
            os.close(self.send)
            self.send = -1
            os.waitpid(self.pid, 0)
            os.close(self.recv)


@dataclass
class _Live:
    """A started step, from its first attempt to its result."""

    task: Task
    out_file: str  # its $SHIPYARD_OUTPUT
    started: float | None = None  # when its first attempt started
    attempt: int = 0
    log: bytearray = field(default_factory=bytearray)
    request: int | None = None  # the attempt a spawner holds, if any
    shown: int = 0  # bytes of the attempt's log that ``output`` has handed out
    spawner: _Spawner | None = None  # the spawner that holds it
    retry_at: float | None = None  # the next attempt, after its backoff


class LocalExecutor:
    """Runs up to ``workers`` steps at once: ``start`` a task, ``wait`` for results.

    Each worker is a spawner process. Up to ``capacity`` tasks may be started at once: each
    spawner holds one more than it runs, and starts it the moment its step ends, without a
    round trip through this process. ``cancel()`` stops every step; ``shutdown()`` the spawners.
    """

    remote = False  # its steps read and write this machine's workspace

    def __init__(self, workers: int | None = None, *, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.capacity = 2 * self.workers
        self._live: dict[str, _Live] = {}
        self._requests: dict[int, _Live] = {}
        self._next = 0
        self._done: list[Result] = []
        self._cancelled = False
        self._tmp = Path(tempfile.mkdtemp(prefix="shipyard-steps-"))
        self._found: Found = {}  # programs on PATH that steps ran
        # One per worker: a spawner waits while a new program is exec'd, and a step of another
        # worker that ends meanwhile starts its successor without waiting behind it.
        self._spawners = [_Spawner(self._tmp / f"w{i}", grace_s) for i in range(self.workers)]
        self._by_fd = {s.recv: s for s in self._spawners}

    def start(self, task: Task) -> None:
        self._next += 1
        live = _Live(task, f"{self._tmp}/{self._next}.out")
        self._live[task.node] = live
        self._attempt(live)

    def wait(self, timeout: float) -> list[Result]:
        """The steps that finished; waits up to ``timeout`` seconds for the first of them."""
        end = time.monotonic() + timeout
        while not self._done:
            now = time.monotonic()
            for live in retries.due(self._live.values(), now):
                self._attempt(live)
            if self._done or now >= end or not self._by_fd:
                break
            wake = retries.wake(end, self._live.values())
            for fd in select.select(list(self._by_fd), [], [], max(0.0, wake - now))[0]:
                reports = next(self._by_fd[fd].reports)
                if reports is None:
                    self._lost(self._by_fd.pop(fd))
                    continue
                for report in reports:
                    self._ended(*report[1:])
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        """SIGTERM every running step's group; the spawners send SIGKILL after the grace."""
        self._cancelled = True
        for live in list(self._live.values()):
            if live.request is None:  # between attempts
                self._end(live, ("cancelled", None, "run cancelled"))
        for s in self._by_fd.values():
            s.tell(("cancel",))

    def shutdown(self) -> None:
        """Stop what still runs (as ``cancel``), then the spawners, and remove the files."""
        if self._live:
            self.cancel()
            while self._live and self._by_fd:
                self.wait(0.1)
        self._done = []
        for s in self._spawners:
            s.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def output(self, settle_s: float = 0.1) -> dict[str, bytes]:
        """What each running step wrote since the last call, masked, up to its last full line:
        for a live view of the run (services/pipelines/pipeline_live.py).

        A spawner runs the oldest attempt it holds and reuses one log file for the next. It
        empties the file, then reports the end, then starts the next attempt: bytes read while
        no report waits on its pipe are the running step's, bytes read otherwise are dropped,
        and once a report is read the file holds nothing of the step that ended. A spawner
        that reported an end less than ``settle_s`` ago is left for next time.
        """
        now = time.monotonic()
        read: dict[int, tuple[_Live, bytes]] = {}
        for fd, s in self._by_fd.items():
            live = next((v for v in self._requests.values() if v.spawner is s), None)
            if live is None or now - s.freed < settle_s:
                continue
            try:
                with open(s.log, "rb") as fh:
                    fh.seek(live.shown)
                    data = fh.read(1 << 20)
            except FileNotFoundError:
                continue
            cut = data.rfind(b"\n") + 1 if len(data) < 1 << 20 else len(data)
            if cut:
                read[fd] = (live, data[:cut])
        if not read:
            return {}
        ended = set(select.select(list(read), [], [], 0)[0])
        out: dict[str, bytes] = {}
        for fd, (live, data) in read.items():
            if fd not in ended:
                live.shown += len(data)
                out[live.task.node] = mask(data, live.task.secrets)
        return out

    # --- one step ----------------------------------------------------------------------------

    def _attempt(self, live: _Live) -> None:
        """Hand the step's next attempt to the spawner."""
        task = live.task
        live.attempt += 1
        live.retry_at = None
        if self._cancelled:
            self._end(live, ("cancelled", None, "run cancelled"))
            return
        cwd = os.path.abspath(task.cwd)
        env = {**task.env, "SHIPYARD_OUTPUT": live.out_file, "PWD": cwd}
        if wants_bash(env):
            launch = Launch(["bash", "-c", task.command])
        else:
            launch = launch_for(task.command, task.cwd, env.get("PATH"), self._found)
        program = launch.executable or self._which(launch.argv[0], env.get("PATH"))
        if program is None:
            reason = f"cannot start the step: {launch.argv[0]} is not on PATH"
            live.log += f"shipyard: {reason}\n".encode()
            self._settle(live, ("failure", None, reason))
            return
        redirects = [
            (fd, os.path.join(cwd, target), flags) for fd, target, flags in launch.redirects
        ]
        fallback = shell(task.command).argv if launch.direct else None
        self._next += 1
        live.request = self._next
        self._requests[self._next] = live
        live.spawner = min(self._by_fd.values(), key=lambda s: s.held, default=None)
        if live.spawner is None:
            self._lost(None)
            return
        live.spawner.held += 1
        live.shown = 0
        live.spawner.tell(
            ("run", self._next, program, launch.argv, env, cwd, redirects, task.timeout_s, fallback)
        )

    def _which(self, program: str, path: str | None) -> str | None:
        if os.path.isabs(program):
            return program
        key = (program, path or "")
        if key not in self._found:
            where = shutil.which(program, path=path)
            if where is None:
                return None
            self._found[key] = where
        return self._found[key]

    def _ended(
        self, request: int, code: int | None, started: float, duration: float, log: bytes, note: str
    ) -> None:
        """The spawner's report that an attempt is over."""
        live = self._requests.pop(request)
        live.request = None
        if live.spawner is not None:
            live.spawner.held -= 1
            live.spawner.freed = time.monotonic()
        if live.started is None:
            live.started = started
        live.log += log
        if note.startswith("cannot start"):
            live.log += f"shipyard: {note}\n".encode()
            self._settle(live, ("failure", None, note), started + duration)
        elif note == "timeout":
            reason = f"timed out after {live.task.timeout_s:g}s; its process group was killed"
            live.log += f"shipyard: {reason}\n".encode()
            self._settle(live, ("failure", code, reason), started + duration)
        elif note == "cancelled" or self._cancelled:
            self._settle(live, ("cancelled", code, "run cancelled"), started + duration)
        elif code != 0:
            what = (
                f"killed by signal {-code}"
                if code is not None and code < 0
                else f"exited with status {code}"
            )
            self._settle(live, ("failure", code, what), started + duration)
        else:
            self._settle(live, ("success", 0, ""), started + duration)

    def _lost(self, gone: _Spawner | None) -> None:
        """A spawner is gone (it was killed): what it held cannot be finished."""
        for request, live in list(self._requests.items()):
            if live.spawner is gone:
                del self._requests[request]
                live.request = None
                live.log += b"shipyard: the step's spawner exited; the step was stopped\n"
                self._end(live, ("failure", None, "the step's spawner exited"))

    def _settle(
        self, live: _Live, outcome: tuple[str, int | None, str], ended: float | None = None
    ) -> None:
        """An attempt is over: the step's result, or its next attempt after a backoff."""
        out_text = ""
        try:  # the step creates the file when it writes an output
            fd = os.open(live.out_file, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            pass
        else:
            with open(fd, errors="replace") as fh:
                out_text = fh.read()
            os.unlink(live.out_file)
        outputs: dict[str, str] = {}
        if outcome[0] == "success":
            try:
                # Outputs are masked as the log is: they are stored, shown and passed on.
                outputs = parse_outputs(mask(out_text.encode(), live.task.secrets).decode())
            except OutputsError as exc:
                live.log += f"shipyard: {exc}\n".encode()
                self._end(live, ("failure", outcome[1], str(exc)), ended=ended)
                return
        if outcome[0] == "failure" and live.attempt <= live.task.retries and not self._cancelled:
            task = live.task
            delay = retry_delay(
                live.attempt, base=task.backoff_s, cap=task.max_backoff_s, jitter=random.random()
            )
            note = f"--- retry {live.attempt} of {task.retries} after {delay:.1f}s ---\n"
            live.log += note.encode()
            live.retry_at = time.monotonic() + delay
            return
        self._end(live, outcome, outputs, ended)

    def _end(
        self,
        live: _Live,
        outcome: tuple[str, int | None, str],
        outputs: dict[str, str] | None = None,
        ended: float | None = None,
    ) -> None:
        status, code, reason = outcome
        del self._live[live.task.node]
        now = time.monotonic()
        self._done.append(
            Result(
                node=live.task.node,
                status=status,
                exit_code=code,
                attempt=live.attempt,
                duration_s=max(0.0, (ended or now) - (live.started or now)),
                log=mask(bytes(live.log), live.task.secrets),
                outputs=outputs or {},
                reason=reason,
            )
        )
