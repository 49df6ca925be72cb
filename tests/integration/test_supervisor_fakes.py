"""The supervisor's decisions (``services/deployments/supervisor.Supervisor``) with its ports
faked (tests/fakes.py): instances, router, clock and metrics in memory, on a real store, the
environment deployed by a rollout runner on the same fakes. Each test takes the supervisor's
looks (``tick``) one by one, moving the fake clock a look's length between them: no process
starts, no HTTP request is made and nothing really sleeps. The same supervision on real
processes is tests/e2e/test_deploy_supervisor.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import supervisor as sup
from shipyard.services.deployments.rollout_runner import Ports, Runner
from shipyard.spec.load import parse_spec
from shipyard.store import deployments as repo
from shipyard.store.uow import Store
from tests.fakes import FakeClock, FakeEnvironment

SPEC = """
project: shop
environments:
  production:
    target: {type: process, command: "python app.py --port {port}", instances: 2,
             readiness: {timeout: 5s}, grace: 1s}
    strategy:
      canary:
        steps: [{weight: 50}, {pause: 5s}, {weight: 100}]  # the pause measures the watch's baseline
    watch: {analysis: [errors], window: 60s}
analysis:
  errors: {provider: builtin, metric: error_rate, max_increase: 0.05, min_samples: 20,
           interval: 1s}
"""
LIVE, OTHER = "green", "blue"  # 1.0.0 went to green (the first canary pool)


@dataclass
class World(FakeEnvironment):
    """One environment on fakes, with 1.0.0 live on two instances in the green pool."""

    def deploy(self, version: str) -> dict[str, Any]:
        """Record a deployment of ``version`` and drive it with a runner on the fakes; the
        supervisor's clock then starts when it was promoted (its watch window opens)."""
        spec = parse_spec(SPEC)
        created = svc.create(self.store, spec, self.root, "production", version=version)
        out = Runner(self.store, created["id"], ports=self.ports).run()
        with self.store.read() as uow:
            dep = repo.get_deployment(uow.conn, created["id"])
        assert dep is not None and dep["finished_at"] is not None
        self.clock = FakeClock(start=datetime.fromisoformat(dep["finished_at"]))
        return {**out, "id": created["id"]}

    def supervisor(self) -> sup.Supervisor:
        sup.folder(self.store, "production").mkdir(parents=True, exist_ok=True)  # its log's
        return sup.Supervisor(self.store, self.root, "shop", "production", ports=self.ports)

    def looks(
        self, s: sup.Supervisor, n: int, between: Callable[[], object] = lambda: None
    ) -> None:
        """``n`` looks of ``s``, a ``TICK`` apart on the fake clock."""
        for _ in range(n):
            assert s.tick()
            between()
            self.clock.advance(sup.TICK)

    def environment(self) -> dict[str, Any]:
        with self.store.read() as uow:
            row = repo.get_environment(uow.conn, "shop", "production")
        assert row is not None
        return row

    def deployments(self) -> list[dict[str, Any]]:
        """The environment's deployments, newest first."""
        with self.store.read() as uow:
            rows = repo.list_deployments(uow.conn, "shop", "production")
        return [dict(r) for r in rows]

    def said(self) -> str:
        return (sup.folder(self.store, "production") / "supervisor.log").read_text()

    def backends(self) -> list[str]:
        return sorted(self.routers.router.routes()["pools"].get(LIVE, []))


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    w = World(store, tmp_path)
    (tmp_path / "shipyard.yaml").write_text(SPEC)  # what a rollback after the watch reads
    assert w.deploy("1.0.0")["status"] == "succeeded"
    assert w.targets.version_of(LIVE) == {"1.0.0"} and len(w.targets.ready(LIVE)) == 2
    return w


def test_an_instance_that_exits_is_replaced_at_once_then_after_a_back_off(world: World) -> None:
    """An exited instance is restarted at the next look, its restart counted and recorded,
    and when the new one exits too it is restarted only after the one-second back-off."""
    s = world.supervisor()
    world.looks(s, 2)
    first = world.targets.of(LIVE)[0]
    world.targets.dead[first.pid] = "exited with status 3"
    world.looks(s, 1)
    [(old, new)] = world.targets.replaced
    assert old == first and (new.pool, new.index, new.version) == (LIVE, 2, "1.0.0")
    assert "green-0 (1.0.0) exited with status 3: restarted as green-2" in world.said()
    recorded = {i["index"]: i for i in world.environment()["instances"]}
    assert sorted(recorded) == [1, 2] and recorded[2]["restarts"] == 1
    world.looks(s, 1)
    assert world.backends() == sorted(m.address for m in world.targets.of(LIVE))
    world.targets.dead[new.pid] = "exited with status 3"
    world.looks(s, 4)  # 0.8 s: within the back-off
    assert len(world.targets.replaced) == 1 and new not in world.backends()
    world.looks(s, 2)
    assert len(world.targets.replaced) == 2
    assert {i["index"]: i["restarts"] for i in world.environment()["instances"]} == {1: 0, 2: 2}


def test_a_hung_instance_leaves_the_router_after_two_failed_probes_and_comes_back(
    world: World,
) -> None:
    """An instance that stops answering is out of the router at the look that finds it (two
    failed probes in a row) and back after two good probes; the pool's other one stays in."""
    s = world.supervisor()
    world.looks(s, 1)
    hung, other = world.targets.of(LIVE)
    assert world.backends() == sorted([hung.address, other.address])
    world.targets.hung.add(hung.pid)
    world.looks(s, 1)
    assert world.backends() == [other.address]
    assert "green-0 (1.0.0) down: out of the router" in world.said()
    world.targets.hung.clear()
    world.looks(s, 1)
    assert world.backends() == [other.address]  # one good probe is not enough
    world.looks(s, 1)
    assert world.backends() == sorted([hung.address, other.address])
    assert world.targets.replaced == []  # a live instance is never restarted for its probes


