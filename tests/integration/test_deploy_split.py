"""A canary's traffic split as visitors see it: at every step, the share of new visitors (no
cookies) answered by the new version matches the step's weight within 3 percentage points,
and the router's own per-pool counters agree with what the visitors saw."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.domain import promtext
from shipyard.errors import ShipyardError
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store import deployments as repo
from shipyard.store.uow import Store
from tests.integration.test_deploy import APP, url_of

WEIGHTS = (10, 50, 80)
PER_STEP = 4000  # at 50%, one standard deviation is 0.8 points: 3 points is 3.8 of them
CLIENTS = 4

SPEC = """
project: shop
environments:
  production:
    target:
      type: process
      command: "python app.py --port {port}"
      instances: 2
      readiness: {timeout: 5s}
      grace: 1s
    strategy:
      canary:
        steps:
          - {weight: 10}
          - {pause: until-promoted}
          - {weight: 50}
          - {pause: until-promoted}
          - {weight: 80}
          - {pause: until-promoted}
          - {weight: 100}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the split is the router's; the database only records the steps (both
    databases record rollouts in tests/integration/test_deploy.py)."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def spec(store: Store) -> Iterator[Any]:
    spec = parse_spec(SPEC)
    yield spec
    env_svc.stop_environment(store, spec, "production")


def _visit(url: str, count: int, seen: Counter[str], lock: threading.Lock) -> None:
    """``count`` requests, each as a new visitor: the router's sticky cookie is never sent."""
    mine = Counter[str]()
    with httpx.Client(timeout=5) as client:
        for _ in range(count):
            client.cookies.clear()
            resp = client.get(url + "/")
            mine[resp.text if resp.status_code == 200 else f"status {resp.status_code}"] += 1
    with lock:
        seen.update(mine)


def _by_pool(admin_url: str) -> dict[str, float]:
    text = httpx.get(admin_url + "/metrics", timeout=5).text
    samples = promtext.select(promtext.parse(text), "shipyard_router_requests_total")
    out: dict[str, float] = {}
    for s in samples:
        labels = dict(s.labels)
        out[labels["pool"]] = out.get(labels["pool"], 0.0) + s.value
    return out


def _canary_pool(store: Store) -> str:
    with store.read() as uow:
        active = repo.get_environment(uow.conn, "shop", "production")["active_deployment"]
        return str(repo.get_deployment(uow.conn, active)["plan"]["pools"]["canary"])


def _wait_paused_at(
    store: Store, spec: Any, weight: int, admin_url: str, old: str
) -> dict[str, int]:
    for _ in range(600):
        status = svc.rollout_status(store, spec, "production")
        if status["id"] == old:  # the new deployment is not recorded yet
            threading.Event().wait(0.05)
            continue
        if status["phase"] == "Paused" and status["weights"]["canary"] == weight:
            routes = httpx.get(admin_url + "/routes", timeout=5).json()
            if sorted(routes["weights"].values()) == sorted((weight, 100 - weight)):
                return dict(routes["weights"])
        assert status["status"] == "running", status
        threading.Event().wait(0.05)
    raise AssertionError(f"the canary never paused at {weight}%")


def test_canary_split_matches_each_step_weight(store: Store, root: Path, spec: Any) -> None:
    """10%, 50% and 80% canary steps each send that share of 4,000 new visitors to 1.1.0."""
    first = svc.deploy(store, spec, root, "production", version="1.0.0")
    assert first["status"] == "succeeded"
    with store.read() as uow:
        router = repo.get_environment(uow.conn, "shop", "production")["router"]
    admin_url = f"http://127.0.0.1:{router['admin_port']}"
    url = url_of(store, spec, "production")
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(svc.deploy(store, spec, root, "production", version="1.1.0")),
        daemon=True,
    )
    thread.start()
    observed: dict[int, float] = {}
    try:
        for weight in WEIGHTS:
            weights = _wait_paused_at(store, spec, weight, admin_url, first["id"])
            canary_pool = _canary_pool(store)
            assert weights[canary_pool] == weight
            before = _by_pool(admin_url)
            seen: Counter[str] = Counter()
            lock = threading.Lock()
            visitors = [
                threading.Thread(target=_visit, args=(url, PER_STEP // CLIENTS, seen, lock))
                for _ in range(CLIENTS)
            ]
            for v in visitors:
                v.start()
            for v in visitors:
                v.join()
            after = _by_pool(admin_url)
            assert set(seen) <= {"checkout 1.0.0", "checkout 1.1.0"}, seen  # nothing failed
            assert sum(seen.values()) == PER_STEP
            share = 100 * seen["checkout 1.1.0"] / PER_STEP
            observed[weight] = share
            assert abs(share - weight) <= 3, (weight, share, seen)
            delta = {p: after.get(p, 0.0) - before.get(p, 0.0) for p in weights}
            assert sum(delta.values()) == PER_STEP
            assert delta[canary_pool] == seen["checkout 1.1.0"]  # the router counted the same
            svc.act(store, spec, "production", "promote", "alice")
    finally:
        if thread.is_alive():  # a failed assertion: roll the canary back before cleanup
            with contextlib.suppress(ShipyardError):
                svc.act(store, spec, "production", "abort", "alice")
        thread.join(60)
    assert result["status"] == "succeeded", (result, observed)
