"""A blue-green preview on the built-in router, under steady load, driven through `shipyard` in
a fresh git repository: the new version has a port of its own and a copy of live requests
before the switch, so its pre-promotion analysis judges real traffic that no client sees."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.e2e.test_deploy_failures import SERVICE
from tests.load import Load

SPEC = """
project: shop
config: {{FAIL_RATE: {fail}}}
environments:
  production:
    target:
      type: process
      command: "python app.py --port {{port}}"
      readiness: {{timeout: 20s}}
      grace: 1s
    strategy:
      blue-green:
        preview_port: 0
        mirror: 50
        pre_promotion_analysis: errors
        analysis_duration: 4s
        scale_down_delay: 0s
analysis:
  errors: {{metric: error_rate, max_increase: 0.05, min_samples: 20, interval: 0.5}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.py").write_text(SERVICE.read_text())
    (tmp_path / "shipyard.yaml").write_text(SPEC.format(fail=0))
    yield tmp_path
    shipyard("env", "stop", "production", cwd=tmp_path)


def env_of(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "env", cwd=root))["environments"][0]
    return out


def test_the_preview_is_judged_on_mirrored_live_traffic_that_no_client_sees(repo: Path) -> None:
    """Before the switch the preview answers on its own port and gets half the live requests
    copied: a healthy version passes its pre-promotion analysis on them and is switched to;
    one failing half its requests fails it and is rolled back, with no client request failed
    nor answered by it."""
    first = shipyard("deploy", "production", "--version", "1.0.0", cwd=repo)
    assert first.returncode == 0, first.stderr
    with Load(env_of(repo)["url"], rate=80) as load:
        env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}
        deploy = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "deploy", "production", "--version", "1.1.0"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not (preview := env_of(repo).get("preview_url")):
            assert time.monotonic() < deadline and deploy.poll() is None, deploy.communicate()
        assert httpx.get(preview + "/").text == "checkout 1.1.0"
        out, _ = deploy.communicate(timeout=120)
        assert deploy.returncode == 0, out
        [pre] = as_json(shipyard("--json", "rollout", "explain", "production", cwd=repo))[
            "analyses"
        ]
        last = pre["metrics"][0]["runs"][-1]
        assert pre["kind"] == "pre-promotion" and last["decision"] == "Successful"
        assert last["canary"]["requests"] >= 20  # copies of live requests
        assert env_of(repo)["preview_url"] is None  # closed at the switch

        (repo / "shipyard.yaml").write_text(SPEC.format(fail=0.5))
        started = len(load.answers)
        bad = shipyard("--json", "deploy", "production", "--version", "1.2.0", cwd=repo)
        assert bad.returncode == 1, bad.stdout
        reason = as_json(bad)["error"]["details"]["deployment"]["reason"]
        assert reason.startswith("pre-promotion analysis 'errors' failed: "), reason
        load.wait_for(30)
    during = load.counts(load.answers[started].at)
    assert set(during) == {"200 1.1.0"}, during  # nothing failed, nothing from 1.2.0
    assert env_of(repo)["version"] == "1.1.0"
