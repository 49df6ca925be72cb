"""`shipyard rollback`: straight back to an earlier version on real processes, under load."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.errors import ShipyardError
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.store.uow import Store
from tests.integration.test_deploy import APP, Load, events, spec_of, url_of


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


@pytest.fixture
def spec(store: Store) -> Iterator[Any]:
    spec = spec_of()  # dev: recreate, two instances
    yield spec
    for env in spec.environments:
        env_svc.stop_environment(store, spec, env)


def answer(store: Store, spec: Any) -> str:
    return httpx.get(url_of(store, spec, "dev") + "/", timeout=5).text


def test_rollback_goes_straight_back_without_failed_requests(
    store: Store, root: Path, spec: Any
) -> None:
    """Rollback returns to the previous version, then to a named one, under load, no errors.

    dev's strategy is recreate, which stops the old pool first: a rollback that skipped nothing
    would drop requests. A direct rollout starts the old version before moving traffic.
    """
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        assert svc.deploy(store, spec, root, "dev", version=version)["status"] == "succeeded"
    with Load(url_of(store, spec, "dev")) as load:
        out = svc.rollback(store, spec, "dev", actor="alice")
    assert out["status"] == "succeeded" and out["version"] == "1.1.0" and out["from"] == "1.2.0"
    assert set(load.counts) == {200} and load.counts[200] > 10
    assert answer(store, spec) == "checkout 1.1.0"
    status = svc.rollout_status(store, spec, "dev")
    assert status["plan"] == [
        "scale the canary pool to 2 and wait",
        "send 100% of traffic to the canary",
        "clear the header route",
        "scale down the old pool and promote",
    ]
    [requested] = events(store, "deployment.rollback")
    assert requested.actor == "alice" and requested.subject == f"deployment:{out['id']}"
    assert requested.payload["from"] == "1.2.0" and requested.payload["to"] == "1.1.0"
    started = events(store, "deployment.started")[-1].payload
    assert started["rollback"] is True and started["previous"] == "1.2.0"
    assert events(store, "deployment.finished")[-1].payload["status"] == "succeeded"

    out = svc.rollback(store, spec, "dev", to="1.0.0")
    assert out["status"] == "succeeded" and answer(store, spec) == "checkout 1.0.0"
    envs = {e["environment"]: e for e in env_svc.environments(store, spec)["environments"]}
    assert {i["version"] for i in envs["dev"]["instances"]} == {"1.0.0"}
    history = [d["version"] for d in svc.history(store, spec, "dev")["deployments"]]
    assert history == ["1.0.0", "1.1.0", "1.2.0", "1.1.0", "1.0.0"]
    # the one before the current is now 1.1.0 again (the newest other version that was live)
    assert svc.rollback(store, spec, "dev")["version"] == "1.1.0"


def test_bad_rollbacks_are_refused(store: Store, root: Path, spec: Any) -> None:
    """Nothing live, nothing earlier, an unknown or the live version: each has its code."""
    cases: list[tuple[dict[str, Any], str]] = [({}, "nothing-to-roll-back")]
    for kwargs, code in cases:
        with pytest.raises(ShipyardError) as err:
            svc.rollback(store, spec, "dev", **kwargs)
        assert err.value.code == code and err.value.hint
    svc.deploy(store, spec, root, "dev", version="1.0.0")
    for kwargs, code in [
        ({}, "rollback-target-unknown"),
        ({"to": "0.9.0"}, "rollback-target-unknown"),
        ({"to": "1.0.0"}, "already-live"),
    ]:
        with pytest.raises(ShipyardError) as err:
            svc.rollback(store, spec, "dev", **kwargs)
        assert err.value.code == code and err.value.hint
    with pytest.raises(ShipyardError) as err:
        svc.rollback(store, spec, "qa")
    assert err.value.code == "environment-unknown"


def test_rollback_respects_the_lock(store: Store, root: Path, spec: Any) -> None:
    """A locked environment refuses a rollback by anyone but the lock holder."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import locks

    svc.deploy(store, spec, root, "dev", version="1.0.0")
    svc.deploy(store, spec, root, "dev", version="1.1.0")
    locks.lock(store, spec, "dev", "bob", "investigating", datetime.now(UTC))
    with pytest.raises(ShipyardError) as err:
        svc.rollback(store, spec, "dev", actor="alice")
    assert err.value.code == "environment-locked"
    assert svc.rollback(store, spec, "dev", actor="bob")["version"] == "1.0.0"
