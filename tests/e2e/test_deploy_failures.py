"""Failure paths of a canary under steady load, driven through `shipyard` in a fresh git
repository as a user would: whatever goes wrong after traffic moved, the stable version ends
up with all traffic and the new version's processes are gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.load import Load

SERVICE = Path(__file__).parents[1] / "integration" / "apps" / "service.py"
SPEC = """
project: shop
environments:
  production:
    target:
      type: process
      command: "python app.py --port {{port}}"
      instances: 2
      readiness: {{timeout: 30s}}
      grace: 1s
    strategy:
      canary:
        steps: [{{weight: 20}}, {steps}{{weight: 100}}]
{analysis}"""
PAUSE = "{pause: 60s}, "
NO_ADDRESS = """analysis:
  errors:
    provider: prometheus
    metric: error_rate
    max: 0.1
"""


def write_spec(root: Path, steps: str = PAUSE, analysis: str = "") -> None:
    (root / "shipyard.yaml").write_text(SPEC.format(steps=steps, analysis=analysis))


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.py").write_text(SERVICE.read_text())
    write_spec(tmp_path)
    yield tmp_path
    write_spec(tmp_path)  # a test may leave a spec that cannot be read
    shipyard("env", "stop", "production", cwd=tmp_path)


def env_of(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "env", cwd=root))["environments"][0]
    return out


def status_of(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "rollout", "status", "production", cwd=root))
    return out


def start_deploy(root: Path, version: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard", "deploy", "production", "--version", version],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_canary(root: Path, controller: subprocess.Popen[str], version: str) -> list[int]:
    """Until the canary of ``version`` takes its 20%; the pids of its instances."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert controller.poll() is None, controller.communicate()[0]
        env = env_of(root)
        pids = [i["pid"] for i in env["instances"] if i["version"] == version]
        if sorted(env["weights"].values()) == [20, 80] and pids:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"the canary of {version} never took 20%: {env_of(root)}")


def gone(pid: int) -> bool:
    """No such process, or one that exited and waits to be reaped (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :][:1] in ("Z", "X")


def test_a_canary_interrupted_or_left_without_controller_goes_back_to_stable(repo: Path) -> None:
    """A deploy whose analysis cannot measure is refused before traffic moves; SIGTERM to a
    deploy mid-canary (a cancelled CI job) rolls it back before it exits, even with a stable
    instance killed meanwhile (replaced, the rollback does not wait for it); after kill -9 of
    the deploy, `rollout abort` rolls back at once; no request fails along the way; and
    `shipyard deployments` and `shipyard audit log` say how each deployment ended and why."""
    first = shipyard("deploy", "production", "--version", "1.0.0", cwd=repo)
    assert first.returncode == 0, first.stderr
    url = env_of(repo)["url"]
    with Load(url, rate=60) as load:
        # An analysis that cannot measure anything is refused before anything runs.
        write_spec(repo, "{analysis: errors, duration: 2s}, ", NO_ADDRESS)
        refused = shipyard("deploy", "production", "--version", "1.1.0", cwd=repo)
        assert refused.returncode == 2, refused.stderr
        assert "analysis-config-invalid" in refused.stderr and "needs an address" in refused.stderr
        write_spec(repo)
        env = env_of(repo)
        assert sorted(env["weights"].values()) == [0, 100] and len(env["instances"]) == 2

        controller = start_deploy(repo, "1.1.0")
        canary = wait_for_canary(repo, controller, "1.1.0")
        stable = [i["pid"] for i in env_of(repo)["instances"] if i["version"] == "1.0.0"]
        os.kill(stable[0], signal.SIGKILL)
        controller.send_signal(signal.SIGTERM)
        out, _ = controller.communicate(timeout=60)
        assert controller.returncode == 1, out
        assert "error[deployment-rolled-back]" in out and "controller-interrupted" in out, out
        env = env_of(repo)
        assert env["version"] == "1.0.0" and sorted(env["weights"].values()) == [0, 100]
        assert [i["version"] for i in env["instances"]] == ["1.0.0", "1.0.0"]
        assert stable[0] not in [i["pid"] for i in env["instances"]]  # replaced
        assert all(gone(pid) for pid in canary)
        done = status_of(repo)
        assert done["status"] == "rolled-back" and "progress deadline" not in done["reason"]

        controller = start_deploy(repo, "1.2.0")
        canary = wait_for_canary(repo, controller, "1.2.0")
        controller.kill()
        controller.wait(10)
        assert status_of(repo)["status"] == "running"
        aborted = shipyard("rollout", "abort", "production", cwd=repo)
        assert aborted.returncode == 0, aborted.stderr
        env = env_of(repo)  # right away: the abort did not wait for a controller
        assert sorted(env["weights"].values()) == [0, 100]
        assert {i["version"] for i in env["instances"]} == {"1.0.0"}
        assert all(gone(pid) for pid in canary)
        assert status_of(repo)["status"] == "rolled-back"
        load.wait_for(30)
    counts = load.counts()
    assert load.failed() == 0, counts
    assert counts["200 1.1.0"] > 0 and counts["200 1.2.0"] > 0, counts

    history = shipyard("deployments", "production", cwd=repo)
    assert history.returncode == 0, history.stderr
    rows = [line.split(maxsplit=7) for line in history.stdout.splitlines()[1:]]
    rows = [r for r in rows if r[0].startswith("d")]
    assert [(r[4], r[5], r[6]) for r in rows] == [
        ("1.2.0", "canary", "rolled-back"),
        ("1.1.0", "canary", "rolled-back"),
        ("1.0.0", "canary", "succeeded"),
    ]
    assert rows[0][7].startswith("aborted by ")
    assert rows[1][7].startswith("controller-interrupted: the controller got SIGTERM")
    log = shipyard("audit", "log", "--kind", "deployment.finished", cwd=repo)
    assert "production 1.1.0 rolled-back: controller-interrupted: " in log.stdout, log.stdout
    assert "production 1.2.0 rolled-back: aborted by " in log.stdout, log.stdout
