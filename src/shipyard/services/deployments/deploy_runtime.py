"""The running world of one environment: its router process and its instances per pool.

Instances outlive the ``shipyard deploy`` that started them, and the next deploy has to stop
them, so every instance is recorded (pool, version, port, pid) and a later controller adopts
what is recorded. The process target spawns them; this module only adds the adoption the
target does not offer (stopping and probing an instance by its recorded pid and port).

The router runs as a process of its own (``python -m shipyard.adapters.routers.builtin``) so it
keeps serving the last weights while no controller runs; ``RouterClient`` drives its admin API.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
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


def _alive(pid: int) -> bool:
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
    if not _alive(m.pid):
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
        if not _alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    end = time.monotonic() + 5.0
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.01)


# -- router -------------------------------------------------------------------------------------


class RouterClient:
    """The built-in router's admin API, from another process."""

    def __init__(self, port: int, admin_port: int, pid: int | None = None) -> None:
        self.port, self.admin_port, self.pid = port, admin_port, pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "port": self.port, "admin_port": self.admin_port}

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        import httpx

        from shipyard.adapters import local_http

        try:
            resp = local_http.request(method, self.admin_url + path, json=body, timeout=5.0)
        except httpx.HTTPError as exc:
            raise RuntimeFailed(f"the router at {self.admin_url} is unreachable: {exc}") from exc
        try:
            data: dict[str, Any] = resp.json() if resp.content else {}
        except ValueError:  # /healthz answers plain text
            data = {}
        if resp.status_code >= 400:
            raise ShipyardError(
                data.get("message", f"router answered {resp.status_code}"),
                data.get("hint"),
                code=data.get("code", "router-failed"),
            )
        return data

    def healthy(self) -> bool:
        try:
            self._call("GET", "/healthz")
        except ShipyardError:
            return False
        return True

    def routes(self) -> dict[str, Any]:
        return self._call("GET", "/routes")

    def process(self) -> int | None:
        """The pid of the router answering on the recorded admin port, if one answers."""
        try:
            pid = self._call("GET", "/info").get("pid")
        except ShipyardError:
            return None
        return int(pid) if pid else None

    def set_pool(self, pool: str, backends: Sequence[str]) -> None:
        self._call("PUT", f"/pools/{pool}", {"backends": list(backends)})

    def set_weights(self, weights: Mapping[str, int]) -> None:
        self._call("PUT", "/weights", dict(weights))

    def in_flight(self, pool: str) -> int:
        """Requests forwarded to ``pool`` not yet answered in full (the router's gauge); 0
        when the router cannot tell."""
        import httpx

        from shipyard.adapters import local_http
        from shipyard.adapters.routers.stats import IN_FLIGHT
        from shipyard.domain import promtext

        try:
            text = local_http.get(self.admin_url + "/metrics", timeout=5.0).text
        except httpx.HTTPError:
            return 0
        for s in promtext.parse(text):
            if s.name == IN_FLIGHT and s.label("pool") == pool:
                return int(s.value)
        return 0

    def set_header_route(self, header: str, value: str, pool: str) -> None:
        self._call("PUT", "/header-route", {"header": header, "value": value, "pool": pool})

    def clear_header_route(self) -> None:
        self._call("DELETE", "/header-route")

    def set_preview(self, pool: str, port: int | None, mirror: int) -> int | None:
        """Serve ``pool`` alone on a port of its own and mirror requests to it; the port."""
        got = self._call("PUT", "/preview", {"pool": pool, "port": port, "mirror": mirror})
        return (got.get("preview") or {}).get("port")

    def clear_preview(self) -> None:
        self._call("DELETE", "/preview")


def start_router(log: Path, port: int = 0, admin_port: int = 0) -> RouterClient:
    """Start the built-in router as a process that outlives this one."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shipyard.adapters.routers.builtin",
                "--port",
                str(port),
                "--admin-port",
                str(admin_port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    try:
        info = json.loads(line)
    except ValueError as exc:
        kill_group(proc.pid, 1.0)
        raise RuntimeFailed(f"the router did not start: see {log}") from exc
    _port = int(info["url"].rsplit(":", 1)[1])
    _admin = int(info["admin_url"].rsplit(":", 1)[1])
    client = RouterClient(_port, _admin, proc.pid)
    for pool in PHYSICAL:
        client.set_pool(pool, [])
    return client


def ensure_router(recorded: Mapping[str, Any] | None, log: Path) -> RouterClient:
    """The environment's router: the recorded one if it still answers, else a new one."""
    if recorded:
        client = RouterClient(int(recorded["port"]), int(recorded["admin_port"]), recorded["pid"])
        if client.healthy():
            return client
        with contextlib.suppress(RuntimeFailed):  # its port may be taken now; any will do
            return start_router(log, client.port)
    return start_router(log)


