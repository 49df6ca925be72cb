"""The embedded default target: the service's command as local processes on free ports.

Each instance runs ``command`` with ``{port}`` (and ``{version}``, ``{pool}``, ``{index}``)
filled in, in a process group of its own so stopping it also stops anything it spawned.
Readiness is an HTTP GET of ``readiness_path`` answering 200. Stopping sends SIGTERM to the
group, then SIGKILL after ``grace`` seconds, and reaps the leader: nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from shipyard.adapters import local_http, masking
from shipyard.adapters.targets.base import (
    Instance,
    TargetConfigInvalid,
    TargetError,
    TargetExited,
    TargetNotReady,
    check_count,
    mask,
)

_FIELDS = ("port", "version", "pool", "index")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(command: str, **values: object) -> list[str]:
    """The argument list of ``command`` with ``{port}`` and friends filled in."""
    try:
        text = command.format_map({k: values[k] for k in _FIELDS})
    except (KeyError, IndexError, ValueError) as exc:
        raise TargetConfigInvalid(
            f"the target command {command!r} has a bad placeholder: {exc}",
            "placeholders are {port}, {version}, {pool} and {index}; write {{ for a brace",
        ) from exc
    argv = shlex.split(text)
    if not argv:
        raise TargetConfigInvalid("the target command is empty", "set `command:` on the target")
    return argv


def check(command: str, readiness_path: str = "/healthz") -> None:
    """Refuse a command that cannot serve (no ``{port}``, a bad placeholder) or a readiness
    path that is not one; `shipyard validate` asks the same before anything is deployed."""
    if "{port}" not in command:
        raise TargetConfigInvalid(
            f"the target command {command!r} does not take a port",
            "put {port} where the service reads its port, e.g. --port {port}",
        )
    render(command, port=0, version="v", pool="p", index=0)  # fail early on bad templates
    if not readiness_path.startswith("/"):
        raise TargetConfigInvalid(
            f"readiness path {readiness_path!r} must start with '/'", "e.g. /healthz"
        )


@dataclass
class _Running:
    instance: Instance
    proc: subprocess.Popen[bytes]


class ProcessTarget:
    """N local processes per pool; implements ``targets.base.Target``."""

    def __init__(
        self,
        command: str,
        log_dir: Path,
        *,
        readiness_path: str = "/healthz",
        ready_timeout: float = 30.0,
        grace: float = 5.0,
        cwd: Path | None = None,
        base_env: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        check(command, readiness_path)
        self.command = command
        self.log_dir = Path(log_dir)
        self.readiness_path = readiness_path
        self.ready_timeout = ready_timeout
        self.grace = grace
        self.cwd = cwd
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.secrets = tuple(secrets)  # masked out of log lines quoted in errors
        self._pools: dict[str, list[_Running]] = {}
        self._lock = threading.Lock()

    # -- Target -------------------------------------------------------------------------------

    def deploy(
        self, pool: str, version: str, instances: int, env: Mapping[str, str] | None = None
    ) -> Sequence[Instance]:
        check_count(instances)
        with self._lock:
            running = self._pools.setdefault(pool, [])
            dead = [r for r in running if r.proc.poll() is not None]
            self._stop_all(dead)  # the leader exited; anything it left in its group goes too
            running[:] = [r for r in running if r not in dead]  # and the dead get replaced
            if any(r.instance.version != version for r in running):
                self._stop_all(running)  # a pool holds one version; replace it whole
                running.clear()
            while len(running) > instances:
                self._terminate(running.pop())
            while len(running) < instances:
                index = max((r.instance.index for r in running), default=-1) + 1
                running.append(self._spawn(pool, version, index, env or {}))
            return [r.instance for r in running]

    def ready(self, pool: str) -> int:
        with self._lock:
            running = list(self._pools.get(pool, ()))
        with local_http.client(timeout=1.0) as client:
            return sum(1 for r in running if self._probe(client, r, raise_exited=False))

    def wait_ready(self, pool: str, timeout: float | None = None) -> Sequence[Instance]:
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._lock:
            waiting = list(self._pools.get(pool, ()))
        with local_http.client(timeout=1.0) as client:
            while waiting:
                for r in list(waiting):
                    if self._probe(client, r):
                        waiting.remove(r)
                if not waiting:
                    break
                if time.monotonic() >= deadline:
                    names = ", ".join(f"{pool}-{r.instance.index}" for r in waiting)
                    raise TargetNotReady(
                        f"{names} not ready on {self.readiness_path} after {limit:g}s",
                        details={"logs": [r.instance.log for r in waiting]},
                    )
                time.sleep(0.05)
        return self.instances(pool)

    def stop(self, pool: str, keep: int = 0) -> None:
        check_count(keep)
        with self._lock:
            running = self._pools.get(pool, [])
            doomed = running[keep:]
            del running[keep:]
            self._stop_all(doomed)

    def instances(self, pool: str | None = None) -> Sequence[Instance]:
        with self._lock:
            pools = [pool] if pool is not None else list(self._pools)
            return [r.instance for p in pools for r in self._pools.get(p, ())]

    def processes(self, pool: str) -> dict[int, subprocess.Popen[bytes]]:
        """The process of each instance of ``pool`` by pid, for a caller that tracks instances
        itself and must read their exit status (only the parent can, and only once)."""
        with self._lock:
            return {r.proc.pid: r.proc for r in self._pools.get(pool, ())}

    def close(self) -> None:
        """Stop every instance of every pool."""
        for pool in list(self._pools):
            self.stop(pool)

    # -- internals ----------------------------------------------------------------------------

    def _spawn(self, pool: str, version: str, index: int, env: Mapping[str, str]) -> _Running:
        port = free_port()
        argv = render(self.command, port=port, version=version, pool=pool, index=index)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{pool}-{index}.log"
        full_env = {**self.base_env, **env, "PORT": str(port), "APP_VERSION": version}
        # The instance writes to its log (owner-only) directly, or, when it holds secrets,
        # through a relay that masks them as step logs are masked.
        out = self._masked_log(log) if self.secrets else _private_log(log)
        try:
            # A session of its own makes the instance a process-group leader, so a
            # signal to the group reaches its children too.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise TargetError(
                f"cannot start {argv[0]!r}: {exc.strerror}",
                "check the target command and that the program is installed",
            ) from exc
        finally:
            os.close(out)
        instance = Instance(pool, index, version, port, proc.pid, str(log))
        return _Running(instance, proc)

    def _masked_log(self, log: Path) -> int:
        """The write end of a pipe whose reader appends to ``log`` with secrets masked."""
        read, write = os.pipe()
        try:
            starter = subprocess.Popen(
                [sys.executable, "-I", "-S", masking.__file__, str(log)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={masking.ENV: json.dumps(list(self.secrets))},
            )
            starter.wait()  # it forks the relay and exits at once
        except OSError as exc:
            os.close(write)
            raise TargetError(f"cannot start the log relay: {exc.strerror}") from exc
        finally:
            os.close(read)
        return write

    def _probe(self, client: httpx.Client, r: _Running, *, raise_exited: bool = True) -> bool:
        code = r.proc.poll()
        if code is not None:
            if not raise_exited:
                return False
            raise TargetExited(
                f"{r.instance.pool}-{r.instance.index} {exit_text(code)} before it "
                f"was ready: {mask(log_tail(r.instance.log), self.secrets)}",
                details={"log": r.instance.log, "status": code},
            )
        url = f"http://127.0.0.1:{r.instance.port}{self.readiness_path}"
        try:
            return client.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    def _stop_all(self, doomed: list[_Running]) -> None:
        # Signal every group first, then wait once, so N instances take one grace period.
        for r in doomed:
            _signal_group(r.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for r in doomed:
            _wait_group(r.proc, deadline)

    def _terminate(self, r: _Running) -> None:
        self._stop_all([r])


def _private_log(log: Path) -> int:
    return os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in group ``pgid``, read from /proc.

    A zombie counts as gone: it holds no resources, and whoever adopted it (init, or a
    container's first process that may never reap) is not ours to wait for.
    """
    members: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


def _group_alive(pgid: int) -> bool:
    if not os.path.isdir("/proc"):  # no procfs: the kernel's answer, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    return bool(group_members(pgid))


def _wait_group(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Reap the leader and wait for the whole group; SIGKILL it at the deadline."""
    while time.monotonic() < deadline:
        proc.poll()
        if proc.returncode is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.02)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 5.0  # SIGKILL cannot be caught; this only waits for the kernel
    while _group_alive(proc.pid) and time.monotonic() < end:
        time.sleep(0.01)


def exit_text(returncode: int) -> str:
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


def log_tail(log: str | None, lines: int = 5, limit: int = 800) -> str:
    """The last ``lines`` lines of an instance's log on one line, at most ``limit`` characters
    (the end kept: the reason a process stopped is written last)."""
    if log is None:
        return ""
    try:
        text = Path(log).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in text[-lines:])
    return ("…" + tail[-limit:] if len(tail) > limit else tail) or "(no output)"
