"""`on_failure: hold` on real processes behind the built-in router: a bad canary is held with
traffic as it was, then a person aborts, accepts or rolls it back through the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli.common import open_store
from shipyard.demo.deploy import Traffic as Load  # steady cookie-less visitors
from tests.e2e.helpers import as_json, shipyard
from tests.integration.routing import spread
from tests.integration.test_deploy import APP

SPEC = """
project: shop
config: {{FAIL_RATE: {fail_rate}}}
environments:
  production:
    target:
      type: process
      command: "python app.py --port {{port}}"
      instances: 2
      readiness: {{timeout: 5s}}
      grace: 1s
    on_failure: hold
    strategy:
      canary:
        steps: [{{weight: 50}}, {{analysis: errors, duration: 3s}}, {{weight: 100}}]
analysis:
  errors:
    {{provider: builtin, metric: error_rate, max_increase: 0.05, min_samples: 20, interval: 1s}}
"""

# Answers that came from an instance; a 502, 503, 504 or a connection error would be the
# router or the rollout dropping a request.
FROM_AN_INSTANCE = {200, 500}


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    shutil.copy(APP, tmp_path / "app.py")
    (tmp_path / "shipyard.yaml").write_text(SPEC.format(fail_rate=0))
    yield tmp_path
    shipyard("env", "stop", "production", cwd=tmp_path)


def _status(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "rollout", "status", "production", cwd=root))
    return out


def _env(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "env", cwd=root))["environments"][0]
    return out


def _start_bad_canary(root: Path) -> subprocess.Popen[str]:
    """Deploy 1.1.0 answering half its requests with 500 in the foreground, as a user would."""
    (root / "shipyard.yaml").write_text(SPEC.format(fail_rate=0.5))
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("SHIPYARD_SERVER", None)
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "deploy", "production", "--version", "1.1.0"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_held(root: Path, controller: subprocess.Popen[str]) -> dict[str, Any]:
    status: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = _status(root)
        if status.get("held"):
            return status
        assert controller.poll() is None, controller.communicate()[0]
        threading.Event().wait(0.1)
    raise AssertionError(f"the canary was never held: {status}")


def _events(root: Path, kind: str) -> list[Any]:
    store = open_store(root)
    try:
        with store.read() as uow:
            return list(uow.events.query(project="shop", kind=kind))
    finally:
        store.dispose()


def test_bad_canary_is_held_then_aborted_without_a_dropped_request(root: Path) -> None:
    """A failed analysis under hold keeps 50/50 on both pools; `rollout abort` then rolls back."""
    first = shipyard("deploy", "production", "--version", "1.0.0", cwd=root)
    assert first.returncode == 0, first.stderr
    url = _env(root)["url"]
    with Load(url) as load:
        controller = _start_bad_canary(root)
        try:
            held = _wait_held(root, controller)
            assert held["status"] == "running" and held["phase"] == "Degraded"
            assert "analysis 'errors' failed" in held["failure"] and "error rate" in held["failure"]
            assert held["analysis"]["details"]["canary"]["error_rate"] > 0.05
            assert held["weights"] == {"stable": 50, "canary": 50}
            threading.Event().wait(1.5)  # nothing moves while held
            assert _status(root)["held"]
            env = _env(root)
            assert sorted(env["weights"].values()) == [50, 50]
            assert {i["version"] for i in env["instances"]} == {"1.0.0", "1.1.0"}
            bodies = spread(url, 200)
            assert bodies["checkout 1.0.0"] > 0 and bodies["checkout 1.1.0"] > 0

            shown = shipyard("rollout", "status", "production", cwd=root)
            assert shown.returncode == 0, shown.stderr
            assert ": held, Degraded" in shown.stdout and "held after:" in shown.stdout
            assert "canary:" in shown.stdout and "error rate" in shown.stdout
            assert "rollout abort production" in shown.stdout

            [event] = _events(root, "rollout.held")
            assert event.payload["reason"] == held["failure"]
            assert event.payload["weights"] == {"stable": 50, "canary": 50}
            assert event.payload["measurements"]["canary"]["error_rate"] > 0.05

            again = shipyard("deploy", "production", "--version", "1.2.0", cwd=root)
            assert again.returncode == 7 and "rollout-held" in again.stderr
            assert "rollout abort production" in again.stderr
            assert "rollout promote production" in again.stderr

            aborted = shipyard(
                "rollout", "abort", "production", cwd=root, env={"SHIPYARD_ACTOR": "alice"}
            )
            assert aborted.returncode == 0, aborted.stderr
            out, _ = controller.communicate(timeout=60)
        finally:
            if controller.poll() is None:
                controller.kill()
                controller.wait(10)
        assert controller.returncode != 0 and "rolled-back" in out, out
        assert set(load.counts) <= FROM_AN_INSTANCE, load.counts
    done = _status(root)
    assert done["status"] == "rolled-back" and not done["held"]
    assert done["reason"].startswith("aborted by alice while held: ")
    assert "error rate" in done["reason"]
    env = _env(root)
    assert env["version"] == "1.0.0" and {i["version"] for i in env["instances"]} == {"1.0.0"}
    with Load(url) as after:
        threading.Event().wait(1.0)
    assert set(after.counts) == {200} and after.counts[200] > 20
    assert set(spread(url, 50)) == {"checkout 1.0.0"}


def _wait_events(root: Path, kind: str, count: int) -> list[Any]:
    found: list[Any] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _events(root, kind)
        if len(found) >= count:
            return found
        threading.Event().wait(0.1)
    raise AssertionError(f"expected {count} {kind} event(s), got {len(found)}")


def test_held_canary_resumes_into_analysis_then_is_accepted_by_promote(root: Path) -> None:
    """`rollout resume` measures the held step again; `rollout promote` takes it to full."""
    first = shipyard("deploy", "production", "--version", "1.0.0", cwd=root)
    assert first.returncode == 0, first.stderr
    with Load(_env(root)["url"]):
        controller = _start_bad_canary(root)
        try:
            _wait_held(root, controller)
            resumed = shipyard("rollout", "resume", "production", cwd=root)
            assert resumed.returncode == 0, resumed.stderr
            second = _wait_events(root, "rollout.held", 2)[-1]  # still bad: held again
            assert "error rate" in second.payload["reason"]
            assert _status(root)["held"]
            promoted = shipyard("rollout", "promote", "production", cwd=root)
            assert promoted.returncode == 0, promoted.stderr
            out, _ = controller.communicate(timeout=60)
        finally:
            if controller.poll() is None:
                controller.kill()
                controller.wait(10)
    assert controller.returncode == 0, out
    done = _status(root)
    assert done["status"] == "succeeded" and done["weights"] == {"stable": 0, "canary": 100}
    stepped = [e.payload["reason"] for e in _events(root, "rollout.stepped")]
    assert any("resumed" in r and "trying the current step again" in r for r in stepped)
    assert any("while held" in r and "accepting the new version" in r for r in stepped)
    env = _env(root)
    assert env["version"] == "1.1.0" and {i["version"] for i in env["instances"]} == {"1.1.0"}


def test_rollback_of_a_held_canary_aborts_it(root: Path) -> None:
    """`shipyard rollback ENV` on a held rollout rolls it back to the stable version."""
    first = shipyard("deploy", "production", "--version", "1.0.0", cwd=root)
    assert first.returncode == 0, first.stderr
    with Load(_env(root)["url"]):  # the analysis needs traffic to fail
        controller = _start_bad_canary(root)
        _wait_held(root, controller)
    try:
        refused = shipyard("rollback", "production", "--to", "0.9.0", cwd=root)
        assert refused.returncode == 7 and "rollout-held" in refused.stderr
        back = shipyard("--json", "rollback", "production", cwd=root)
        assert back.returncode == 0, back.stderr
        out = as_json(back)
        controller.communicate(timeout=60)
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait(10)
    assert out["status"] == "succeeded" and out["version"] == "1.0.0" and out["from"] == "1.1.0"
    assert _status(root)["status"] == "rolled-back"
    assert {i["version"] for i in _env(root)["instances"]} == {"1.0.0"}
