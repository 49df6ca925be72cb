"""Notifications as a user meets them: a webhook declared in shipyard.yaml gets a rollout's
events as they are written, with no `notify deliver`, and never the history before it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.e2e.test_deploy_failures import SERVICE
from tests.integration.test_release_notify import Receiver

SPEC = """
project: shop
environments:
  production:
    target: {type: process, command: "python app.py --port {port}", readiness: {timeout: 20s}}
    strategy: {canary: {steps: [{weight: 50}, {weight: 100}]}}
"""
HOOK = """notifications:
  - webhook: {url: {env: HOOK_URL}}
    kinds: [deployment.finished]
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.py").write_text(SERVICE.read_text())
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    yield tmp_path
    shipyard("env", "stop", "production", cwd=tmp_path)


def test_a_new_webhook_gets_what_happens_from_then_on_as_it_happens(
    repo: Path, receiver: Receiver
) -> None:
    """Deployments before the webhook was declared are never sent to it; the next one's
    `deployment.finished` reaches it within seconds of being written, without `notify
    deliver`, and `notify log` lists the delivery."""
    env = {"HOOK_URL": receiver.url}
    for version in ("1.0.0", "1.1.0"):
        done = shipyard("deploy", "production", "--version", version, cwd=repo, env=env)
        assert done.returncode == 0, done.stderr
    (repo / "shipyard.yaml").write_text(SPEC + HOOK)
    first = shipyard("--json", "notify", "deliver", cwd=repo, env=env)
    assert first.returncode == 0, first.stderr
    assert as_json(first)["deliveries"] == [] and receiver.requests == []  # no history

    done = shipyard("deploy", "production", "--version", "1.2.0", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    [(_headers, body)] = receiver.requests
    event = json.loads(body)
    assert event["kind"] == "deployment.finished" and event["payload"]["version"] == "1.2.0"
    log = as_json(shipyard("--json", "notify", "log", cwd=repo, env=env))["deliveries"]
    assert [(d["kind"], d["status"]) for d in log] == [("deployment.finished", "delivered")]
    again = shipyard("--json", "notify", "deliver", cwd=repo, env=env)
    assert as_json(again)["deliveries"] == [] and len(receiver.requests) == 1  # once
