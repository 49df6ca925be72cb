"""Metrics adapters against real servers: the built-in router's /metrics, and a real
Prometheus (Debian's package) scraping that router."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.adapters.metrics.base import MetricsUnavailable, summarize
from shipyard.adapters.metrics.builtin import BuiltinMetrics
from shipyard.adapters.metrics.prometheus import PrometheusMetrics, PrometheusQueryFailed
from shipyard.adapters.routers.builtin import BuiltinRouter
from shipyard.adapters.targets.process import free_port
from tests.integration.routing import Backends, backends, spread

__all__ = ["backends"]


@pytest.fixture(scope="module")
def router(backends: Backends) -> Iterator[BuiltinRouter]:
    """A router that has served 30 good stable requests and 20 failing 'bad' ones."""
    r = BuiltinRouter()
    r.set_pool("stable", backends.addresses("stable"))
    r.set_pool("bad", backends.addresses("bad"))
    r.set_weights({"stable": 100, "bad": 0})
    r.set_header_route("x-ring", "internal", "bad")
    with r:
        spread(r.url + "/", 30)
        spread(r.url + "/", 20, {"x-ring": "internal"})
        yield r


@pytest.fixture(scope="module")
def prometheus(router: BuiltinRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus scraping the router's admin port every second."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed; .ci/run installs Debian's package"
    home = tmp_path_factory.mktemp("prometheus")
    (home / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: router\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{router.admin_port}']}}]\n"
    )
    port = free_port()
    log = open(home / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ok(url + "/-/ready"), "Prometheus never became ready", home)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _until(check: object, message: str, home: Path | None = None) -> None:
    """Wait for a condition that depends on another process (not a timing assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    tail = (home / "prometheus.log").read_text()[-2000:] if home else ""
    pytest.fail(f"{message}\n{tail}")


def test_builtin_metrics_give_windows_per_pool(router: BuiltinRouter) -> None:
    """The router's own /metrics read as windows: counts per pool and latency quantiles."""
    windows = BuiltinMetrics(router.admin_url + "/metrics").windows(["stable", "bad", "gone"])
    assert (windows["stable"].requests, windows["stable"].errors) == (30, 0)
    assert (windows["bad"].requests, windows["bad"].errors) == (20, 20)
    assert windows["gone"].requests == 0 and windows["gone"].quantile(0.5) is None
    summary = summarize(windows["bad"])
    assert summary["error_rate"] == 1.0
    assert summary["p50_ms"] == "inf"  # answering only errors is slower than any answer
    summary = summarize(windows["stable"])
    assert summary["p50_ms"] is not None and summary["p50_ms"] <= summary["p99_ms"]  # type: ignore[operator]


def test_prometheus_windows_match_the_router(router: BuiltinRouter, prometheus: str) -> None:
    """Windows read through a real Prometheus equal those read from the router itself."""
    direct = BuiltinMetrics(router.admin_url + "/metrics").windows(["stable", "bad"])
    source = PrometheusMetrics(prometheus, selector={"job": "router"})
    _until(
        lambda: source.windows(["stable", "bad"]) == direct,
        "Prometheus never reported the router's counts",
    )
    through = source.windows(["stable", "bad"])
    assert through["bad"].error_rate == 1.0
    assert through["stable"].latency_buckets == direct["stable"].latency_buckets


def test_prometheus_query_errors_are_coded(prometheus: str) -> None:
    """A query Prometheus rejects, or one returning a range, raises prometheus-query-failed."""
    source = PrometheusMetrics(prometheus)
    with pytest.raises(PrometheusQueryFailed) as info:
        source.query("sum by (pool (x)")
    assert info.value.code == "prometheus-query-failed" and "bad_data" in info.value.message
    with pytest.raises(PrometheusQueryFailed) as info:
        source.query("shipyard_router_errors_total[1m]")
    assert "not an instant vector" in info.value.message and "increase()" in info.value.hint
    assert source.query("1 + 1") == [({}, 2.0)]


def test_prometheus_unreachable_and_bad_selector_are_errors() -> None:
    """No server answers metrics-unavailable; a selector that cannot be quoted is refused."""
    with pytest.raises(MetricsUnavailable):
        PrometheusMetrics(f"http://127.0.0.1:{free_port()}").windows(["stable"])
    with pytest.raises(PrometheusQueryFailed):
        PrometheusMetrics("http://127.0.0.1:1", selector={"job": 'x"} or vector(1)'})
