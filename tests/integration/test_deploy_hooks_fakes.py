"""A command target's hook driver (``services/deployments/deploy_hooks.HookDriver``) on a fake
``Commands`` port (tests/fakes.py): the rollout controller runs on a real store with a fake
clock, and the hooks it would run through the shell are recorded and answered as each test
scripts, so nothing starts and nothing really sleeps. The same rollouts with real hooks are in
tests/integration/test_deploy_command.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard.ports.commands import Ran
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments.rollout_runner import Ports
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from tests.fakes import FakeClock, FakeCommands

SPEC = """
project: shop
config: {GREETING: hello}
environments:
  production:
    target:
      type: command
      instances: 2
      timeout: 10s
      deploy: "platform deploy {pool} {version} {instances}"
      set_weight: "platform weight {pool} {weight}"
      health: "platform health {pool} {version}"
      promote: "platform promote {pool} {version}"
      rollback: "platform rollback {pool} {version}"
      stop: "platform stop {pool} {version} {instances}"
    strategy: {canary: {steps: [{weight: 25}, {weight: 50}], progress_deadline: 2s}}
"""


@dataclass
class World:
    store: Store
    root: Path
    commands: FakeCommands = field(default_factory=FakeCommands)
    clock: FakeClock = field(default_factory=FakeClock)

    def deploy(self, version: str) -> dict[str, Any]:
        ports = Ports(clock=self.clock, commands=self.commands)
        out: dict[str, Any] = dict(
            svc.deploy(
                self.store, parse_spec(SPEC), self.root, "production", version=version, ports=ports
            )
        )
        return out

    def hooks(self) -> list[str]:
        """The hooks run since the last call, health checks left out."""
        made = [line.removeprefix("platform ") for line in self.commands.lines()]
        self.commands.calls.clear()
        return [line for line in made if not line.startswith("health")]


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    w = World(store, tmp_path)
    assert w.deploy("1.0.0")["status"] == "succeeded"
    return w


def test_a_canary_runs_each_hook_in_order_with_its_values_and_environment(world: World) -> None:
    """A first deploy goes straight to full and the next canary moves its weight by hook then
    promotes, every hook given the variables, config and workdir of its version."""
    assert world.hooks() == ["deploy canary 1.0.0 2", "weight canary 100", "promote canary 1.0.0"]
    assert world.deploy("1.1.0")["status"] == "succeeded"
    deploy = world.commands.calls[0]
    assert world.hooks() == [
        "deploy canary 1.1.0 1",
        "weight canary 25",
        "weight canary 50",
        "deploy canary 1.1.0 2",
        "weight canary 100",
        "stop stable 1.0.0 0",
        "promote canary 1.1.0",
    ]
    assert deploy.timeout == 10.0 and deploy.cwd is not None
    env = deploy.env
    assert (env["GREETING"], env["APP_VERSION"], env["SHIPYARD_ENV"]) == (
        "hello",
        "1.1.0",
        "production",
    )
    assert (env["SHIPYARD_POOL"], env["SHIPYARD_INSTANCES"]) == ("canary", "1")


@pytest.mark.parametrize(
    ("failing", "hook"),
    [("weight canary 50", "set_weight"), ("promote canary 1.1.0", "promote")],
)
def test_a_hook_exiting_non_zero_rolls_the_rollout_back(
    world: World, failing: str, hook: str
) -> None:
    """A hook exiting non-zero mid-rollout or at promotion rolls back, the reason naming the
    hook, its status and the end of its output; the rollback hook runs last."""
    world.hooks()
    world.commands.scripts[failing] = Ran(3, stderr=b"platform refused\n")
    out = world.deploy("1.1.0")
    assert out["status"] == "rolled-back"
    assert out["reason"].startswith("hook-failed: ") and f"hook '{hook}'" in out["reason"]
    assert "status 3" in out["reason"] and "platform refused" in out["reason"]
    made = world.hooks()
    assert made[-1] == "rollback stable 1.0.0"
    assert "weight canary 0" in made and "stop canary 1.1.0 0" in made


def test_a_hook_killed_at_its_timeout_fails_as_a_timeout(world: World) -> None:
    """A hook the port reports killed at its timeout fails the rollout with hook-timeout."""
    world.commands.scripts["weight canary 25"] = Ran(-9, timed_out=True)
    out = world.deploy("1.1.0")
    assert out["status"] == "rolled-back"
    assert out["reason"].startswith("hook-timeout: ") and "longer than 10s" in out["reason"]


def test_a_health_hook_that_never_passes_fails_the_progress_deadline(world: World) -> None:
    """A canary whose health hook keeps failing is never counted ready: the 2 s progress
    deadline on the fake clock rolls it back before any weight moves."""
    world.hooks()
    world.commands.scripts["health canary"] = Ran(1)
    out = world.deploy("1.1.0")
    assert out["status"] == "rolled-back" and "progress deadline" in out["reason"]
    made = world.hooks()
    assert "weight canary 25" not in made and made[-1] == "rollback stable 1.0.0"
    assert 2 <= world.clock.monotonic() < 10
