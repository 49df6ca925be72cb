"""The running world of one environment on this host: its instances per pool, as local
processes (the ``Targets`` port of ``shipyard.ports.targets``: ``ProcessTargets``); its router
process is ``adapters/routers/local.py``.

Instances outlive the ``shipyard deploy`` that started them, and the next deploy has to stop
them, so every instance is recorded (pool, version, port, pid) and a later controller adopts
what is recorded. The process target spawns them; this module only adds the adoption the
target does not offer (stopping and probing an instance by its recorded pid and port).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.ports.targets import Exited as Exited
from shipyard.ports.targets import Launch as Launch
from shipyard.ports.targets import Member as Member

PHYSICAL = ("blue", "green")  # the stable and canary pools alternate between these


class RuntimeFailed(ShipyardError):
    code = "deploy-runtime-failed"
    default_hint = "see the instance and router logs under .shipyard/deploy/<environment>/"


def other_pool(pool: str) -> str:
    return PHYSICAL[1] if pool == PHYSICAL[0] else PHYSICAL[0]


# -- processes ----------------------------------------------------------------------------------


def started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds, to the clock tick), read from /proc; the
    same value for the same process every time, so it tells a process from a later one that
    reuses its pid. None without procfs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    ticks = int(stat[stat.rfind(")") + 2 :].split()[19])
    return round(boot + ticks / os.sysconf("SC_CLK_TCK"), 2)


def pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
    from shipyard.adapters.targets.process import group_members

    return bool(group_members(pid)) if os.path.isdir("/proc") else _signal_ok(pid)


def member_of(recorded: Mapping[str, Any]) -> Member:
    """The instance of a record, ignoring what others wrote beside it (health, restarts)."""
    names = Member.__dataclass_fields__
    return Member(**{k: v for k, v in recorded.items() if k in names})


def is_running(m: Member) -> bool:
    """Whether the process recorded for ``m`` still runs, and is the one that was recorded
    (same start time), not a later process given the same pid."""
    if not pid_alive(m.pid):
        return False
    return m.started_at is None or started_at(m.pid) in (None, m.started_at)


def _signal_ok(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def kill_group(pid: int, grace: float) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    end = time.monotonic() + 5.0
    while pid_alive(pid) and time.monotonic() < end:
        time.sleep(0.01)


# -- instances ----------------------------------------------------------------------------------


def revision_of(side: Mapping[str, Any]) -> str:
    """The revision digest of one side of a deployment: its version, the build it runs
    (the unpacked artifact's folder), its configuration revision and its command."""
    import hashlib

    keys = ("version", "config_revision", "workdir", "command", "readiness_path")
    body = json.dumps({k: side.get(k) for k in keys}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:12]


class Instances:
    """Every instance of an environment, by physical pool; spawning goes to the process target."""

    def __init__(
        self, log_dir: Path, members: Sequence[Mapping[str, Any]] = (), *, keep_dead: bool = False
    ) -> None:
        """``keep_dead`` keeps the records of exited instances (for a supervisor to restart);
        otherwise a dead instance is dropped, never counted."""
        self.log_dir = log_dir
        recorded = [member_of(m) for m in members]
        self.members = [m for m in recorded if keep_dead or is_running(m)]
        # The instances this process started: their exit status is ours to read, once, so
        # nothing else may reap them (``pid_alive`` would, and the status would be lost).
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._secrets: dict[int, tuple[str, ...]] = {}
        self._seen_ready: set[int] = set()

    def _alive(self, m: Member) -> bool:
        proc = self._procs.get(m.pid)
        if proc is None:
            return is_running(m)
        proc.poll()  # reaps the leader and keeps its status
        from shipyard.adapters.targets.process import group_members

        return proc.returncode is None or bool(group_members(m.pid))

    def alive(self, pool: str) -> list[Member]:
        """The instances of ``pool`` whose processes still run, ready or not."""
        return [m for m in self.of(pool) if self._alive(m)]

    def exited(self, pool: str) -> list[Exited]:
        """The instances of ``pool`` whose processes are all gone, with their exit status
        (when this process started them) and the end of their log."""
        from shipyard.adapters.targets.base import mask
        from shipyard.adapters.targets.process import exit_text, log_tail

        out = []
        for m in self.of(pool):
            if self._alive(m):
                continue
            proc = self._procs.get(m.pid)
            how = exit_text(proc.returncode) if proc and proc.returncode is not None else "exited"
            when = "" if m.pid in self._seen_ready else " before it was ready"
            tail = mask(log_tail(m.log), self._secrets.get(m.pid, ()))
            out.append(
                Exited(m, f"{m.pool}-{m.index} ({m.version}) {how}{when}: {tail} (log: {m.log})")
            )
        return out

    def forget(self, doomed: Sequence[Member]) -> None:
        """Drop instances known to be gone, stopping whatever their process group left."""
        self.stop(doomed, 0.5)

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(m) for m in self.members]

    def replace(self, m: Member, launch: Launch) -> Member:
        """Start a new instance of ``launch`` in the place of ``m`` (stopped first if it still
        runs); the new one gets the next index of the pool."""
        self.stop([m], launch.grace)
        self._spawn(m.pool, 1, launch)
        return self.members[-1]

    def answers(self, m: Member, path: str, timeout: float) -> bool:
        """Whether ``m`` answers 200 on ``path`` within ``timeout`` seconds."""
        import httpx

        from shipyard.adapters import local_http

        try:
            return local_http.get(f"http://{m.address}{path}", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def is_alive(self, m: Member) -> bool:
        """Whether ``m``'s process still runs (the one recorded, not a pid reused since)."""
        return self._alive(m)

    def exit_of(self, m: Member) -> str:
        """How ``m`` ended, if this process started it, and the end of its log."""
        from shipyard.adapters.targets.base import mask
        from shipyard.adapters.targets.process import exit_text, log_tail

        proc = self._procs.get(m.pid)
        how = exit_text(proc.returncode) if proc and proc.returncode is not None else "exited"
        return f"{how}: {mask(log_tail(m.log), self._secrets.get(m.pid, ()))}"

    def of(self, pool: str) -> list[Member]:
        return [m for m in self.members if m.pool == pool]

    def scale(self, pool: str, n: int, launch: Launch | None) -> None:
        """Run ``n`` instances of ``launch`` in ``pool`` (the newest go first when shrinking).

        Instances of another revision are replaced and dead ones dropped first: an instance
        left over from another version is never counted as one of this."""
        stale = [m for m in self.of(pool) if not self._alive(m) or not m.runs(launch)]
        if stale:
            self.stop(stale, launch.grace if launch else 5.0)
        current = self.of(pool)
        if len(current) > n:
            self.stop(current[n:], launch.grace if launch else 5.0)
        elif len(current) < n:
            if launch is None:
                raise RuntimeFailed(f"no version to start in the {pool} pool")
            self._spawn(pool, n - len(current), launch)

    def stop(self, doomed: Sequence[Member], grace: float) -> None:
        # Only processes that are still the recorded ones get a signal: a pid may be reused.
        live = [m for m in doomed if m.pid in self._procs or is_running(m)]
        for m in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(m.pid, signal.SIGTERM)
        for m in live:
            kill_group(m.pid, grace)
        self.members = [m for m in self.members if m not in doomed]
        for pid in {m.pid for m in live}:
            proc = self._procs.pop(pid, None)
            if proc is not None:
                proc.poll()  # settles its status, so nothing waits for this pid again

    def stop_all(self, grace: float = 5.0) -> None:
        self.stop(list(self.members), grace)

    def _spawn(self, pool: str, count: int, launch: Launch) -> None:
        from shipyard.adapters.targets.process import ProcessTarget

        first = max((m.index for m in self.members if m.pool == pool), default=-1) + 1
        # A target per batch: instances are tracked here by pid, so it keeps no state.
        target = ProcessTarget(
            launch.command,
            self.log_dir / f"{pool}-{first}",
            readiness_path=launch.readiness_path,
            grace=launch.grace,
            cwd=Path(launch.workdir),
            secrets=launch.secrets,
        )
        for i, inst in enumerate(target.deploy(pool, launch.version, count, dict(launch.env))):
            assert inst.port is not None and inst.pid is not None
            self.members.append(
                Member(
                    pool,
                    first + i,
                    launch.version,
                    inst.port,
                    inst.pid,
                    inst.log or "",
                    launch.revision,
                    started_at(inst.pid),
                )
            )
            self._secrets[inst.pid] = launch.secrets
        self._procs.update(target.processes(pool))

    def ready(self, pool: str, path: str = "/healthz", want: Launch | None = None) -> list[Member]:
        """The instances of ``pool`` (running what ``want`` starts, if given) that are alive
        and answer 200 on ``path``."""
        import httpx

        from shipyard.adapters import local_http

        out = []
        with local_http.client(timeout=1.0) as client:
            for m in self.of(pool):
                if not m.runs(want) or not self._alive(m):
                    continue
                try:
                    if client.get(f"http://{m.address}{path}").status_code == 200:
                        out.append(m)
                        self._seen_ready.add(m.pid)
                except httpx.HTTPError:
                    pass
        return out


class ProcessTargets:
    """The ``Targets`` port on this host: an environment's instances as local processes."""

    def adopt(self, log_dir: Path, recorded: Sequence[Mapping[str, Any]]) -> Instances:
        return Instances(log_dir, recorded)

    def supervise(self, log_dir: Path, recorded: Sequence[Mapping[str, Any]]) -> Instances:
        return Instances(log_dir, recorded, keep_dead=True)
