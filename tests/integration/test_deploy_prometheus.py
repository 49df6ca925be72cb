"""Canary analysis read from a real Prometheus server scraping the environment's router."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.adapters.targets.process import free_port
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store import deployments as repo
from shipyard.store.uow import Store
from tests.integration.test_deploy import APP, Load, url_of
from tests.integration.test_metrics_adapters import _until

SPEC = """
project: shop
config: {{FAIL_RATE: 0}}
environments:
  dev:
    target:
      type: process
      command: "python app.py --port {{port}}"
      instances: 2
      readiness: {{timeout: 5s}}
      grace: 1s
    config: {{FAIL_RATE: {fail_rate}}}
    strategy:
      canary:
        steps: [{{weight: 50}}, {{analysis: errors, duration: 8s}}, {{weight: 100}}]
analysis:
  errors:
    provider: prometheus
    address: "{address}"
    metric: error_rate
    max_increase: 0.05
    min_samples: 20
    interval: 1s
"""


def spec_of(address: str, fail_rate: float = 0.0) -> Any:
    return parse_spec(SPEC.format(address=address, fail_rate=fail_rate))


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what is under test is the analysis Prometheus answers; the database only records
    the steps (both databases record rollouts in tests/integration/test_deploy.py)."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


def start_prometheus(home: Path, admin_port: int) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed; .ci/run installs Debian's package"
    (home / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: router\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{admin_port}']}}]\n"
    )
    port = free_port()
    with open(home / "prometheus.log", "wb") as log:
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
    return proc, f"http://127.0.0.1:{port}"


def scraped(url: str) -> bool:
    try:
        body = httpx.get(url + "/api/v1/query", params={"query": "up"}, timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    return any(r["value"][1] == "1" for r in body.get("data", {}).get("result", []))


def last_scrape(url: str) -> float:
    """When Prometheus last scraped the router (the start of that scrape, Unix seconds)."""
    try:
        query = {"query": "timestamp(up)"}
        body = httpx.get(url + "/api/v1/query", params=query, timeout=2).json()
        return float(body["data"]["result"][0]["value"][1])
    except (httpx.HTTPError, ValueError, LookupError):
        return 0.0


@pytest.fixture
def prometheus(store: Store, root: Path) -> Iterator[tuple[str, Any]]:
    """dev running 1.0.0, and a Prometheus scraping dev's router every second."""
    spec = spec_of("http://127.0.0.1:9")  # a first deploy runs no analysis
    home = root / "prometheus"
    home.mkdir()
    proc = None
    try:
        assert svc.deploy(store, spec, root, "dev", version="1.0.0")["status"] == "succeeded"
        with store.read() as uow:
            row = repo.get_environment(uow.conn, "shop", "dev")
        assert row is not None
        proc, url = start_prometheus(home, int(row["router"]["admin_port"]))
        _until(lambda: scraped(url), "Prometheus never scraped the router", home)
        yield url, spec
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        env_svc.stop_environment(store, spec, "dev")


def test_prometheus_analysis_rolls_back_a_bad_canary_and_promotes_a_good_one(
    store: Store, root: Path, prometheus: tuple[str, Any]
) -> None:
    """Measured through Prometheus: 50% errors roll back, a healthy canary is promoted."""
    url, spec = prometheus
    with Load(url_of(store, spec, "dev")):
        bad = svc.deploy(store, spec_of(url, 0.5), root, "dev", version="1.1.0")
    assert bad["status"] == "rolled-back" and "error rate" in bad["reason"]
    assert bad["measurements"]["analysis"] == "errors"
    assert bad["measurements"]["canary"]["error_rate"] > 0.05
    assert httpx.get(url_of(store, spec, "dev") + "/", timeout=5).text == "checkout 1.0.0"
    # The next canary reuses the pool the bad one ran in: let Prometheus scrape the router once
    # more, so the bad canary's last errors are in its data before the next window opens.
    since = time.time()
    _until(lambda: last_scrape(url) > since, "Prometheus stopped scraping the router")

    with Load(url_of(store, spec, "dev")) as load:
        good = svc.deploy(store, spec_of(url), root, "dev", version="1.2.0")
    assert good["status"] == "succeeded", good["reason"]
    status = svc.rollout_status(store, spec, "dev")
    assert status["analysis"]["phase"] == "Successful"
    assert status["analysis"]["details"]["canary"]["requests"] >= 20
    assert set(load.counts) == {200}