class NginxClient:
    """An environment's nginx router, driven like ``RouterClient``. Its port and route table
    are kept in ``router.json`` under its prefix, so any later controller adopts the running
    nginx and changes it by reload. It has no metrics of its own (``admin_url`` is empty)."""

    kind = "nginx"

    def __init__(self, prefix: Path, port: int = 0) -> None:
        from shipyard.adapters.routers.nginx import NginxRouter
        from shipyard.ports.routers import HeaderRoute, RouteTable

        self.prefix = prefix
        saved: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads((prefix / "router.json").read_text())
        t = saved.get("table") or {"pools": {p: [] for p in PHYSICAL}, "weights": {}}
        route = t.get("header_route")
        table = RouteTable(
            {k: tuple(v) for k, v in t["pools"].items()},
            dict(t.get("weights", {})),
            HeaderRoute(**route) if route else None,
        )
        self.router = NginxRouter(prefix, table, port=int(saved.get("port") or port))
        self.port = self.router.port
        self.admin_url = ""

    @property
    def url(self) -> str:
        return self.router.url

    @property
    def pid(self) -> int | None:
        return self.router.master_pid()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pid": self.pid,
            "port": self.port,
            "admin_port": None,
            "prefix": str(self.prefix),
        }

    def ensure(self) -> NginxClient:
        """Adopt the running nginx, or start it with the saved table."""
        if not self.router.adopt():
            self.router.start()
            self._save()
        return self

    def healthy(self) -> bool:
        pid = self.pid
        return pid is not None and _alive(pid)

    def routes(self) -> dict[str, Any]:
        return self.router.table().to_dict()

    def _save(self) -> None:
        body = json.dumps({"port": self.port, "table": self.routes()})
        tmp = self.prefix / "router.json.tmp"
        tmp.write_text(body)
        os.replace(tmp, self.prefix / "router.json")

    def set_pool(self, pool: str, backends: Sequence[str]) -> None:
        self.router.set_pool(pool, backends)
        self._save()

    def set_weights(self, weights: Mapping[str, int]) -> None:
        self.router.set_weights(weights)
        self._save()

    def set_header_route(self, header: str, value: str, pool: str) -> None:
        self.router.set_header_route(header, value, pool)
        self._save()

    def clear_header_route(self) -> None:
        self.router.clear_header_route()
        self._save()

    def set_preview(self, pool: str, port: int | None, mirror: int) -> int | None:
        from shipyard.ports.routers import RouterError

        raise RouterError(
            "nginx has no preview port and does not mirror",
            "use preview_header, or router: builtin",
            code="router-unsupported",
        )

    def clear_preview(self) -> None:
        pass  # never opened

    def stop(self) -> None:
        if self.router.adopt():
            self.router.stop()


def router_client(recorded: Mapping[str, Any] | None) -> Any:
    """The client of a recorded router (built-in or nginx), without starting anything."""
    if not recorded:
        return None
    if recorded.get("kind") == "nginx":
        return NginxClient(Path(recorded["prefix"]), int(recorded["port"]))
    return RouterClient(int(recorded["port"]), int(recorded["admin_port"]), recorded.get("pid"))


class ProcessRouters:
    """The ``Routers`` port on this host: the built-in router as a process of its own, or
    nginx, either adopted from the environment's record or started."""

    def open(
        self, kind: str | None, recorded: Mapping[str, Any] | None, folder: Path
    ) -> RouterClient | NginxClient:
        if kind == "nginx":
            return NginxClient(folder / "nginx").ensure()
        return ensure_router(recorded, folder / "router.log")

    def adopt(self, recorded: Mapping[str, Any]) -> RouterClient | NginxClient:
        client: RouterClient | NginxClient = router_client(recorded)
        return client


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
        # nothing else may reap them (``_alive`` would, and the status would be lost).
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