def test_the_last_instance_answering_stays_in_the_router(world: World) -> None:
    """When every instance fails its probes at once, the pool keeps one in the router, since a
    slow answer beats none."""
    s = world.supervisor()
    world.looks(s, 1)
    world.targets.hung.update(m.pid for m in world.targets.of(LIVE))
    world.looks(s, 2)
    assert len(world.backends()) == 1


def test_a_router_that_died_is_started_again_with_the_live_pool(world: World) -> None:
    """A router found down is started again through the routers port, recorded, and given
    the live pool's instances with all the traffic."""
    s = world.supervisor()
    world.looks(s, 1)
    world.routers.router.up = False
    world.looks(s, 1)
    assert world.routers.restarts == 1
    assert world.backends() == sorted(m.address for m in world.targets.of(LIVE))
    assert world.routers.router.weights[-1] == {LIVE: 100, OTHER: 0}
    assert world.environment()["router"] == world.routers.router.to_dict()
    assert "the router was down: started again on port 18080" in world.said()


def test_a_version_failing_its_watch_is_rolled_back_to_the_one_before(world: World) -> None:
    """A promoted version that starts failing requests fails its watch analysis against the
    old version's baseline and is rolled back at once, by the supervisor, on the same ports."""
    promoted = world.deploy("1.1.0")
    assert promoted["status"] == "succeeded" and world.targets.version_of(OTHER) == {"1.1.0"}
    world.error_rates["1.1.0"] = 0.5
    s = world.supervisor()
    world.looks(s, 1)
    assert s.watching == promoted["id"]
    looks = 0
    while s.watching is not None and looks < 30:  # a look every second: one measurement each
        world.clock.advance(1.0)
        assert s.tick()
        looks += 1
    assert looks < 5, looks  # within a few of its 1 s intervals
    latest, failed = world.deployments()[:2]
    assert failed["id"] == promoted["id"] and failed["status"] == "rolled-back"
    assert failed["reason"].startswith("rolled back after promotion: watch analysis 'errors' ")
    assert (latest["version"], latest["status"], latest["actor"]) == (
        "1.0.0",
        "succeeded",
        sup.ACTOR,
    )
    assert world.environment()["version"] == "1.0.0"
    assert world.targets.version_of(LIVE) == {"1.0.0"} and world.targets.of(OTHER) == []


def test_an_instance_of_the_watched_version_exiting_rolls_it_back(world: World) -> None:
    """An instance of the promoted version that exits during its watch fails the watch at
    once (target-exited), as it would fail a rollout, and the version before comes back."""
    promoted = world.deploy("1.1.0")
    s = world.supervisor()
    world.looks(s, 2)
    world.targets.exit("1.1.0", "exited with status 2")
    assert s.tick()
    failed = world.deployments()[1]
    assert failed["id"] == promoted["id"] and failed["status"] == "rolled-back"
    assert failed["reason"].startswith(
        "rolled back after promotion: watch: target-exited: blue-0 (1.1.0) exited with status 2"
    )
    assert world.environment()["version"] == "1.0.0"


def test_a_healthy_version_passes_its_watch_window_and_stays(world: World) -> None:
    """A promoted version whose error rate stays within the threshold is watched for its
    window, then left live: no rollback, the metrics read on the way."""
    promoted = world.deploy("1.1.0")
    world.error_rates["1.1.0"] = 0.01
    s = world.supervisor()
    world.looks(s, 1)
    assert s.watching == promoted["id"]
    for _ in range(61):  # a look every second: one measurement each
        world.clock.advance(1.0)
        assert s.tick()
    assert s.watching is None and "passed its watch window" in world.said()
    assert world.deployments()[0]["status"] == "succeeded"
    assert world.environment()["version"] == "1.1.0"
    with world.store.read() as uow:
        watched = [
            m for m in repo.list_measurements(uow.conn, promoted["id"]) if m["kind"] == "watch"
        ]
    assert watched and {m["decision"] for m in watched} <= {"Successful", "Running"}


def test_a_rollout_without_its_controller_is_driven_to_its_end(world: World) -> None:
    """A running deployment whose controller is gone is taken over: the supervisor drives it
    on its ports to success."""
    created = svc.create(world.store, parse_spec(SPEC), world.root, "production", version="1.1.0")
    s = world.supervisor()
    assert s.tick()
    with world.store.read() as uow:
        dep = repo.get_deployment(uow.conn, created["id"])
    assert dep is not None and dep["status"] == "succeeded"
    assert world.targets.version_of(OTHER) == {"1.1.0"}
    assert f"deployment {created['id']} has no controller" in world.said()


def test_an_environment_with_nothing_running_ends_its_supervision_when_idle(
    store: Store, tmp_path: Path
) -> None:
    """With no instances recorded the supervisor looks on for IDLE_EXIT seconds of its clock,
    then says it has nothing left to supervise."""
    clock = FakeClock()  # at 0: a start of the idle time like any other
    s = sup.Supervisor(store, tmp_path, "shop", "production", ports=Ports(clock=clock))
    assert s.tick() and s.doing == "idle: nothing runs"
    clock.advance(sup.IDLE_EXIT - 0.1)
    assert s.tick()
    clock.advance(0.1)
    assert not s.tick()
