"""A rollout controller killed with SIGKILL mid-canary: the instances and the router keep
serving, the environment's supervisor takes the rollout over, and `shipyard rollout continue`
follows it to its end without a failed request."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from shipyard.demo.deploy import Traffic as Load  # steady cookie-less visitors
from tests.e2e.helpers import as_json, shipyard
from tests.integration.test_deploy import APP

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
        steps: [{weight: 30}, {pause: 25s}, {weight: 60}, {pause: 1s}, {weight: 100}]
"""


def _status(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "rollout", "status", "production", cwd=root))
    return out


def test_killed_controller_is_continued_without_a_failed_request(tmp_path: Path) -> None:
    """kill -9 of `shipyard deploy` during the canary's pause: the supervisor carries on from
    the recorded step, and `rollout continue` follows it to the end."""
    shutil.copy(APP, tmp_path / "app.py")
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("SHIPYARD_SERVER", None)
    try:
        first = shipyard("deploy", "production", "--version", "1.0.0", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        envs = as_json(shipyard("--json", "env", cwd=tmp_path))["environments"]
        url = envs[0]["url"]
        with Load(url) as load:
            controller = subprocess.Popen(
                [sys.executable, "-m", "shipyard.cli.main", "deploy", "production"]
                + ["--version", "1.1.0"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                for _ in range(600):
                    status = _status(tmp_path)
                    weights = status["weights"] or {}
                    if status["status"] == "running" and weights.get("canary") == 30:
                        break
                    threading.Event().wait(0.05)
                else:
                    raise AssertionError(f"the canary never reached 30%: {status}")
            finally:
                os.kill(controller.pid, signal.SIGKILL)  # the controller only, not its group
                controller.wait(10)
            killed = _status(tmp_path)
            assert killed["status"] == "running" and killed["version"] == "1.1.0"
            served = dict(load.counts)
            supervisor = as_json(shipyard("--json", "env", cwd=tmp_path))["environments"][0]
            for _ in range(600):  # the supervisor takes the rollout over
                taken = _status(tmp_path)["controller"]
                if taken["pid"] == supervisor["supervisor"]["pid"]:
                    break
                threading.Event().wait(0.05)
            else:
                raise AssertionError(f"the supervisor did not take the rollout: {taken}")
            assert load.counts[200] > served.get(200, 0)  # traffic flowed all along
            again = shipyard("deploy", "production", "--version", "1.2.0", cwd=tmp_path)
            assert again.returncode != 0 and "rollout-in-progress" in again.stderr
            resumed = shipyard("--json", "rollout", "continue", "production", cwd=tmp_path)
            assert resumed.returncode == 0, resumed.stderr
        assert as_json(resumed)["status"] == "succeeded"
        assert set(load.counts) == {200}, load.counts
        assert load.counts[200] > 100
        final = _status(tmp_path)
        assert final["status"] == "succeeded" and final["weights"]["canary"] == 100
        envs = as_json(shipyard("--json", "env", cwd=tmp_path))["environments"]
        assert envs[0]["version"] == "1.1.0"
        assert {i["version"] for i in envs[0]["instances"]} == {"1.1.0"}
        log = as_json(shipyard("audit", "log", "--kind", "rollout.stepped", "--json", cwd=tmp_path))
        reasons = [e["payload"]["reason"] for e in log["events"]]
        assert any("re-applied pools, weights and routes after a restart" in r for r in reasons)
    finally:
        stopped = shipyard("--json", "env", "stop", "production", cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
