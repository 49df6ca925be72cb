"""Canary analysis under steady load, driven through `shipyard` in a fresh git repository: every
metric of a template is judged at every interval, errors count in latency, the statistical
judges are chosen in shipyard.yaml, and `shipyard rollout explain` prints every measurement."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.e2e.test_deploy_failures import SERVICE
from tests.load import Load

SPEC = """
project: shop
config: {{FAIL_RATE: {fail}, DELAY_MS: {delay}}}
environments:
  production:
    target:
      type: process
      command: "python app.py --port {{port}}"
      readiness: {{timeout: 20s}}
      grace: 1s
    strategy:
      canary:
        steps: [{{weight: 50}}, {{analysis: {analysis}, duration: {duration}}}, {{weight: 100}}]
analysis:
  latency: {{metric: latency_p99, max_increase: 1.0, min_samples: 20, interval: 1s}}
  health:
    interval: 1s
    min_samples: 30
    metrics:
      - {{metric: error_rate, judge: two-proportion}}
      - {{metric: latency_p99, judge: mann-whitney, max_increase: 0.5}}
"""


def deploy(root: Path, version: str, **settings: Any) -> subprocess.CompletedProcess[str]:
    values = {"fail": 0, "delay": 0, "analysis": "health", "duration": "4s", **settings}
    (root / "shipyard.yaml").write_text(SPEC.format(**values))
    return shipyard("--json", "deploy", "production", "--version", version, cwd=root)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.py").write_text(SERVICE.read_text())
    yield tmp_path
    shipyard("env", "stop", "production", cwd=tmp_path)


def explain(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "rollout", "explain", "production", cwd=root))
    return out


def test_every_metric_is_judged_at_every_interval_with_errors_counted_in_latency(
    repo: Path,
) -> None:
    """A canary answering 60% 500s fast fails a p99 latency check at its first judged interval
    (errors are the slowest answers); a canary 30 ms slower fails Mann-Whitney while its
    error rate passes the two-proportion test beside it; a healthy one passes both; `rollout
    explain` prints each interval's verdict of each metric with values, thresholds and
    p-values."""
    first = deploy(repo, "1.0.0")
    assert first.returncode == 0, first.stderr
    url = as_json(shipyard("--json", "env", cwd=repo))["environments"][0]["url"]
    with Load(url, rate=80) as load:
        failing = deploy(repo, "1.1.0", fail=0.6, analysis="latency", duration="30s")
        assert failing.returncode == 1, failing.stdout
        out = as_json(failing)["error"]["details"]["deployment"]
        assert out["status"] == "rolled-back", out
        assert "p99" in out["reason"] and "inf" in out["reason"], out["reason"]
        shown = explain(repo)
        [latency] = shown["analyses"]
        assert latency["kind"] == "step" and [m["name"] for m in latency["metrics"]] == [
            "latency_p99"
        ]
        runs = latency["metrics"][0]["runs"]
        assert runs[-1]["phase"] == "Failed"
        assert all(r["phase"] == "Inconclusive" for r in runs[:-1])  # too few samples yet
        assert len(runs) <= 3, runs  # decided by the first interval with enough traffic
        [check] = runs[-1]["checks"]
        assert check["name"] == "latency_increase" and check["value"] == "inf"
        assert check["threshold"] == 1.0 and check["baseline"] > 0

        slow = deploy(repo, "1.2.0", delay=30)
        assert slow.returncode == 1, slow.stdout
        reason = as_json(slow)["error"]["details"]["deployment"]["reason"]
        assert reason.startswith("step analysis 'health' failed: latency_p99: "), reason
        [health] = explain(repo)["analyses"]
        errors, latency_runs = (m["runs"] for m in health["metrics"])
        assert len(errors) == len(latency_runs)  # both metrics at every interval
        assert latency_runs[-1]["decision"] == "Failed"
        assert errors[-1]["decision"] in ("Running", "Successful")  # its own verdict stands
        [mw] = latency_runs[-1]["checks"]
        assert mw["name"] == "latency_test" and mw["p_value"] < 0.05 and mw["threshold"] == 0.05

        healthy = deploy(repo, "1.3.0")
        assert healthy.returncode == 0, healthy.stdout
        [health] = explain(repo)["analyses"]
        decisions = {m["name"]: m["runs"][-1]["decision"] for m in health["metrics"]}
        assert decisions == {"error_rate": "Successful", "latency_p99": "Successful"}
    human = shipyard("rollout", "explain", "production", cwd=repo)
    assert "analysis 'health' (step)" in human.stdout and "latency_test" in human.stdout
    assert load.failed() > 0 and load.counts()["200 1.3.0"] > 0
