"""Instances have identity: what they run (version, revision digest) and which process they are
(pid and its start time). Real processes behind the built-in router."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.targets import local as rt
from shipyard.adapters.targets.process import free_port
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store import deployments as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store
from tests.integration.routing import spread
from tests.integration.test_deploy import APP

SPEC = """
project: shop
environments:
  dev:
    target:
      type: process
      command: "python app.py --port {port}"
      instances: 2
      readiness: {timeout: 10s}
      grace: 1s
    strategy: {canary: {steps: [{weight: 50}, {weight: 100}]}}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


@pytest.fixture
def cleanup(store: Store) -> Iterator[list[Any]]:
    specs: list[Any] = []
    yield specs
    for spec in specs:
        env_svc.stop_environment(store, spec, "dev")


def _row(store: Store) -> dict[str, Any]:
    with store.read() as uow:
        row = repo.get_environment(uow.conn, "shop", "dev")
    assert row is not None
    return row


def test_an_instance_of_another_version_left_in_the_pool_is_replaced(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """An instance of a failed version left running in the pool the next canary uses (as an
    earlier Shipyard left it, recorded without a revision) is stopped and replaced, never
    counted as the new version: every answer comes from the version deployed."""
    spec = parse_spec(SPEC)
    cleanup.append(spec)
    assert svc.deploy(store, spec, root, "dev", version="1.0.0")["status"] == "succeeded"
    row = _row(store)
    canary_pool = rt.other_pool(row["live_pool"])
    leftover = rt.Instances(store.home / "deploy" / "dev" / "logs")
    bad = rt.Launch(f"{sys.executable} app.py --port {{port}}", "0.9.9", str(root), {})
    leftover.scale(canary_pool, 1, bad)
    [old] = leftover.to_list()
    recorded = {k: old[k] for k in ("pool", "index", "version", "port", "pid", "log")}
    with store.begin() as uow:
        repo.save_environment(
            uow.conn,
            "shop",
            "dev",
            instances=[*row["instances"], recorded],
            updated_at=utcnow(),
        )
    out = svc.deploy(store, spec, root, "dev", version="1.1.0")
    assert out["status"] == "succeeded", out["reason"]
    [dev] = env_svc.environments(store, spec)["environments"]
    assert [i["version"] for i in dev["instances"]] == ["1.1.0", "1.1.0"]
    assert len({i["revision"] for i in dev["instances"]}) == 1
    assert all(i["alive"] and i["started_at"] for i in dev["instances"])
    assert spread(dev["url"], 40) == {"checkout 1.1.0": 40}
    assert not rt.is_running(rt.Member(**old))


def test_a_recorded_pid_that_another_process_has_now_is_not_that_instance(tmp_path: Path) -> None:
    """A record whose pid now belongs to another process (its start time differs) is dropped,
    and that process is neither counted nor signalled."""
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        started = rt.started_at(stranger.pid)
        assert started is not None
        record = rt.Member("blue", 0, "1.0.0", free_port(), stranger.pid, "", "abc", started - 5)
        same = rt.Member("blue", 1, "1.0.0", free_port(), stranger.pid, "", "abc", started)
        instances = rt.Instances(tmp_path, [asdict(record), asdict(same)])
        assert instances.members == [same]
        instances.members.append(record)
        instances.stop([record], 0.5)
        assert stranger.poll() is None
        assert instances.members == [same]
    finally:
        stranger.kill()
        stranger.wait()
    assert not rt.is_running(same)
    assert os.path.exists("/proc")  # the start time comes from procfs
