"""The rollout controller's decisions (``services/rollout_runner.Runner``) with its ports
faked (tests/fakes.py): instances, router, clock and metrics in memory, on a real store; and
the deploy service and notification delivery around it. No process starts, no HTTP request is
made and nothing really sleeps: a 30-second pause passes in the fake clock. The same rollouts
on real processes are in test_deploy*.py and tests/e2e/test_deploy*.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shipyard.domain import rollout as r
from shipyard.services.coordination import notify
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments.rollout_runner import Runner
from shipyard.spec.load import parse_spec
from shipyard.store import deployments as repo
from shipyard.store.uow import Store
from tests.fakes import (
    FakeControllers,
    FakeEnvironment,
    FakeNotifier,
)

SPEC = """
project: shop
environments:
  production:
    target: {type: process, command: "python app.py --port {port}", instances: 2,
             readiness: {timeout: 5s}, grace: 1s}
    strategy:
      canary:
        steps: {steps}
analysis:
  errors: {provider: builtin, metric: error_rate, max_increase: 0.05, min_samples: 20,
           interval: 1s}
"""
STEPS = (
    "[{weight: 20}, {pause: 30s}, {weight: 50}, {analysis: errors, duration: 3s}, {weight: 100}]"
)
QUICK = "[{weight: 50}, {weight: 100}]"  # a few looks only: each is a fenced transaction


def spec_of(steps: str = STEPS) -> Any:
    return parse_spec(SPEC.replace("{steps}", steps))


STABLE, CANARY = "green", "blue"  # 1.0.0 went to green (the first canary pool): it is stable


@dataclass
class World(FakeEnvironment):
    """One environment on fakes, with 1.0.0 live on two instances in the green pool."""

    spec: Any = field(default_factory=spec_of)
    said: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def line(self, text: str, data: dict[str, Any]) -> None:
        self.said.append((self.clock.monotonic(), text, data))

    def deploy(self, version: str) -> dict[str, Any]:
        """Record a deployment of ``version`` and drive it with a runner on the fakes."""
        created = svc.create(self.store, self.spec, self.root, "production", version=version)
        return Runner(self.store, created["id"], self.line, ports=self.ports).run()

    def canary_weights(self) -> list[int]:
        return [w[CANARY] for w in self.routers.router.weights]

    def environment(self) -> dict[str, Any]:
        with self.store.read() as uow:
            row = repo.get_environment(uow.conn, "shop", "production")
        assert row is not None
        return row


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    w = World(store, tmp_path)
    assert w.deploy("1.0.0")["status"] == "succeeded"
    assert w.targets.version_of(STABLE) == {"1.0.0"} and len(w.targets.ready(STABLE)) == 2
    w.routers.router.weights.clear()
    w.said.clear()
    return w


def test_canary_steps_through_its_weights_to_success(world: World) -> None:
    """A healthy canary takes 20%, 50%, then all traffic, as its strategy's weight steps say,
    and ends succeeded with the old instances stopped and the new version live."""
    out = world.deploy("1.1.0")
    assert out["status"] == "succeeded"
    with world.store.read() as uow:
        dep = repo.get_deployment(uow.conn, out["id"])
    assert dep is not None
    strategy = r.strategy_from_dict(dep["plan"]["strategy"])
    assert isinstance(strategy, r.Canary)
    steps = [s.weight for s in strategy.steps if isinstance(s, r.WeightStep)]
    assert world.canary_weights() == steps == [20, 50, 100]  # the steps of STEPS
    assert world.routers.router.weights[-1] == {STABLE: 0, CANARY: 100}
    assert world.targets.version_of(CANARY) == {"1.1.0"} and world.targets.of(STABLE) == []
    assert {m.version for m in world.targets.stopped} == {"1.0.0"}
    env = world.environment()
    assert (env["version"], env["live_pool"]) == ("1.1.0", CANARY)
    assert out["measurements"]["canary"]["error_rate"] == 0.0
    assert world.clock.monotonic() >= 33  # the 30s pause and the 3s analysis, in fake time


def test_failed_analysis_rolls_back_to_the_stable_version(world: World) -> None:
    """A canary failing its analysis at 50% is rolled back: all traffic to the stable pool,
    the canary's instances stopped, status rolled-back with the numbers in the reason."""
    world.error_rates["1.1.0"] = 0.5
    out = world.deploy("1.1.0")
    assert out["status"] == "rolled-back"
    assert "error rate 50%" in out["reason"] and "max 5%" in out["reason"]
    assert world.canary_weights() == [20, 50, 0]
    assert world.routers.router.weights[-1] == {STABLE: 100, CANARY: 0}
    assert world.targets.of(CANARY) == [] and world.targets.version_of(STABLE) == {"1.0.0"}
    assert {m.version for m in world.targets.stopped} == {"1.1.0"}
    assert world.environment()["version"] == "1.0.0"
    with world.store.read() as uow:
        measured = repo.list_measurements(uow.conn, out["id"])
    assert [m["decision"] for m in measured] == ["Failed"]
    # Stamped by the rollout's clock (the fake one, long before the machine's own time).
    (at,) = [datetime.fromisoformat(m["at"]) for m in measured]
    assert world.clock.start < at <= world.clock.now()


