"""The built-in router as a real server on 127.0.0.1 in front of real sample-app processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.adapters.metrics.base import MetricsUnavailable
from shipyard.adapters.metrics.builtin import BuiltinMetrics
from shipyard.adapters.routers.base import COOKIE, Router, RouterConfigInvalid, WeightsInvalid
from shipyard.adapters.routers.builtin import BuiltinRouter
from shipyard.adapters.targets.process import ProcessTarget, free_port
from tests.integration.routing import BODY, SAMPLE_APP, Backends, Load, backends, spread

__all__ = ["backends"]


@pytest.fixture
def router(backends: Backends) -> Iterator[BuiltinRouter]:
    r = BuiltinRouter(seed=7)
    for pool in ("stable", "canary", "bad", "echo"):
        r.set_pool(pool, backends.addresses(pool))
    r.set_weights({"stable": 100, "canary": 0})
    r.start()
    yield r
    r.stop()


def test_weight_100_sends_everything_to_stable(router: BuiltinRouter) -> None:
    """With stable at 100 every request reaches a stable backend."""
    assert isinstance(router, Router)
    assert spread(router.url + "/", 100) == {BODY["stable"]: 100}


def test_http10_client_gets_an_answer_and_a_close(router: BuiltinRouter) -> None:
    """An HTTP/1.0 request without keep-alive is answered and its connection closed."""
    reply = _raw(router.port, b"GET / HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(BODY["stable"].encode())
    assert b"connection: close" in reply.lower()


def test_weight_0_stable_sends_everything_to_canary(router: BuiltinRouter) -> None:
    """With canary at 100 every request reaches the canary backend."""
    router.set_weights({"stable": 0, "canary": 100})
    assert spread(router.url + "/", 100) == {BODY["canary"]: 100}


def test_twenty_percent_split_within_binomial_bound(router: BuiltinRouter) -> None:
    """A 20% canary weight sends 20% of 1000 fresh clients there, within five sigmas."""
    router.set_weights({"stable": 80, "canary": 20})
    seen = spread(router.url + "/", 1000)
    assert seen[BODY["stable"]] + seen[BODY["canary"]] == 1000
    assert 137 <= seen[BODY["canary"]] <= 263  # 200 +- 5 * sqrt(1000 * 0.2 * 0.8)


def test_cookie_keeps_a_client_on_its_pool(router: BuiltinRouter) -> None:
    """A client that got a pool cookie stays on that pool for every later request."""
    router.set_weights({"stable": 50, "canary": 50})
    with httpx.Client() as client:
        first = client.get(router.url + "/")
        pool = first.cookies[COOKIE]
        assert first.text == BODY[pool]
        assert {client.get(router.url + "/").text for _ in range(50)} == {BODY[pool]}


def test_cookie_for_a_pool_without_traffic_is_ignored(router: BuiltinRouter) -> None:
    """A sticky cookie naming a pool whose weight went to 0 no longer routes there."""
    seen = {httpx.get(router.url + "/", cookies={COOKIE: "canary"}).text for _ in range(20)}
    assert seen == {BODY["stable"]}


def test_header_route_sends_ring_zero_to_canary(router: BuiltinRouter) -> None:
    """Requests carrying x-ring: internal reach the canary even at weight 0; others do not."""
    router.set_header_route("x-ring", "internal", "canary")
    assert spread(router.url + "/", 30, {"x-ring": "internal"}) == {BODY["canary"]: 30}
    assert spread(router.url + "/", 30, {"x-ring": "external"}) == {BODY["stable"]: 30}
    router.clear_header_route()
    assert spread(router.url + "/", 30, {"x-ring": "internal"}) == {BODY["stable"]: 30}


def test_metrics_count_requests_errors_and_latency_per_pool(router: BuiltinRouter) -> None:
    """/metrics counts each pool's requests, 5xx and latency histogram apart."""
    router.set_header_route("x-ring", "internal", "bad")
    spread(router.url + "/", 40)
    assert spread(router.url + "/", 25, {"x-ring": "internal"}) == {"error": 25}
    windows = BuiltinMetrics(router.admin_url + "/metrics").windows(["stable", "bad", "canary"])
    assert (windows["stable"].requests, windows["stable"].errors) == (40, 0)
    assert (windows["bad"].requests, windows["bad"].errors) == (25, 25)
    assert (windows["canary"].requests, windows["canary"].errors) == (0, 0)
    assert windows["stable"].latency_count == 40
    p99 = windows["stable"].quantile(0.99)
    assert p99 is not None and p99 > 0


def test_weight_changes_drop_no_request(router: BuiltinRouter, backends: Backends) -> None:
    """Under load from keep-alive clients, 20 weight changes and pool swaps fail no request."""
    with Load(router.url + "/", clients=3) as load:
        for i in range(20):
            router.set_weights({"stable": 100 - 5 * i, "canary": 5 * i})
            if i % 5 == 0:  # replace the stable pool's backend list too, as a rollout does
                router.set_pool("stable", list(reversed(backends.addresses("stable"))))
            load.wait_for(25)
    assert load.failures == []
    assert load.bodies[BODY["stable"]] > 0 and load.bodies[BODY["canary"]] > 0


