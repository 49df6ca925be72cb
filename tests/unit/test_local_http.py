"""Local HTTP calls in the controller's and the supervisor's 0.2 s loops share one TLS context:
httpx would otherwise load the trusted certificates for every probe, tens of milliseconds of
CPU each, several times per loop."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard.adapters import local_http
from shipyard.adapters.metrics.builtin import BuiltinMetrics


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'shipyard_router_requests_total{pool="stable",code="200"} 3\n'
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probes_and_scrapes_make_no_new_tls_context(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_http.tls()  # made once per process
    made: list[object] = []
    real = ssl.create_default_context

    def counted(*args: object, **kwargs: object) -> ssl.SSLContext:
        made.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    metrics = BuiltinMetrics(url + "/metrics")
    for _ in range(5):
        assert local_http.get(url + "/healthz", timeout=1.0).status_code == 200
        assert local_http.request("PUT", url + "/weights", json={}, timeout=1.0) is not None
        with local_http.client(timeout=1.0) as client:
            assert client.get(url + "/healthz").status_code == 200
        assert metrics.scrape()
    assert made == []
