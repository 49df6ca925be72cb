"""Run steps as local subprocesses, each in its own process group, and leave nothing behind.

A step is ``bash -c RUN`` (``/bin/sh -c``, or the program alone, where that cannot differ: see
``commands``) started with ``start_new_session`` so that it and everything it starts share one
process group that Shipyard can kill as a whole: on timeout, on Ctrl-C, and after the step's
shell exits (a background ``sleep &`` must not outlive its step). The shell's exit is seen
through a pidfd (or ``waitid(WNOWAIT)``) without reaping it, so it stays a zombie while the group
is killed: its pid, which is the group id, cannot be reused by an unrelated process in between.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.adapters.executors.commands import Found, Launch, launch_for, shell
from shipyard.domain.pipeline import retry_delay
from shipyard.errors import InputError

MIN_SECRET_LENGTH = 4
MASK = b"***"
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


class OutputsError(ValueError):
    """A line of $SHIPYARD_OUTPUT that is not ``key=value`` or ``key<<DELIMITER``."""


def check_secret(name: str, value: str) -> None:
    """Refuse a secret too short to mask without hiding every matching word in the log."""
    if len(value) < MIN_SECRET_LENGTH:
        raise InputError(
            f"secret {name} is shorter than {MIN_SECRET_LENGTH} characters",
            "a value this short would be masked everywhere it appears in a log; use a real "
            "credential, or pass the value through `env` if it is not secret",
            code="secret-too-short",
        )


def mask(data: bytes, secrets: Sequence[str]) -> bytes:
    """Replace every secret in ``data``; a multi-line secret is masked whole and line by line."""
    needles: set[bytes] = set()
    for secret in secrets:
        needles.add(secret.encode())
        for line in secret.splitlines():
            if len(line.strip()) >= MIN_SECRET_LENGTH:
                needles.add(line.strip().encode())
    # Longest first, so a line of a secret never leaves part of the whole secret visible.
    for needle in sorted(needles, key=len, reverse=True):
        if needle:
            data = data.replace(needle, MASK)
    return data


def parse_outputs(text: str) -> dict[str, str]:
    """``key=value`` lines, and ``key<<EOF`` ... ``EOF`` blocks for multi-line values."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, _, delimiter = line.partition("<<")
            block: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            if i >= len(lines):
                raise OutputsError(f"output {name.strip()!r}: no closing line {delimiter!r}")
            i += 1
            outputs[_name(name, i)] = "\n".join(block)
            continue
        name, eq, value = line.partition("=")
        if not eq:
            raise OutputsError(f"line {i} of $SHIPYARD_OUTPUT is not key=value: {line[:60]!r}")
        outputs[_name(name, i)] = value
    return outputs


def _name(name: str, line: int) -> str:
    name = name.strip()
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        raise OutputsError(f"line {line} of $SHIPYARD_OUTPUT names an invalid output {name!r}")
    return name


_RESET = (signal.SIGPIPE, signal.SIGXFSZ)  # ignored by Python, default for a program


def _read_all(fd: int) -> bytes:
    data = bytearray()
    while chunk := os.pread(fd, 1 << 16, len(data)):
        data += chunk
    return bytes(data)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class _Live:
    """A started step, from its first attempt to its result."""

    task: Task
    slot: int  # which of the executor's log files it writes
    started: float
    attempt: int = 0
    log: bytearray = field(default_factory=bytearray)
    pid: int | None = None  # of the attempt's process, the leader of its group
    popen: subprocess.Popen[bytes] | None = None  # when started by Popen, which must reap it
    pidfd: int | None = None
    deadline: float | None = None  # this attempt's timeout
    kill_at: float | None = None  # SIGKILL once SIGTERM's grace is over
    retry_at: float | None = None  # the next attempt, after its backoff
    timed_out: bool = False


