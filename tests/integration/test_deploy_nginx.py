"""Rollouts behind a real nginx (`router: nginx`): weights by reload, no failed request."""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store import deployments as repo
from shipyard.store.uow import Store
from tests.integration.routing import Load
from tests.integration.test_deploy import APP, url_of
from tests.integration.test_deploy_rings import sample

SPEC = """
project: shop
config: {{FAIL_RATE: 0}}
environments:
  dev:
    router: nginx
    target:
      type: process
      command: "python app.py --port {{port}}"
      instances: 2
      readiness: {{timeout: 5s}}
      grace: 1s
    strategy: {strategy}
analysis:
  errors: {{provider: builtin, metric: error_rate, max: 0.1}}
"""

CANARY = "{canary: {steps: [{weight: 30}, {pause: until-promoted}]}}"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what is under test is nginx's weights and reloads; the database only records
    the steps (both databases record rollouts in tests/integration/test_deploy.py)."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


def wait_paused(store: Store, spec: Any) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for _ in range(600):
        status = svc.rollout_status(store, spec, "dev")
        if status["version"] == "1.1.0" and status["phase"] == "Paused":
            return status
        threading.Event().wait(0.05)
    pytest.fail(f"the canary never paused: {status}")


def test_canary_and_rollback_through_nginx_drop_no_request(store: Store, root: Path) -> None:
    """nginx splits by the canary's weight, promotes and rolls back with zero failed requests."""
    spec = parse_spec(SPEC.format(strategy=CANARY))
    v1, v2 = "checkout 1.0.0", "checkout 1.1.0"
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(svc.deploy(store, spec, root, "dev", version="1.1.0"))
    )
    master = None
    try:
        assert svc.deploy(store, spec, root, "dev", version="1.0.0")["status"] == "succeeded"
        with store.read() as uow:
            router = repo.get_environment(uow.conn, "shop", "dev")["router"]
        assert router["kind"] == "nginx" and router["pid"]
        master = int(router["pid"])
        url = url_of(store, spec, "dev")
        assert sample(url, 20) == {v1: 20}
        # Fresh connections, as in test_router_nginx: on a reload nginx closes idle keep-alive
        # connections, which a client must retry (an HTTP property, not a dropped request).
        with Load(url + "/", clients=2, keep_alive=False) as load:
            thread.start()
            status = wait_paused(store, spec)
            assert status["weights"] == {"stable": 70, "canary": 30}
            for _ in range(600):  # the controller records a step, then reloads nginx
                if 30 in env_svc.environments(store, spec)["environments"][0]["weights"].values():
                    break
                threading.Event().wait(0.05)
            split = sample(url, 600)
            assert set(split) == {v1, v2}
            assert abs(split[v2] / 600 - 0.30) < 0.07, split
            svc.act(store, spec, "dev", "promote", "alice")
            thread.join(60)
            assert result["status"] == "succeeded"
            assert sample(url, 20) == {v2: 20}
            back = svc.rollback(store, spec, "dev")
        assert back["status"] == "succeeded" and back["version"] == "1.0.0"
        assert load.failures == [] and load.ok > 50
        assert sample(url, 20) == {v1: 20}
        envs = env_svc.environments(store, spec)["environments"]
        assert sorted(envs[0]["weights"].values()) == [0, 100]
        with store.read() as uow:  # the same nginx served throughout, changed by reloads
            assert repo.get_environment(uow.conn, "shop", "dev")["router"]["pid"] == master
    finally:
        if thread.is_alive():
            with contextlib.suppress(ShipyardError):
                svc.act(store, spec, "dev", "abort", "test")
            thread.join(60)
        env_svc.stop_environment(store, spec, "dev")
    assert gone(master), "nginx outlived `env stop`"


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for its parent (the container's init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_builtin_analysis_behind_nginx_is_refused(store: Store, root: Path) -> None:
    """nginx has no per-pool metrics of its own: a builtin analysis is refused up front."""
    strategy = "{canary: {steps: [{weight: 30}, {analysis: errors}]}}"
    with pytest.raises(ShipyardError) as err:
        svc.create(store, parse_spec(SPEC.format(strategy=strategy)), root, "dev", version="1")
    assert err.value.code == "analysis-unsupported" and "nginx" in err.value.message
