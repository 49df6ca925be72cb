"""The built-in router: an asyncio HTTP/1.1 reverse proxy that splits traffic between pools.

Requests go to a pool by header route, sticky cookie or weight (``RouteTable.choose``) and to
its backends in turn, over kept-alive connections. Control calls swap the table whole, so a
weight change drops nothing: a request in flight finishes where it started. An admin server on
a port of its own serves ``/metrics`` (Prometheus text), ``/routes`` and the control calls, so
a controller in another process drives a router that outlives it.

Run it as a process with ``python -m shipyard.adapters.routers.builtin --port P --admin-port A``
or in a thread with ``BuiltinRouter(...).start()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.adapters.routers import http1
from shipyard.adapters.routers.base import (
    COOKIE,
    RouterConfigInvalid,
    RouterError,
    RouteTable,
)
from shipyard.adapters.routers.stats import PoolStats
from shipyard.errors import ShipyardError

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
NO_POOL = "none"  # the metrics label of requests no pool could take
MAX_MIRRORING = 64  # mirrored requests in flight at most; beyond, no copy is made


@dataclass(frozen=True)
class Preview:
    pool: str
    mirror: int  # percent of the other pools' GET and HEAD requests copied to it


class BuiltinRouter:
    """Implements ``routers.base.Router``; ``port=0`` picks free ports."""

    def __init__(
        self,
        table: RouteTable | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_port: int | None = 0,
        backend_timeout: float = 60.0,
        max_idle_per_backend: int = 64,
        seed: int | None = None,
    ) -> None:
        self._table = table or RouteTable()
        self.host = host
        self.port = port
        self.admin_port = admin_port
        self.backend_timeout = backend_timeout
        self.max_idle = max_idle_per_backend
        self.stats = PoolStats()
        self._rng = random.Random(seed)
        self._control = threading.Lock()
        self._idle: dict[str, list[_Conn]] = {}
        self._turn: dict[str, itertools.count[int]] = {}
        self._in_flight: dict[str, int] = {}  # written on the loop only
        self._pruned_for: RouteTable | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._servers: list[asyncio.Server] = []
        self._preview: Preview | None = None  # the pool previewed, and the share mirrored to it
        self._preview_server: asyncio.Server | None = None
        self.preview_port: int | None = None
        self._mirroring = 0  # mirrored requests in flight (written on the loop only)
        self._mirrors: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- control (any thread) -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.admin_port}"

    def table(self) -> RouteTable:
        return self._table

    def set_pool(self, pool: str, backends: Sequence[str]) -> None:
        with self._control:
            self._table = self._table.with_pool(pool, backends)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        with self._control:
            self._table = self._table.with_weights(weights)

    def set_header_route(self, header: str, value: str, pool: str) -> None:
        with self._control:
            self._table = self._table.with_header_route(header, value, pool)

    def clear_header_route(self) -> None:
        with self._control:
            self._table = self._table.without_header_route()

    def set_preview(self, pool: str, port: int | None = None, mirror: int = 0) -> int | None:
        """Preview ``pool`` before it gets traffic: serve it alone on ``port`` (0: any free
        port; None: no port) and copy ``mirror`` percent of the GET and HEAD requests the
        other pools answer to it, its answers recorded in its metrics and dropped. Returns
        the preview port."""
        if self._loop is None:
            raise RouterError("the router is not running", "start it first")
        future = asyncio.run_coroutine_threadsafe(self._set_preview(pool, port, mirror), self._loop)
        return future.result(timeout=10)

    def clear_preview(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._clear_preview(), self._loop).result(10)

    async def _set_preview(self, pool: str, port: int | None, mirror: int) -> int | None:
        if pool not in self._table.pools:
            raise RouterConfigInvalid(
                f"preview of unknown pool '{pool}'", "set the pool's backends first"
            )
        if isinstance(mirror, bool) or not isinstance(mirror, int) or not 0 <= mirror <= 100:
            raise RouterConfigInvalid(f"mirror {mirror!r} is not a whole percent 0..100")
        if port is not None and (isinstance(port, bool) or not 0 <= int(port) < 65536):
            raise RouterConfigInvalid(f"preview port {port!r} is not a port")
        self._preview = Preview(pool, mirror)
        keep = self._preview_server is not None and port in (0, self.preview_port)
        if not keep:
            await self._close_preview_port()
        if port is not None and self._preview_server is None:
            try:
                server = await asyncio.start_server(
                    self._serve_preview, self.host, port, limit=http1.MAX_HEAD
                )
            except OSError as exc:
                raise RouterError(
                    f"the router cannot listen on {self.host}:{port} for the preview: {exc}",
                    "pick another preview_port, or 0 for any",
                ) from exc
            self._preview_server = server
            self.preview_port = server.sockets[0].getsockname()[1]
        return self.preview_port

    async def _clear_preview(self) -> None:
        self._preview = None
        await self._close_preview_port()

    async def _close_preview_port(self) -> None:
        if self._preview_server is not None:
            self._preview_server.close()
            self._preview_server = None
            self.preview_port = None

    def routes(self) -> dict[str, Any]:
        """The routing table, with the preview if one is open."""
        out = self._table.to_dict()
        p = self._preview
        out["preview"] = (
            None if p is None else {"pool": p.pool, "mirror": p.mirror, "port": self.preview_port}
        )
        return out

    def metrics_text(self) -> str:
        return self.stats.render(self._table.weights, dict(self._in_flight))

    def in_flight(self, pool: str) -> int:
        """Requests forwarded to ``pool`` whose response has not been sent in full yet."""
        return self._in_flight.get(pool, 0)

    def drain(self, pool: str, timeout: float = 30.0) -> bool:
        """Wait until ``pool`` has no request in flight (after its weight went to 0), so its
        instances can stop without cutting a response short. False if time ran out."""
        deadline = time.monotonic() + timeout
        while self.in_flight(pool) > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Serve in a background thread; returns once both ports are bound."""
        ready: threading.Event = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=run, name="shipyard-router", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            exc = failure[0]
            raise RouterError(
                f"the router cannot listen on {self.host}:{self.port}: {exc}",
                "pick another port, or stop what is listening there",
            ) from exc

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> BuiltinRouter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _open(self) -> None:
        proxy = await asyncio.start_server(
            self._serve_proxy, self.host, self.port, limit=http1.MAX_HEAD
        )
        self.port = proxy.sockets[0].getsockname()[1]
        self._servers.append(proxy)
        if self.admin_port is not None:
            admin = await asyncio.start_server(self._serve_admin, self.host, self.admin_port)
            self.admin_port = admin.sockets[0].getsockname()[1]
            self._servers.append(admin)

    async def _close(self) -> None:
        await self._close_preview_port()
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conns in self._idle.values():
            for _, w in conns:
                w.close()
        self._servers.clear()
        self._idle.clear()

    # -- proxy --------------------------------------------------------------------------------

    async def _serve_proxy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._connection(reader, writer, self._proxy_one)

    async def _serve_preview(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async def previewed(
            head: http1.Head, r: asyncio.StreamReader, w: asyncio.StreamWriter
        ) -> bool:
            preview = self._preview
            return await self._proxy_one(head, r, w, force=preview.pool if preview else NO_POOL)

        await self._connection(reader, writer, previewed)

    async def _connection(self, reader: Any, writer: Any, handle: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                try:
                    head = await http1.read_head(reader)
                    if head is None or not await handle(head, reader, writer):
                        break
                except http1.BadMessage as exc:  # raised before anything was answered
                    reason = _REASONS.get(exc.status, "Bad Request")
                    body = f"{exc}\n".encode()
                    writer.write(http1.simple_response(exc.status, reason, body))
                    break
        except (ConnectionError, asyncio.IncompleteReadError, http1.BadMessage):
            pass  # the client went away, or sent a body we cannot frame: nothing to answer
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _proxy_one(
        self,
        head: http1.Head,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        force: str | None = None,
    ) -> bool:
        """Forward one request (to ``force``'s pool, on the preview port); returns whether
        the client connection stays open."""
        started = time.perf_counter()
        method, target, version = head.start
        head.check_request_framing()  # a BadMessage here answers 400 and closes
        keep = _client_keeps_alive(head)
        table = self._table
        pool: str | None
        if force is not None:
            pool, set_cookie = force, False
        else:
            pool, set_cookie = table.choose(_header_lookup(head), _cookie(head), self._rng)
        backends = table.pools.get(pool, ()) if pool else ()
        if not backends:
            self._reply(writer, 503, "Service Unavailable", b"no pool takes traffic\n", keep)
            self.stats.record(NO_POOL, 503, time.perf_counter() - started)
            return keep and await _discard_body(head, reader)
        assert pool is not None
        turn = next(self._turn.setdefault(pool, itertools.count()))
        # In turn, then the others of the pool for a backend that refuses the connection.
        order = [backends[(turn + i) % len(backends)] for i in range(len(backends))]
        backend = order[0]
        forwarded = [(k, v) for k, v in head.forwarded_headers() if k != b"expect"]
        if b"100-continue" in head.tokens(b"expect"):
            # The body is relayed before the backend answers, so invite it now.
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        peer = writer.get_extra_info("peername")
        if peer:
            forwarded.append((b"x-forwarded-for", str(peer[0]).encode()))
        request = http1.render_head(b"%s %s HTTP/1.1" % (method, target), forwarded)
        has_body = head.chunked or bool(head.length)
        preview = self._preview
        if (
            force is None
            and preview is not None
            and preview.mirror
            and pool != preview.pool
            and method in (b"GET", b"HEAD")
            and not has_body
            and self._mirroring < MAX_MIRRORING
            and self._rng.random() * 100 < preview.mirror
        ):
            self._mirroring += 1
            mirrored = asyncio.ensure_future(self._mirror(preview.pool, request, method))
            self._mirrors.add(mirrored)
            mirrored.add_done_callback(self._mirrors.discard)
        status, sent = 502, False
        conn: _Conn | None = None
        self._in_flight[pool] = self._in_flight.get(pool, 0) + 1
        try:
            resp, conn, backend = await self._exchange(order, request, head, reader, has_body)
            br = conn[0]
            status = int(resp.start[1])
            with_body = http1.response_has_body(method, status)
            headers = resp.forwarded_headers()
            close_delimited = with_body and not resp.chunked and resp.length is None
            if close_delimited:
                keep = False  # the body ends when the backend closes, so the client's must too
            if set_cookie:
                cookie = f"{COOKIE}={pool}; Path=/; HttpOnly; SameSite=Lax"
                headers.append((b"set-cookie", cookie.encode()))
            if not keep:
                headers.append((b"connection", b"close"))
            elif version == b"HTTP/1.0":
                headers.append((b"connection", b"keep-alive"))
            start = b"HTTP/1.1 %s %s" % (resp.start[1], resp.start[2])
            length = resp.length if with_body and not resp.chunked else None
            if length is not None and length <= http1.CHUNK:
                # A small body goes out with its head in one send: one syscall, not two.
                body = await br.readexactly(length)
                writer.write(http1.render_head(start, headers) + body)
                sent = True
            else:
                writer.write(http1.render_head(start, headers))
                sent = True
                if with_body:
                    await http1.relay_body(resp, br, writer, until_eof=close_delimited)
            await writer.drain()
            if _backend_keeps_alive(resp) and not close_delimited:
                self._release(backend, conn)
                conn = None
        except TimeoutError:
            status, keep = 504, False
            if not sent:
                self._reply(writer, 504, "Gateway Timeout", b"backend timed out\n", False)
        except (ConnectionError, asyncio.IncompleteReadError, OSError, http1.BadMessage) as exc:
            keep = False
            if not sent:  # nothing went to the client yet: answer for the backend
                status = 502
                body = f"backend {backend}: {type(exc).__name__}\n".encode()
                self._reply(writer, 502, "Bad Gateway", body, False)
        finally:
            self._in_flight[pool] -= 1
            if conn is not None:
                conn[1].close()
            self.stats.record(pool, status, time.perf_counter() - started)
        return keep

    async def _mirror(self, pool: str, request: bytes, method: bytes) -> None:
        """Send a copy of a request to the previewed pool; its answer is read, counted in the
        pool's metrics and dropped. A copy never delays or fails the original."""
        started, status = time.perf_counter(), 502
        try:
            backends = self._table.pools.get(pool, ())
            if not backends:
                status = 503
                return
            turn = next(self._turn.setdefault(pool, itertools.count()))
            backend = backends[turn % len(backends)]
            conn, _ = await self._acquire(backend)
            try:
                conn[1].write(request)
                await conn[1].drain()
                resp = await asyncio.wait_for(http1.read_head(conn[0]), self.backend_timeout)
                if resp is None:
                    raise ConnectionResetError("backend closed the connection")
                status = int(resp.start[1])
                ends_at_eof = not resp.chunked and resp.length is None
                if http1.response_has_body(method, status):
                    sink: Any = _Sink()
                    await http1.relay_body(resp, conn[0], sink, until_eof=ends_at_eof)
                if _backend_keeps_alive(resp) and not ends_at_eof:
                    self._release(backend, conn)
                else:
                    conn[1].close()
            except BaseException:
                conn[1].close()
                raise
        except TimeoutError:
            status = 504
        except (ConnectionError, asyncio.IncompleteReadError, OSError, http1.BadMessage):
            status = 502
        finally:
            self._mirroring -= 1
            self.stats.record(pool, status, time.perf_counter() - started)

    async def _exchange(
        self,
        order: Sequence[str],
        request: bytes,
        head: http1.Head,
        reader: asyncio.StreamReader,
        has_body: bool,
    ) -> tuple[http1.Head, _Conn, str]:
        """Send the request and read the response head, on a kept-alive connection if any.

        A backend that refuses the connection never saw the request, so the next backend of
        the pool gets it (an instance that just died costs no failed request)."""
        refused: BaseException | None = None
        for backend in order:
            try:
                resp, conn = await self._exchange_one(backend, request, head, reader, has_body)
            except _Unreachable as exc:
                refused = exc.__cause__
                continue
            return resp, conn, backend
        assert refused is not None
        raise refused

    async def _exchange_one(
        self,
        backend: str,
        request: bytes,
        head: http1.Head,
        reader: asyncio.StreamReader,
        has_body: bool,
    ) -> tuple[http1.Head, _Conn]:
        for attempt in (0, 1):
            try:
                conn, reused = await self._acquire(backend)
            except (ConnectionError, OSError) as exc:
                raise _Unreachable() from exc
            try:
                conn[1].write(request)
                if has_body:
                    await http1.relay_body(head, reader, conn[1])
                await conn[1].drain()
                resp = await asyncio.wait_for(http1.read_head(conn[0]), self.backend_timeout)
                while resp is not None and resp.start[1][:1] == b"1" and resp.start[1] != b"101":
                    # An interim response (100 Continue, 103 Early Hints): the final one follows.
                    resp = await asyncio.wait_for(http1.read_head(conn[0]), self.backend_timeout)
                if resp is None:
                    raise ConnectionResetError("backend closed the connection")
                return resp, conn
            except TimeoutError:
                conn[1].close()
                raise
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                conn[1].close()
                # A kept-alive connection the backend closed meanwhile: try a fresh one, which
                # is safe only when no body was consumed from the client.
                if not (reused and not has_body and attempt == 0):
                    raise
        raise AssertionError("unreachable")

    async def _acquire(self, backend: str) -> tuple[_Conn, bool]:
        idle = self._idle.get(backend)
        while idle:
            conn = idle.pop()
            if not conn[0].at_eof() and not conn[1].is_closing():
                return conn, True
            conn[1].close()
        host, _, port = backend.rpartition(":")
        conn = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), limit=http1.MAX_HEAD), self.backend_timeout
        )
        return conn, False

    def _release(self, backend: str, conn: _Conn) -> None:
        table = self._table
        if self._pruned_for is not table:  # backends left the table: close their idle conns
            self._pruned_for = table
            keep = _all_backends(table)
            for gone in [b for b in self._idle if b not in keep]:
                for _, w in self._idle.pop(gone):
                    w.close()
        idle = self._idle.setdefault(backend, [])
        if len(idle) < self.max_idle and backend in _all_backends(table):
            idle.append(conn)
        else:
            conn[1].close()

    @staticmethod
    def _reply(
        writer: asyncio.StreamWriter, status: int, reason: str, body: bytes, keep: bool
    ) -> None:
        data = http1.simple_response(status, reason, body)
        if not keep:
            data = data.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
        writer.write(data)

    # -- admin --------------------------------------------------------------------------------

    async def _serve_admin(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._connection(reader, writer, self._admin_one)

    async def _admin_one(
        self, head: http1.Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        method, target, _ = head.start
        length = head.length or 0
        if length > 1 << 20:
            raise http1.BadMessage("admin request body too large", 413)
        body = await reader.readexactly(length) if length else b""
        path = target.split(b"?", 1)[0].decode(errors="replace")
        if path == "/preview" and method in (b"PUT", b"DELETE"):
            status, payload, ctype = await self._admin_preview(method.decode(), body)
        else:
            status, payload, ctype = self._admin(method.decode(), path, body)
        writer.write(http1.simple_response(status, _REASONS.get(status, "OK"), payload, ctype))
        await writer.drain()
        return _client_keeps_alive(head)

    async def _admin_preview(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        try:
            if method == "DELETE":
                await self._clear_preview()
            else:
                d = _json_body(body, dict)
                port = d.get("port")
                await self._set_preview(
                    str(d.get("pool", "")), None if port is None else port, d.get("mirror", 0)
                )
            return 200, _json(self.routes()), b"application/json"
        except ShipyardError as exc:
            return exc.http_status, _json(exc.to_dict()), b"application/json"

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, bytes, bytes]:
        """One control call: (status, body, content type). Errors answer code/message/hint."""
        try:
            if method == "GET" and path == "/metrics":
                return 200, self.metrics_text().encode(), b"text/plain; version=0.0.4"
            if method == "GET" and path == "/healthz":
                return 200, b"ok\n", b"text/plain"
            if method == "GET" and path == "/info":  # which process this is, to stop it
                info = {"pid": os.getpid(), "port": self.port, "admin_port": self.admin_port}
                return 200, _json(info), b"application/json"
            if method == "GET" and path == "/routes":
                return 200, _json(self.routes()), b"application/json"
            if method == "PUT" and path == "/weights":
                self.set_weights(_json_body(body, dict))
            elif method == "PUT" and path.startswith("/pools/"):
                data = _json_body(body, dict)
                self.set_pool(path.removeprefix("/pools/"), list(data.get("backends", [])))
            elif method == "PUT" and path == "/header-route":
                d = _json_body(body, dict)
                self.set_header_route(
                    str(d.get("header", "")), str(d.get("value", "")), str(d.get("pool", ""))
                )
            elif method == "DELETE" and path == "/header-route":
                self.clear_header_route()
            else:
                err = {
                    "code": "not-found",
                    "message": f"no admin route {method} {path}",
                    "hint": "see /routes",
                }
                return 404, _json(err), b"application/json"
            return 200, _json(self.routes()), b"application/json"
        except ShipyardError as exc:
            return exc.http_status, _json(exc.to_dict()), b"application/json"


class _Unreachable(Exception):
    """A backend refused a new connection: nothing of the request reached it."""


_REASONS = {
    200: "OK",
    400: "Bad Request",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Content",
    500: "Error",
}


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True).encode()


def _json_body(body: bytes, kind: type) -> Any:
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise RouterConfigInvalid(f"request body is not JSON: {exc}") from exc
    if not isinstance(data, kind):
        raise RouterConfigInvalid(f"request body must be a JSON {kind.__name__}")
    return data


def _all_backends(table: RouteTable) -> set[str]:
    return {b for backends in table.pools.values() for b in backends}


def _header_lookup(head: http1.Head) -> Any:
    def get(name: str) -> str | None:
        value = head.get(name.encode())
        return None if value is None else value.decode("latin-1")

    return get


def _cookie(head: http1.Head) -> str | None:
    for k, v in head.headers:
        if k != b"cookie":
            continue
        for part in v.split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == COOKIE.encode():
                return value.decode("latin-1")
    return None


def _client_keeps_alive(head: http1.Head) -> bool:
    tokens = head.tokens(b"connection")
    if head.start[2] == b"HTTP/1.0":
        return b"keep-alive" in tokens
    return b"close" not in tokens


def _backend_keeps_alive(resp: http1.Head) -> bool:
    tokens = resp.tokens(b"connection")
    if resp.start[0] == b"HTTP/1.0":
        return b"keep-alive" in tokens
    return b"close" not in tokens


class _Sink:
    """A writer that drops what it is given: where a body nobody wants is relayed to."""

    transport = type("T", (), {"get_write_buffer_size": staticmethod(lambda: 0)})()

    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass


async def _discard_body(head: http1.Head, reader: asyncio.StreamReader) -> bool:
    """Read and drop an unanswered request's body so the connection can carry the next."""
    if not (head.chunked or head.length):
        return True
    await http1.relay_body(head, reader, _Sink())  # type: ignore[arg-type]
    return True


# -- as a process -----------------------------------------------------------------------------


def _pairs(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (text or "").split(";"):
        if part.strip():
            key, sep, value = part.partition("=")
            if not sep:
                raise RouterConfigInvalid(f"expected name=value, got {part!r}")
            out[key.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Shipyard's built-in router")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--pools", help="'stable=127.0.0.1:8001,127.0.0.1:8002;canary=...'")
    parser.add_argument("--weights", help="'stable=100;canary=0'")
    args = parser.parse_args(argv)
    try:
        table = RouteTable()
        for pool, backends in _pairs(args.pools).items():
            table = table.with_pool(pool, [b for b in backends.split(",") if b])
        weights = _pairs(args.weights)
        if weights:
            table = table.with_weights({k: int(v) for k, v in weights.items()})
        router = BuiltinRouter(table, host=args.host, port=args.port, admin_port=args.admin_port)
        router.start()
    except (ShipyardError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gc.freeze()  # start-up objects leave the collector's view: shorter pauses under load
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # One line a parent can read to learn the ports.
    print(json.dumps({"url": router.url, "admin_url": router.admin_url}), flush=True)
    stop.wait()
    router.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
