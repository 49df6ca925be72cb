"""A rings rollout on real processes: a header ring, a weighted ring, then everyone."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.errors import ShipyardError
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import deploy_plan as dp
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store import deployments as repo
from shipyard.store.uow import Store
from tests.integration.test_deploy import APP, SPEC, Load, events, url_of

RINGS = (
    "{rings: {waves: ["
    "{name: staff, header: 'x-ring: staff', pause: until-promoted}, "
    "{name: early, weight: 30, pause: until-promoted}, "
    "{name: everyone, weight: 100}]}}"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


def sample(url: str, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    """``n`` requests, each a new visitor (no cookie), counted by the version answering."""
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=5, headers=headers) as client:
        for _ in range(n):
            client.cookies.clear()
            resp = client.get(url + "/")
            seen[resp.text if resp.status_code == 200 else str(resp.status_code)] += 1
    return seen


def routes(store: Store) -> dict[str, Any]:
    """The router's table as it serves now (the controller records a step, then applies it)."""
    with store.read() as uow:
        router = repo.get_environment(uow.conn, "shop", "dev")["router"]
    return httpx.get(f"http://127.0.0.1:{router['admin_port']}/routes", timeout=5).json()


def wait_routes(store: Store, check: Any) -> None:
    for _ in range(600):
        if check(routes(store)):
            return
        threading.Event().wait(0.05)
    pytest.fail(f"the router never reached the recorded step: {routes(store)}")


def wait_paused(store: Store, spec: Any, words: str) -> dict[str, Any]:
    for _ in range(600):
        status = svc.rollout_status(store, spec, "dev")
        if status["phase"] == "Paused" and words in status["step"]:
            return status
        if status["version"] == "1.1.0" and status["status"] != "running":
            break
        threading.Event().wait(0.05)
    pytest.fail(f"the rollout never paused at {words!r}: {status}")


def test_rings_widen_from_header_to_weight_to_everyone(store: Store, root: Path) -> None:
    """Ring 0 reaches only requests with the header, ring 1 its weight, ring 2 everyone."""
    spec = parse_spec(SPEC.format(dev_strategy=RINGS, fail_rate=0, migrate="null"))
    v1, v2 = "checkout 1.0.0", "checkout 1.1.0"
    staff = {"x-ring": "staff"}
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(svc.deploy(store, spec, root, "dev", version="1.1.0"))
    )
    try:
        assert svc.deploy(store, spec, root, "dev", version="1.0.0")["status"] == "succeeded"
        url = url_of(store, spec, "dev")
        with Load(url) as load:
            thread.start()
            status = wait_paused(store, spec, "staff: pause until promoted")
            assert status["weights"] == {"stable": 100, "canary": 0}
            wait_routes(store, lambda t: t["header_route"] is not None)
            assert sample(url, 60, staff) == {v2: 60}
            assert sample(url, 60) == {v1: 60}

            svc.act(store, spec, "dev", "promote", "alice")
            status = wait_paused(store, spec, "early: pause until promoted")
            assert status["weights"] == {"stable": 70, "canary": 30}
            wait_routes(store, lambda t: 30 in t["weights"].values())
            assert sample(url, 60, staff) == {v2: 60}  # the header ring keeps the new version
            split = sample(url, 600)
            assert set(split) == {v1, v2}
            assert abs(split[v2] / 600 - 0.30) < 0.07, split

            svc.act(store, spec, "dev", "promote", "alice")
            thread.join(60)
        assert result["status"] == "succeeded"
        assert set(load.counts) == {200}  # no request failed while the rings widened
        assert sample(url, 30) == {v2: 30} and sample(url, 30, staff) == {v2: 30}
        commands = [
            c["kind"]
            for e in events(store, "rollout.stepped")
            for c in e.payload["commands"]
            if "route" in c["kind"]
        ]
        assert commands == ["set-header-route", "clear-header-route"]
    finally:
        if thread.is_alive():
            with contextlib.suppress(ShipyardError):
                svc.act(store, spec, "dev", "abort", "test")
            thread.join(60)
        for env in spec.environments:
            env_svc.stop_environment(store, spec, env)


def test_ring_with_a_header_and_a_weight_is_refused(root: Path) -> None:
    """A wave is reached by a header or by a weight, never both."""
    bad = RINGS.replace("header: 'x-ring: staff'", "header: 'x-ring: staff', weight: 5")
    spec = parse_spec(SPEC.format(dev_strategy=bad, fail_rate=0, migrate="null"))
    with pytest.raises(ShipyardError) as err:
        dp.strategy_of(spec, "dev")
    assert "exactly one of header or weight" in err.value.message
