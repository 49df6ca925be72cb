"""An environment's router on this host, running apart from its controller (the ``Routers``
port of ``shipyard.ports.routers``: ``ProcessRouters``): the built-in router as a process of
its own (``python -m shipyard.adapters.routers.builtin``), so it keeps serving the last weights
while no controller runs, driven through its admin API by ``RouterClient``; or nginx
(``NginxClient``). Either is adopted from the environment's record or started.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.adapters.targets.local import PHYSICAL, RuntimeFailed, kill_group, pid_alive
from shipyard.errors import ShipyardError


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
        return pid is not None and pid_alive(pid)

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
