"""Run steps as local subprocesses, each in its own process group, and leave nothing behind.

A step is ``bash -c RUN`` (``/bin/sh -c`` where that cannot differ, see ``shell_for``) started
with ``start_new_session`` so that it and everything it starts share one process group that
Shipyard can kill as a whole: on timeout, on Ctrl-C, and after the step's shell exits (a
background ``sleep &`` must not outlive its step). The shell is waited for with
``waitid(WNOWAIT)`` so it stays a zombie while the group is killed: its pid, which is the group
id, cannot be reused by an unrelated process in between.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

from shipyard.domain.pipeline import retry_delay
from shipyard.errors import InputError

T = TypeVar("T")

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


# A command list of plain words, `&&`, `||`, `;`, `|`, newlines and `<`, `>`, `>>` runs the same
# under any POSIX shell when every command in it is a program rather than a builtin; dash
# starts in about a third of bash's time, which is most of a small step's cost.
_TOKEN = re.compile(r"[A-Za-z0-9_./,:=+@%-]+|&&|\|\||>>|[;|\n<>]|[ \t]+")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "\n"})
_REDIRECTS = frozenset({"<", ">", ">>"})
# bash's builtins and keywords (`compgen -b -k`) spelt with the characters above, and dash's.
_BUILTIN_WORDS = (
    "alias bg bind break builtin caller case cd chdir command compgen complete compopt continue "
    "coproc declare dirs disown do done echo elif else enable esac eval exec exit export false "
    "fc fg fi for function getopts hash help history if in jobs kill let local logout mapfile "
    "popd printf pushd pwd read readarray readonly return select set shift shopt source "
    "suspend test then time times trap true type typeset ulimit umask unalias unset until wait "
    "while"
)
_BUILTINS = frozenset(_BUILTIN_WORDS.split())
_SH = "/bin/sh"


def shell_for(
    command: str, cwd: Path, path: str | None, found: set[tuple[str, str]] | None = None
) -> list[str]:
    """``bash -c`` as documented, or ``/bin/sh -c`` where the two cannot differ (see above)."""
    tokens = [t for t in _TOKEN.findall(command) if not t.isspace() or t == "\n"]
    if "".join(tokens) != "".join(command.replace(" ", "").replace("\t", "")) or not tokens:
        return ["bash", "-c", command]
    first = True
    previous = ""
    for token in tokens:
        if token in _SEPARATORS:
            if first or previous in _REDIRECTS:
                return ["bash", "-c", command]  # empty command or a redirect without a target
            first = True
        elif token in _REDIRECTS:
            if previous in _REDIRECTS:
                return ["bash", "-c", command]
        elif previous not in _REDIRECTS and first:
            first = False
            if "=" in token or token in _BUILTINS or not _runnable(token, cwd, path, found):
                return ["bash", "-c", command]
        previous = token
    if previous in _REDIRECTS or previous in {"&&", "||", "|"}:
        return ["bash", "-c", command]
    return [_SH, "-c", command]


def _runnable(
    word: str, cwd: Path, path: str | None, found_before: set[tuple[str, str]] | None
) -> bool:
    """A binary or a ``#!`` script either shell would find and exec the same way.

    Anything else keeps bash: its own "not found" message, and a script without ``#!``, which
    each shell would run as a script of its own.
    """
    if "/" in word:
        found: str | None = str(cwd / word)
    elif path is None or not all(os.path.isabs(d) for d in path.split(os.pathsep)):
        return False  # the shells' default PATH, or folders relative to the step's own cwd
    elif found_before is not None and (word, path) in found_before:
        return True  # a program on PATH, seen by an earlier step: its search is not repeated
    else:
        found = shutil.which(word, path=path)
    if found is None or not os.access(found, os.X_OK):
        return False
    try:
        with open(found, "rb") as fh:
            head = fh.read(4)
    except OSError:  # a folder, or unreadable
        return False
    runnable = head == b"\x7fELF" or head[:2] == b"#!"
    if runnable and found_before is not None and "/" not in word and path is not None:
        found_before.add((word, path))
    return runnable


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class LocalExecutor:
    """Runs up to ``workers`` steps at once; ``cancel()`` stops them all."""

    def __init__(self, workers: int | None = None, *, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.grace_s = grace_s
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="step")
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._tmp = Path(tempfile.mkdtemp(prefix="shipyard-steps-"))
        self._found: set[tuple[str, str]] = set()  # programs on PATH that steps ran

    @overload
    def submit(self, task: Task) -> Future[Result]: ...

    @overload
    def submit(self, task: Task, then: Callable[[Result], T]) -> Future[tuple[Result, T]]: ...

    def submit(self, task: Task, then: Callable[[Result], Any] | None = None) -> Future[Any]:
        """Run ``task``; ``then(result)``, if given, runs on the same worker thread after it."""
        if then is None:
            return self._pool.submit(self._run, task)
        return self._pool.submit(self._run_then, task, then)

    def _run_then(self, task: Task, then: Callable[[Result], Any]) -> tuple[Result, Any]:
        result = self._run(task)
        return result, then(result)

    def cancel(self) -> None:
        """SIGTERM every running step's group, SIGKILL what is left after the grace period."""
        self._cancelled.set()
        with self._lock:
            groups = list(self._live)
        for pgid in groups:
            _killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._live:
                    break
            time.sleep(0.02)
        with self._lock:
            groups = list(self._live)
        for pgid in groups:
            _killpg(pgid, signal.SIGKILL)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
        for f in self._tmp.iterdir():
            f.unlink(missing_ok=True)
        self._tmp.rmdir()

    # --- one step ----------------------------------------------------------------------------

    def _run(self, task: Task) -> Result:
        started = time.monotonic()
        log = bytearray()
        attempts = task.retries + 1
        outcome: tuple[str, int | None, str] = ("failure", None, "not started")
        outputs: dict[str, str] = {}
        attempt = 0
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                delay = retry_delay(
                    attempt - 1,
                    base=task.backoff_s,
                    cap=task.max_backoff_s,
                    jitter=random.random(),
                )
                note = f"--- retry {attempt - 1} of {task.retries} after {delay:.1f}s ---\n"
                log += note.encode()
                if self._cancelled.wait(delay):
                    outcome = ("cancelled", None, "run cancelled")
                    break
            if self._cancelled.is_set():
                outcome = ("cancelled", None, "run cancelled")
                break
            out_file = self._tmp / f"{threading.get_ident()}-{attempt}.out"
            outcome = self._attempt(task, out_file, log)
            try:  # the step creates the file when it writes an output
                out_text = out_file.read_text(errors="replace")
                out_file.unlink()
            except FileNotFoundError:
                out_text = ""
            if outcome[0] == "success":
                try:
                    outputs = parse_outputs(out_text)
                except OutputsError as exc:
                    outcome = ("failure", outcome[1], str(exc))
                    log += f"shipyard: {exc}\n".encode()
                    break
            if outcome[0] != "failure":
                break
        status, code, reason = outcome
        return Result(
            node=task.node,
            status=status,
            exit_code=code,
            attempt=attempt,
            duration_s=time.monotonic() - started,
            log=mask(bytes(log), task.secrets),
            outputs=outputs if status == "success" else {},
            reason=reason,
        )

    def _attempt(self, task: Task, out_file: Path, log: bytearray) -> tuple[str, int | None, str]:
        """One try: (status, exit code, reason); the step's output is appended to ``log``."""
        env = {**task.env, "SHIPYARD_OUTPUT": str(out_file)}
        if any(k.startswith("BASH") or k == "SHELLOPTS" for k in env):
            argv = ["bash", "-c", task.command]  # settings only bash reads
        else:
            argv = shell_for(task.command, task.cwd, env.get("PATH"), self._found)
        log_file = self._tmp / f"{threading.get_ident()}.log"
        with open(log_file, "wb") as fh:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=task.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                return ("failure", None, f"cannot start the step: {exc}")
        timed_out = threading.Event()
        with self._lock:
            self._live[proc.pid] = proc
        timer = None
        if task.timeout_s is not None:
            timer = threading.Timer(task.timeout_s, self._time_out, (proc.pid, timed_out))
            timer.daemon = True
            timer.start()
        try:
            # Wait without reaping: the zombie keeps the group id ours while we kill the rest.
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            _killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._live.pop(proc.pid, None)
        log += log_file.read_bytes()
        log_file.unlink(missing_ok=True)
        if timed_out.is_set():
            reason = f"timed out after {task.timeout_s:g}s; its process group was killed"
            log += f"shipyard: {reason}\n".encode()
            return ("failure", code, reason)
        if self._cancelled.is_set():
            return ("cancelled", code, "run cancelled")
        if code != 0:
            what = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            return ("failure", code, what)
        return ("success", 0, "")

    def _time_out(self, pgid: int, flag: threading.Event) -> None:
        flag.set()
        _killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline:
            with self._lock:
                if pgid not in self._live:
                    return
            time.sleep(0.05)
        _killpg(pgid, signal.SIGKILL)