def test_canary_instance_exiting_mid_rollout_fails_it_at_once(world: World) -> None:
    """A canary instance that exits during the pause fails the rollout then, not at its
    progress deadline: rolled back, the reason naming the instance and how it ended."""
    world.clock.at(10, lambda: world.targets.exit("1.1.0", "exited with status 3"))
    out = world.deploy("1.1.0")
    assert out["status"] == "rolled-back"
    assert out["reason"].startswith("target-exited: blue-0 (1.1.0) exited with status 3")
    assert world.canary_weights() == [20, 0]
    assert world.clock.monotonic() < 11  # at the next look after it exited
    assert world.targets.of(CANARY) == [] and world.environment()["version"] == "1.0.0"


def test_pause_lasts_its_duration_on_the_clock(world: World) -> None:
    """The 30-second pause holds 20% until the fake clock has moved 30 seconds, then 50%
    follows at the next look."""
    world.deploy("1.1.0")
    moves = [(at, d["weights"]["canary"]) for at, _, d in world.said if "weights" in d]
    at_20 = next(at for at, w in moves if w == 20)
    at_50 = next(at for at, w in moves if w == 50)
    assert 30 <= at_50 - at_20 < 30.5
    assert [text for _, text, _ in world.said if "paused for 30s" in text]


def test_abort_during_the_pause_rolls_back_with_who_asked(world: World) -> None:
    """An abort queued during the pause is taken at the next look: traffic back to stable,
    the canary stopped, status rolled-back, the reason naming who aborted."""
    world.clock.at(5, lambda: svc.act(world.store, world.spec, "production", "abort", "alice"))
    out = world.deploy("1.1.0")
    assert out["status"] == "rolled-back" and "alice" in out["reason"]
    assert world.canary_weights() == [20, 0]
    assert world.targets.of(CANARY) == [] and world.targets.version_of(STABLE) == {"1.0.0"}
    assert world.clock.monotonic() < 6


def test_deploy_service_creates_and_drives_a_rollout_on_the_ports_given(world: World) -> None:
    """``deploy`` records the deployment and drives it under its lease on the ports given;
    ``detach`` hands it to the controllers port instead, and it runs when one drives it."""
    world.spec = spec_of(QUICK)
    out = svc.deploy(
        world.store, world.spec, world.root, "production", version="1.1.0", ports=world.ports
    )
    assert out["status"] == "succeeded" and world.targets.version_of(CANARY) == {"1.1.0"}
    controllers = FakeControllers()
    created = svc.detach(
        world.store, world.spec, world.root, "production", controllers=controllers, version="1.2.0"
    )
    assert controllers.started == [created["id"]]
    assert svc.rollout_status(world.store, world.spec, "production")["status"] == "running"
    assert world.targets.version_of(STABLE) == set()  # nothing started before a controller
    done = svc.run(world.store, None, created["id"], ports=world.ports)
    assert done["status"] == "succeeded" and world.environment()["version"] == "1.2.0"
    assert world.targets.version_of(STABLE) == {"1.2.0"}


def test_a_rolled_back_deployment_reaches_a_sink_once_and_a_failing_one_later(
    world: World,
) -> None:
    """The deployment.finished event of a rolled-back rollout is sent to a sink once; a sink
    that is down gets it on the first pass after it is back."""
    world.error_rates["1.1.0"] = 0.5
    sink, down = FakeNotifier("fake:up"), FakeNotifier("fake:down")
    down.failing = True
    start = notify.last_seq(world.store)
    world.deploy("1.1.0")
    subs = [(sink, ["deployment.finished"]), (down, ["deployment.finished"])]
    log = notify.deliver_all(world.store, subs, new_from=start)
    assert [(line["sink"], line["status"]) for line in log] == [
        ("fake:up", "delivered"),
        ("fake:down", "failed"),
    ]
    down.failing = False
    notify.deliver_all(world.store, subs, new_from=start)
    for got in (sink, down):
        assert [e["payload"]["status"] for e in got.sent] == ["rolled-back"]
