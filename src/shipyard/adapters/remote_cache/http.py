"""A client of Bazel's HTTP remote-cache protocol: ``GET``/``PUT`` of ``<url>/ac/<hex>`` and
``<url>/cas/<hex>``, a ``404`` being a miss.

Standard library only (``http.client``): `shipyard run` imports it, and each request costs a
fraction of what a general HTTP client's does. One keep-alive connection per thread; a
connection the server closed between requests is opened again once.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
from urllib.parse import unquote, urlsplit

from shipyard.errors import InputError, ShipyardError

CONNECT_TIMEOUT_S = 3.0


class RemoteCacheError(ShipyardError):
    """The remote cache could not be used; ``code`` says why."""

    code = "remote-cache-unreachable"
    exit_status = 1


def parse_url(url: str) -> tuple[str, str, int, str, str | None]:
    """(scheme, host, port, path prefix, basic-auth password) of a cache URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"{url!r} is not a remote cache URL",
            "write it as Bazel takes it: http://HOST:PORT/cache",
            code="remote-cache-url-invalid",
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(
            f"{url!r} has an invalid port",
            "write http://HOST:PORT/cache",
            code="remote-cache-url-invalid",
        ) from exc
    password = unquote(parts.password) if parts.password else None
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/"), password


class HttpCache:
    """``get`` and ``put`` of one entry; raises ``RemoteCacheError`` when the cache cannot
    answer (``remote-cache-unreachable``) or refuses the token (``remote-cache-unauthorized``,
    ``remote-cache-forbidden``)."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 10.0) -> None:
        self.url = url
        self.scheme, self.host, self.port, self.prefix, password = parse_url(url)
        self.timeout = timeout
        self.headers = {"Connection": "keep-alive"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif password:
            user = unquote(urlsplit(url).username or "")
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {pair}"
        self._local = threading.local()

    @property
    def where(self) -> str:
        """The URL without credentials, for messages."""
        return f"{self.scheme}://{self.host}:{self.port}{self.prefix}"

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self.host, self.port, timeout=CONNECT_TIMEOUT_S)
            self._local.conn = conn
        return conn

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for again in (True, False):
            conn = self._conn()
            try:
                if not conn.sock:
                    conn.connect()
                    conn.sock.settimeout(self.timeout)
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.request(method, f"{self.prefix}{path}", body=body, headers=self.headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                if not again:
                    raise self._unreachable(exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise self._unreachable(exc) from exc
        raise AssertionError("unreachable")

    def _unreachable(self, exc: BaseException) -> RemoteCacheError:
        reason = str(exc) or type(exc).__name__
        return RemoteCacheError(
            f"the remote cache at {self.where} did not answer: {reason}",
            "check the URL and that the server runs; the build goes on with the local cache",
            code="remote-cache-unreachable",
        )

    def _refused(self, status: int, body: bytes, writing: bool) -> RemoteCacheError:
        if status == 401:
            return RemoteCacheError(
                f"the remote cache at {self.where} refused the token (401)",
                "set SHIPYARD_TOKEN to a valid token of that server",
                code="remote-cache-unauthorized",
            )
        if status == 403:
            return RemoteCacheError(
                f"the token may not {'write to' if writing else 'read'} the remote cache at "
                f"{self.where} (403)",
                "writing needs a developer token; reading a viewer token",
                code="remote-cache-forbidden",
            )
        text = body[:200].decode(errors="replace")
        return RemoteCacheError(
            f"the remote cache at {self.where} answered {status}: {text}",
            "see the server's log",
            code="remote-cache-unreachable" if status >= 500 else "remote-cache-refused",
        )

    def get(self, kind: str, key: str) -> bytes | None:
        status, data = self._request("GET", f"/{kind}/{key}")
        if status == 200:
            return data
        if status == 404:
            return None
        raise self._refused(status, data, writing=False)

    def put(self, kind: str, key: str, data: bytes) -> None:
        status, body = self._request("PUT", f"/{kind}/{key}", data)
        if status not in (200, 201, 204):
            raise self._refused(status, body, writing=True)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