class LocalExecutor:
    """Runs up to ``workers`` steps at once: ``start`` a task, ``wait`` for results.

    Everything happens on the caller's thread: each step's shell is watched through a pidfd
    (a short poll where there is none), so no thread waits per step and none contends for the
    interpreter with the loop that starts the next one. ``cancel()`` stops every step.
    """

    def __init__(self, workers: int | None = None, *, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.grace_s = grace_s
        self._live: dict[str, _Live] = {}
        self._by_fd: dict[int, _Live] = {}
        self._poll = select.poll()
        self._slots = list(range(self.workers, 0, -1))  # free log files, by number
        self._made = self.workers
        self._done: list[Result] = []
        self._cancelled = False
        self._tmp = Path(tempfile.mkdtemp(prefix="shipyard-steps-"))
        self._found: Found = {}  # programs on PATH that steps ran
        self._same: dict[str, bool] = {}  # step folders: this process's own or not
        self._logs: dict[int, int] = {}  # slot -> its log file

    def start(self, task: Task) -> None:
        if not self._slots:
            self._made += 1
            self._slots.append(self._made)
        slot = self._slots.pop()
        live = _Live(task, slot, time.monotonic())
        self._live[task.node] = live
        self._attempt(live)

    def wait(self, timeout: float) -> list[Result]:
        """The steps that finished; waits up to ``timeout`` seconds for the first of them."""
        end = time.monotonic() + timeout
        while not self._done:
            now = time.monotonic()
            self._timers(now)
            if self._done or now >= end:
                break
            wake = [end]
            for live in self._live.values():
                wake += [t for t in (live.deadline, live.kill_at, live.retry_at) if t is not None]
            for live in self._exited(min(wake) - now):
                self._reap(live)
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        """SIGTERM every running step's group; ``wait`` sends SIGKILL after the grace period."""
        self._cancelled = True
        now = time.monotonic()
        for live in list(self._live.values()):
            if live.pid is None:  # between attempts
                self._end(live, ("cancelled", None, "run cancelled"))
            elif live.kill_at is None:
                _killpg(live.pid, signal.SIGTERM)
                live.kill_at = now + self.grace_s

    def shutdown(self) -> None:
        """Stop what still runs (as ``cancel``), then remove the executor's files."""
        if self._live:
            self.cancel()
            while self._live:
                self.wait(0.1)
        self._done = []
        for fd in self._logs.values():
            os.close(fd)
        self._logs = {}
        for f in self._tmp.iterdir():
            f.unlink(missing_ok=True)
        self._tmp.rmdir()

    # --- one step ----------------------------------------------------------------------------

    def _attempt(self, live: _Live) -> None:
        """Start the step's next attempt."""
        task = live.task
        live.attempt += 1
        live.retry_at = live.deadline = live.kill_at = None
        live.timed_out = False
        if self._cancelled:
            self._end(live, ("cancelled", None, "run cancelled"))
            return
        cwd = str(task.cwd)
        env = {**task.env, "SHIPYARD_OUTPUT": self._out_file(live), "PWD": cwd}
        names = "\n" + "\n".join(env) + "\n"  # searched at C speed: steps have many variables
        if "\nBASH" in names or "\nSHELLOPTS\n" in names:
            launch = Launch(["bash", "-c", task.command])  # settings only bash reads
        else:
            launch = launch_for(task.command, task.cwd, env.get("PATH"), self._found)
        log = self._log(live.slot)
        os.ftruncate(log, 0)
        try:
            self._start(live, launch, cwd, env, log)
        except OSError as exc:
            self._settle(live, ("failure", None, f"cannot start the step: {exc}"))
            return
        assert live.pid is not None
        if task.timeout_s is not None:
            live.deadline = time.monotonic() + task.timeout_s
        try:
            live.pidfd = os.pidfd_open(live.pid)
        except (AttributeError, OSError):  # not Linux, or an old kernel: polled instead
            live.pidfd = None
        else:
            self._by_fd[live.pidfd] = live
            self._poll.register(live.pidfd, select.POLLIN)

    def _start(self, live: _Live, launch: Launch, cwd: str, env: dict[str, str], log: int) -> None:
        """Start ``launch``; a program that cannot be started directly goes to the shell,
        which then opens its redirects and reports any failure in its own words."""
        program = launch.executable or launch.argv[0]
        if os.path.isabs(program) and self._here(cwd):
            # posix_spawn: a fraction of Popen's work, but it cannot change folder.
            actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ]
            for fd, target, flags in launch.redirects:
                actions.append((os.POSIX_SPAWN_OPEN, fd, os.path.join(cwd, target), flags, 0o666))
            try:
                live.pid = os.posix_spawn(
                    program, launch.argv, env, file_actions=actions, setsid=True, setsigdef=_RESET
                )
                return
            except OSError:
                if not launch.direct:
                    raise
                return self._start(live, shell(live.task.command), cwd, env, log)
        streams: dict[int, int] = {}
        try:
            for fd, target, flags in launch.redirects:
                streams[fd] = os.open(os.path.join(cwd, target), flags | os.O_CLOEXEC, 0o666)
            live.popen = subprocess.Popen(
                launch.argv,
                executable=launch.executable,
                cwd=cwd,
                env=env,
                stdin=streams.get(0, subprocess.DEVNULL),
                stdout=streams.get(1, log),
                stderr=log,
                start_new_session=True,
            )
            live.pid = live.popen.pid
        except OSError:
            if not launch.direct:
                raise
            self._start(live, shell(live.task.command), cwd, env, log)
        finally:
            for stream in streams.values():
                os.close(stream)

    def _here(self, cwd: str) -> bool:
        """Whether ``cwd`` is this process's folder, which a spawned step starts in."""
        if cwd not in self._same:
            try:
                self._same[cwd] = os.path.samefile(cwd, os.curdir)
            except OSError:
                self._same[cwd] = False
        return self._same[cwd]

    def _exited(self, wait_s: float) -> list[_Live]:
        """Steps whose shell has exited (not yet reaped), waiting up to ``wait_s`` for one."""
        polled = [live for live in self._live.values() if live.pid and live.pidfd is None]
        if polled:
            wait_s = min(wait_s, 0.002)
        ready = [self._by_fd[fd] for fd, _ in self._poll.poll(max(0.0, wait_s) * 1000)]
        for live in polled:
            assert live.pid is not None
            if os.waitid(os.P_PID, live.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                ready.append(live)
        return ready

    def _reap(self, live: _Live) -> None:
        pid = live.pid
        assert pid is not None
        # The shell is a zombie until reaped, so its pid, which is the group id, stays ours
        # while the rest of the group (a background `sleep &`) is killed.
        _killpg(pid, signal.SIGKILL)
        if live.popen is not None:
            code = live.popen.wait()
        else:
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if live.pidfd is not None:
            self._poll.unregister(live.pidfd)
            del self._by_fd[live.pidfd]
            os.close(live.pidfd)
        live.pid = live.pidfd = None
        live.popen = None
        live.log += _read_all(self._log(live.slot))
        if live.timed_out:
            reason = f"timed out after {live.task.timeout_s:g}s; its process group was killed"
            live.log += f"shipyard: {reason}\n".encode()
            self._settle(live, ("failure", code, reason))
        elif self._cancelled:
            self._settle(live, ("cancelled", code, "run cancelled"))
        elif code != 0:
            what = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            self._settle(live, ("failure", code, what))
        else:
            self._settle(live, ("success", 0, ""))

    def _settle(self, live: _Live, outcome: tuple[str, int | None, str]) -> None:
        """An attempt is over: the step's result, or its next attempt after a backoff."""
        out_file = self._out_file(live)
        try:  # the step creates the file when it writes an output
            with open(out_file, errors="replace") as fh:
                out_text = fh.read()
            os.unlink(out_file)
        except FileNotFoundError:
            out_text = ""
        outputs: dict[str, str] = {}
        if outcome[0] == "success":
            try:
                outputs = parse_outputs(out_text)
            except OutputsError as exc:
                live.log += f"shipyard: {exc}\n".encode()
                self._end(live, ("failure", outcome[1], str(exc)))
                return
        if outcome[0] == "failure" and live.attempt <= live.task.retries:
            task = live.task
            delay = retry_delay(
                live.attempt, base=task.backoff_s, cap=task.max_backoff_s, jitter=random.random()
            )
            note = f"--- retry {live.attempt} of {task.retries} after {delay:.1f}s ---\n"
            live.log += note.encode()
            live.retry_at = time.monotonic() + delay
            return
        self._end(live, outcome, outputs)

    def _end(
        self,
        live: _Live,
        outcome: tuple[str, int | None, str],
        outputs: dict[str, str] | None = None,
    ) -> None:
        status, code, reason = outcome
        del self._live[live.task.node]
        self._slots.append(live.slot)
        self._done.append(
            Result(
                node=live.task.node,
                status=status,
                exit_code=code,
                attempt=live.attempt,
                duration_s=time.monotonic() - live.started,
                log=mask(bytes(live.log), live.task.secrets),
                outputs=outputs or {},
                reason=reason,
            )
        )

    def _timers(self, now: float) -> None:
        """Start retries that are due; stop steps past their timeout or their grace."""
        for live in list(self._live.values()):
            if live.retry_at is not None and now >= live.retry_at:
                self._attempt(live)
            elif live.pid is None:
                continue
            elif live.kill_at is not None and now >= live.kill_at:
                _killpg(live.pid, signal.SIGKILL)
                live.kill_at = None
            elif live.deadline is not None and now >= live.deadline and not live.timed_out:
                live.timed_out = True
                _killpg(live.pid, signal.SIGTERM)
                live.kill_at = now + self.grace_s

    def _log(self, slot: int) -> int:
        """The slot's log file, kept open and emptied for each attempt: creating a file
        costs far more than truncating one, most of all on ext4 soon after many were deleted.
        Opened for appending, so a step's writes land after what it wrote before."""
        if slot not in self._logs:
            flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            self._logs[slot] = os.open(self._tmp / f"{slot}.log", flags, 0o600)
        return self._logs[slot]

    def _out_file(self, live: _Live) -> str:
        return f"{self._tmp}/{live.slot}.out"