def test_blue_green_switch_with_drain_fails_no_request(tmp_path: Path) -> None:
    """Under load, switching all traffic to a new pool, draining the old one and stopping its
    instances fails no request, and afterwards only the new version answers."""
    target = ProcessTarget(f"{sys.executable} {SAMPLE_APP} --port {{port}}", tmp_path, grace=5)
    try:
        target.deploy("blue", "v1", 2)
        target.wait_ready("blue")
        with BuiltinRouter() as r:
            r.set_pool("blue", [i.address or "" for i in target.instances("blue")])
            r.set_weights({"blue": 100})
            with Load(r.url + "/", clients=3) as load:
                load.wait_for(50)
                target.deploy("green", "v2", 2)
                target.wait_ready("green")
                r.set_pool("green", [i.address or "" for i in target.instances("green")])
                r.set_weights({"blue": 0, "green": 100})
                assert r.drain("blue")
                target.stop("blue")
                load.wait_for(100)
                before = load.bodies["checkout v2"]
                load.wait_for(50)
            assert load.failures == []
            assert load.bodies["checkout v2"] > before and load.bodies["checkout v1"] > 0
            assert 'shipyard_router_in_flight{pool="blue"} 0' in r.metrics_text()
    finally:
        target.close()


def test_admin_endpoint_changes_weights(router: BuiltinRouter) -> None:
    """PUT /weights on the admin port takes effect on the next request."""
    resp = httpx.put(router.admin_url + "/weights", json={"stable": 0, "canary": 100})
    assert resp.status_code == 200 and resp.json()["weights"] == {"stable": 0, "canary": 100}
    assert spread(router.url + "/", 20) == {BODY["canary"]: 20}


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/weights", {"stable": 50, "canary": 40}, "weights-invalid"),
        ("/weights", {"stable": 50, "nope": 50}, "weights-invalid"),
        ("/weights", {"stable": 100.0}, "weights-invalid"),
        ("/pools/Bad Name", {"backends": []}, "router-config-invalid"),
        ("/pools/x", {"backends": ["no-port"]}, "router-config-invalid"),
        (
            "/header-route",
            {"header": "x-ring", "value": "a", "pool": "nope"},
            "router-config-invalid",
        ),
    ],
)
def test_admin_rejects_bad_control_calls(
    router: BuiltinRouter, path: str, body: dict[str, object], code: str
) -> None:
    """A bad control call answers 422 with a code and a hint, and changes nothing."""
    before = router.table()
    resp = httpx.put(router.admin_url + path, json=body)
    assert resp.status_code == 422
    assert resp.json()["code"] == code and resp.json()["hint"]
    assert router.table() == before


def test_admin_rejects_non_json_and_unknown_routes(router: BuiltinRouter) -> None:
    """A body that is not JSON answers 422; an unknown admin path answers 404."""
    resp = httpx.put(router.admin_url + "/weights", content=b"stable=100")
    assert resp.status_code == 422 and resp.json()["code"] == "router-config-invalid"
    assert httpx.get(router.admin_url + "/nope").status_code == 404


def test_in_process_control_raises_coded_errors(router: BuiltinRouter) -> None:
    """In-process calls raise the same coded errors as the admin endpoint."""
    with pytest.raises(WeightsInvalid) as info:
        router.set_weights({"stable": 30, "canary": 30})
    assert info.value.code == "weights-invalid"
    with pytest.raises(RouterConfigInvalid):
        router.set_header_route("bad header", "x", "canary")


def test_dead_backend_answers_502_counted_as_error(router: BuiltinRouter) -> None:
    """A backend that refuses connections gives 502, counted as a 5xx of its pool."""
    router.set_pool("dead", [f"127.0.0.1:{free_port()}"])
    router.set_weights({"stable": 0, "canary": 0, "dead": 100})
    assert httpx.get(router.url + "/").status_code == 502
    window = BuiltinMetrics(router.admin_url + "/metrics").windows(["dead"])["dead"]
    assert (window.requests, window.errors) == (1, 1)


def test_a_refused_connection_goes_to_the_next_backend(
    router: BuiltinRouter, backends: Backends
) -> None:
    """A backend that refuses connections (an instance that just died) costs no failed
    request: the next backend of its pool answers, and an emptied pool's share goes to the
    pools that still have backends."""
    router.set_pool("mixed", [f"127.0.0.1:{free_port()}", *backends.addresses("stable")])
    router.set_weights({"mixed": 100})
    with httpx.Client() as client:
        assert {client.get(router.url + "/").status_code for _ in range(20)} == {200}
    router.set_weights({"mixed": 50, "canary": 50})
    router.set_pool("canary", [])
    with httpx.Client() as client:
        assert {client.get(router.url + "/").text for _ in range(20)} == {"checkout v1"}
    router.set_pool("canary", backends.addresses("canary"))


