"""A router that drives a real nginx: weighted upstreams, cookie stickiness, header routes.

``render`` turns a ``RouteTable`` into a complete nginx.conf: one upstream per pool with
backends, ``split_clients`` over a per-request id for the weights, and ``map``s that let a
header route, then a sticky cookie for a pool that still gets traffic, win over the weights.
Every change rewrites the file (atomically) and sends ``nginx -s reload``: nginx starts new
workers on the same listening socket and lets the old ones finish their requests, so nothing
is dropped. All of nginx's files live under a prefix folder of our own.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from shipyard.adapters.routers.base import (
    COOKIE,
    RouterConfigInvalid,
    RouterError,
    RouteTable,
)
from shipyard.adapters.targets.process import free_port

GENERATION_PATH = "/__shipyard/generation"


class NginxMissing(RouterError):
    code = "nginx-missing"
    default_hint = "install nginx (Debian: apt-get install nginx) or set the router to builtin"


class NginxFailed(RouterError):
    code = "nginx-failed"
    default_hint = "see error.log in the router's prefix folder"


def render(
    table: RouteTable, *, port: int, prefix: Path, host: str = "127.0.0.1", generation: int = 0
) -> str:
    """The nginx.conf for ``table``, listening on ``host:port``, files under ``prefix``.

    ``generation`` is served at ``GENERATION_PATH`` so a caller can tell when a reload is live.
    """
    live = {p: b for p, b in table.pools.items() if b}
    weighted = [(p, w) for p, w in table.weights.items() if w > 0 and p in live]
    lines = [
        "# Written by shipyard; rewritten on every change.",
        "worker_processes 1;",
        "daemon on;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/error.log warn;",
        "events { worker_connections 1024; }",
        "http {",
        "  access_log off;",
        f"  client_body_temp_path {prefix}/tmp/body;",
        f"  proxy_temp_path {prefix}/tmp/proxy;",
        f"  fastcgi_temp_path {prefix}/tmp/fastcgi;",
        f"  uwsgi_temp_path {prefix}/tmp/uwsgi;",
        f"  scgi_temp_path {prefix}/tmp/scgi;",
        # Short client keep-alive, so old workers drain soon after a reload.
        "  keepalive_timeout 5s;",
    ]
    for pool, backends in sorted(live.items()):
        lines.append(f"  upstream pool_{pool} {{")
        lines += [f"    server {b} max_fails=0;" for b in backends]
        lines += ["    keepalive 32;", "  }"]
    # Weights: split_clients hashes a per-request id, so each request is an independent draw.
    lines.append('  split_clients "${request_id}" $by_weight {')
    if weighted:
        for pool, weight in weighted[:-1]:
            lines.append(f"    {weight}% {pool};")
        lines.append(f"    * {weighted[-1][0]};")
    else:
        lines.append('    * "";')
    lines.append("  }")
    route = table.header_route
    header_var = "$http_" + route.header.replace("-", "_") if route else "$request_id"
    lines.append(f"  map {header_var} $by_header {{")
    lines.append('    default "";')
    if route is not None and route.pool in live:
        lines.append(f'    "{_quote(route.value)}" {route.pool};')
    lines.append("  }")
    lines.append(f"  map $cookie_{COOKIE} $by_cookie {{")
    lines.append('    default "";')
    lines += [f"    {p} {p};" for p, _ in weighted]
    lines.append("  }")
    # Header first, then cookie, then weight; a cookie is set only for a weighted choice.
    lines += [
        "  map $by_header $header_or_cookie {",
        '    "" $by_cookie;',
        "    default $by_header;",
        "  }",
        "  map $header_or_cookie $pool {",
        '    "" $by_weight;',
        "    default $header_or_cookie;",
        "  }",
        "  map $header_or_cookie $sticky {",
        f'    "" "{COOKIE}=$by_weight; Path=/; HttpOnly; SameSite=Lax";',
        '    default "";',
        "  }",
        "  server {",
        f"    listen {host}:{port};",
        f"    location = {GENERATION_PATH} {{",
        "      allow 127.0.0.1;",
        "      deny all;",
        f'      return 200 "{generation}\\n";',
        "    }",
        "    location / {",
        '      if ($pool = "") { return 503 "no pool takes traffic\\n"; }',
        "      proxy_pass http://pool_$pool;",
        "      proxy_http_version 1.1;",
        '      proxy_set_header Connection "";',
        "      proxy_set_header Host $http_host;",
        "      proxy_set_header X-Forwarded-For $remote_addr;",
        "      proxy_next_upstream off;",
        "      add_header Set-Cookie $sticky always;",
        "      add_header X-Shipyard-Pool $pool always;",
        "    }",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    if any(c in value for c in '"\\;{}\r\n'):
        raise RouterConfigInvalid(
            f"header value {value!r} cannot go into an nginx map",
            "use letters, digits and punctuation other than quotes, braces and ';'",
        )
    return value


class NginxRouter:
    """Implements ``routers.base.Router`` with a real nginx under ``prefix``."""

    def __init__(
        self,
        prefix: Path,
        table: RouteTable | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        binary: str = "nginx",
    ) -> None:
        found = shutil.which(binary)
        if found is None:
            raise NginxMissing(f"'{binary}' is not on PATH")
        self.binary = found
        self.prefix = Path(prefix).resolve()
        self.host = host
        self.port = port or free_port()
        self._table = table or RouteTable()
        self._lock = threading.Lock()
        self._running = False
        self._generation = 0
        self._inodes: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        return self.prefix / "nginx.pid"

    def table(self) -> RouteTable:
        return self._table

    def set_pool(self, pool: str, backends: Sequence[str]) -> None:
        with self._lock:
            self._apply(self._table.with_pool(pool, backends))

    def set_weights(self, weights: Mapping[str, int]) -> None:
        with self._lock:
            self._apply(self._table.with_weights(weights))

    def set_header_route(self, header: str, value: str, pool: str) -> None:
        with self._lock:
            self._apply(self._table.with_header_route(header, value, pool))

    def clear_header_route(self) -> None:
        with self._lock:
            self._apply(self._table.without_header_route())

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Write the config, test it, start nginx and wait until it answers."""
        for sub in ("tmp", "logs"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self._write(self._table)
        self._nginx("-t")
        self._nginx()  # the master daemonizes and writes its pid file
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1.0)
                self._running = True
                self._inodes = _listen_inodes(self.port)  # the socket survives reloads
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise NginxFailed(f"nginx did not answer on {self.url} within {timeout:g}s")

    def reload(self, timeout: float = 10.0) -> None:
        """Send the running nginx its config again and wait until every new connection gets it.

        The signal returns at once; nginx then starts new workers while the old ones close
        their listening sockets and finish their requests. Until an old worker has closed its
        listening socket it may still accept a connection under the old config, so this waits
        for that (read from /proc) and for the new generation to answer.
        """
        old_workers = self._workers()
        self._nginx("-s", "reload")
        want = str(self._generation)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._generation_served() == want and not _holding(old_workers, self._inodes):
                return
            time.sleep(0.01)
        raise NginxFailed(f"nginx did not take the new config within {timeout:g}s")

    def _generation_served(self) -> str:
        # http.client on a fresh connection: cheap enough to poll, unlike a new httpx client.
        conn = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
        try:
            conn.request("GET", GENERATION_PATH)
            return conn.getresponse().read().decode().strip()
        except (OSError, http.client.HTTPException):
            return ""
        finally:
            conn.close()

    def _workers(self) -> list[int]:
        master = self._pid()
        if master is None:
            return []
        try:  # the kernel's list of the master's children, when it keeps one
            text = Path(f"/proc/{master}/task/{master}/children").read_text()
            return [int(p) for p in text.split()]
        except (OSError, ValueError):
            return [pid for pid, ppid in _processes() if ppid == master]

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful quit, then SIGKILL of the master if it lingers."""
        pid = self._pid()
        if pid is None:
            return
        with _suppress_lookup():
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            with _suppress_lookup():
                os.kill(pid, signal.SIGKILL)
        self._running = False

    def master_pid(self) -> int | None:
        return self._pid()

    def adopt(self) -> bool:
        """Take over the nginx another process started under this prefix and port, so its next
        change is a reload; False when none runs there."""
        pid = self._pid()
        if pid is None or not _alive(pid):
            return False
        self._running = True
        self._inodes = _listen_inodes(self.port)
        served = self._generation_served()
        self._generation = int(served) if served.isdigit() else 0
        return True

    def __enter__(self) -> NginxRouter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------------

    def _apply(self, table: RouteTable) -> None:
        previous = self._table
        self._generation += 1
        self._write(table)
        if self._running:
            try:
                self._nginx("-t")
            except NginxFailed:
                self._write(previous)  # leave the running nginx and the file as they were
                raise
            self.reload()
        self._table = table

    def _write(self, table: RouteTable) -> None:
        text = render(
            table, port=self.port, prefix=self.prefix, host=self.host, generation=self._generation
        )
        self.prefix.mkdir(parents=True, exist_ok=True)
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.conf)  # nginx never reads half a file

    def _nginx(self, *args: str) -> None:
        cmd = [
            self.binary,
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.conf),
            "-e",
            str(self.prefix / "error.log"),
        ]
        cmd += args
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
            raise NginxFailed(
                f"nginx {' '.join(args) or 'start'} failed: {' | '.join(message)}",
                details={"conf": str(self.conf)},
            )

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None


def _processes() -> list[tuple[int, int]]:
    """(pid, parent pid) of every live, non-zombie process, from /proc."""
    out: list[tuple[int, int]] = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            out.append((int(entry), int(fields[1])))
    return out


def _holding(pids: Sequence[int], inodes: set[str]) -> bool:
    """Whether any of ``pids`` still has one of the sockets ``inodes`` open."""
    for pid in pids if inodes else ():  # no procfs view: the generation check alone decides
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # exited meanwhile
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return True
            except OSError:
                continue
    return False


def _listen_inodes(port: int) -> set[str]:
    """``socket:[inode]`` links of TCP sockets listening on ``port`` (IPv4)."""
    out: set[str] = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return out
    needle = f":{port:04X} "
    for line in lines:
        if needle not in line:
            continue
        fields = line.split()
        if len(fields) > 9 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            out.add(f"socket:[{fields[9]}]")
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie master (not our child, adopted by init) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


class _suppress_lookup:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return kind is ProcessLookupError