def test_a_preview_has_its_own_port_and_gets_a_copy_of_live_requests(router: BuiltinRouter) -> None:
    """A preview of the canary pool serves it alone on a port of its own, and a copy of half
    the requests the live pool answers goes to it, counted in its metrics and never seen by
    clients; closing the preview closes its port."""
    metrics = BuiltinMetrics(router.admin_url + "/metrics")
    before = metrics.windows(["canary"])["canary"].requests
    port = router.set_preview("canary", 0, 50)
    assert port and router.routes()["preview"] == {"pool": "canary", "mirror": 50, "port": port}
    assert spread(f"http://127.0.0.1:{port}/", 20) == {BODY["canary"]: 20}
    assert spread(router.url + "/", 200) == {BODY["stable"]: 200}
    deadline = time.monotonic() + 10
    while router._mirroring and time.monotonic() < deadline:  # copies still in flight
        time.sleep(0.01)
    copied = metrics.windows(["canary"])["canary"].requests - before - 20
    assert 60 <= copied <= 140, copied  # about half of 200, seeded
    router.clear_preview()
    assert router.routes()["preview"] is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")


def test_no_pool_with_traffic_answers_503(backends: Backends) -> None:
    """A router with no weights yet answers 503 rather than guessing a pool."""
    with BuiltinRouter() as r:
        r.set_pool("stable", backends.addresses("stable"))
        assert httpx.get(r.url + "/").status_code == 503


def test_request_bodies_and_chunked_responses_are_relayed(router: BuiltinRouter) -> None:
    """Content-Length and chunked request bodies and a chunked response pass through intact."""
    router.set_weights({"stable": 0, "canary": 0, "echo": 100})
    with httpx.Client() as client:
        for _ in range(3):  # the backend keeps its connection alive, so it gets reused
            assert (
                client.post(router.url + "/e", content=b"x" * 100_000).text
                == "echo " + "x" * 100_000
            )
            chunks = iter([b"one-", b"two"])
            assert client.post(router.url + "/e", content=chunks).text == "echo one-two"
            assert client.get(router.url + "/chunked").text == "alpha-beta-gamma"


def test_malformed_request_gets_400(router: BuiltinRouter) -> None:
    """A request line that is not HTTP gets a 400 and the connection closes."""
    with socket.create_connection(("127.0.0.1", router.port)) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")


def _raw(port: int, data: bytes) -> bytes:
    """Send raw bytes and read until the router closes or a full response arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
            if b"\r\n\r\n" in out and out.split(b"\r\n", 1)[0].split()[1] != b"100":
                head, _, body = out.partition(b"\r\n\r\n")
                if b"content-length: " in head.lower():
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    if len(body) >= length:
                        return out
        return out


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ],
)
def test_ambiguous_request_framing_gets_400(router: BuiltinRouter, request_bytes: bytes) -> None:
    """Framings a backend could read differently (request smuggling) are refused with 400."""
    router.set_weights({"stable": 0, "canary": 0, "echo": 100})
    assert _raw(router.port, request_bytes).startswith(b"HTTP/1.1 400")


def test_expect_continue_is_answered_and_the_body_relayed(router: BuiltinRouter) -> None:
    """A client sending Expect: 100-continue gets 100 Continue, then the backend's answer."""
    router.set_weights({"stable": 0, "canary": 0, "echo": 100})
    with socket.create_connection(("127.0.0.1", router.port), timeout=10) as s:
        s.sendall(
            b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        reply = b""
        while not reply.endswith(b"echo hello"):
            chunk = s.recv(65536)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")


def test_router_runs_as_a_process_controlled_over_http(backends: Backends) -> None:
    """`python -m ...routers.builtin` serves, takes weight changes on its admin port and
    exits cleanly on SIGTERM."""
    stable = ",".join(backends.addresses("stable"))
    canary = ",".join(backends.addresses("canary"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipyard.adapters.routers.builtin",
            "--pools",
            f"stable={stable};canary={canary}",
            "--weights",
            "stable=100;canary=0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        assert spread(urls["url"] + "/", 10) == {BODY["stable"]: 10}
        httpx.put(urls["admin_url"] + "/weights", json={"stable": 0, "canary": 100})
        assert spread(urls["url"] + "/", 10) == {BODY["canary"]: 10}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_router_process_rejects_bad_weights_at_start() -> None:
    """Weights that do not add up stop the router process with exit status 2 and a message."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.adapters.routers.builtin",
            "--pools",
            "stable=127.0.0.1:1",
            "--weights",
            "stable=50",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "add up to 50" in proc.stderr


def test_metrics_unreachable_raises_coded_error() -> None:
    """Scraping a port where nothing listens raises metrics-unavailable."""
    with pytest.raises(MetricsUnavailable) as info:
        BuiltinMetrics(f"http://127.0.0.1:{free_port()}/metrics").windows(["stable"])
    assert info.value.code == "metrics-unavailable"
