"""The in-memory fakes of tests/fakes.py implement their ports: each is checked against the
port's runtime-checkable protocol here, and by mypy through the typed assignments."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.adapters.clock import SystemClock
from shipyard.adapters.commands import ShellCommands
from shipyard.adapters.controllers import ProcessControllers
from shipyard.adapters.executors.base import Executor
from shipyard.adapters.metrics.base import MetricsSource
from shipyard.adapters.routers.local import ProcessRouters
from shipyard.adapters.targets.local import ProcessTargets
from shipyard.ports.blobs import BlobStore
from shipyard.ports.clock import Clock
from shipyard.ports.commands import Commands, Ran
from shipyard.ports.controllers import Controllers
from shipyard.ports.notify import Sink
from shipyard.ports.routers import RouterControl, Routers, WeightsInvalid
from shipyard.ports.targets import Fleet, Launch, Supervised, Targets
from tests.fakes import (
    FakeBlobStore,
    FakeClock,
    FakeCommands,
    FakeControllers,
    FakeExecutor,
    FakeMetrics,
    FakeNotifier,
    FakeRouter,
    FakeRouters,
    FakeTargets,
    OutOfTime,
)


def test_each_fake_and_each_real_adapter_implements_its_port(tmp_path: Path) -> None:
    """Every fake, and the real adapter beside it, is an instance of its port's protocol."""
    targets = FakeTargets()
    clock: Clock = FakeClock()
    fleet: Fleet = targets
    supervised: Supervised = targets
    fake_targets: Targets = targets
    router: RouterControl = FakeRouter()
    routers: Routers = FakeRouters()
    metrics: MetricsSource = FakeMetrics(targets)
    sink: Sink = FakeNotifier()
    controllers: Controllers = FakeControllers()
    commands: Commands = FakeCommands()
    executor: Executor = FakeExecutor()
    blobs: BlobStore = FakeBlobStore()
    pairs = [
        (clock, Clock),
        (fleet, Fleet),
        (supervised, Supervised),
        (fake_targets, Targets),
        (router, RouterControl),
        (routers, Routers),
        (metrics, MetricsSource),
        (sink, Sink),
        (controllers, Controllers),
        (commands, Commands),
        (blobs, BlobStore),
        (SystemClock(), Clock),
        (ProcessTargets(), Targets),
        (ProcessTargets().adopt(tmp_path, []), Fleet),
        (ProcessTargets().supervise(tmp_path, []), Supervised),
        (ProcessRouters(), Routers),
        (ProcessControllers(tmp_path, tmp_path), Controllers),
        (ShellCommands(), Commands),
    ]
    assert [type(obj).__name__ for obj, port in pairs if not isinstance(obj, port)] == []
    assert executor.remote is False


def test_fake_clock_moves_only_when_slept_on_and_runs_what_is_due_in_order() -> None:
    """The fake clock stands still until slept on, runs scheduled actions at their time in
    order, and stops a test that waits past its limit."""
    clock = FakeClock(limit=60)
    seen: list[tuple[str, float]] = []
    clock.at(5, lambda: seen.append(("b", clock.monotonic())))
    clock.at(2, lambda: seen.append(("a", clock.monotonic())))
    start = clock.now()
    assert clock.monotonic() == 0 and clock.now() == start and start.utcoffset() is not None
    clock.sleep(3)
    assert seen == [("a", 2)] and clock.monotonic() == 3
    clock.sleep(10)
    assert seen == [("a", 2), ("b", 5)]
    assert (clock.now() - start).total_seconds() == 13
    with pytest.raises(OutOfTime):
        clock.sleep(100)


def test_fake_targets_start_stop_and_end_instances_as_told() -> None:
    """Instances start ready at once (not a version marked unready), exit when the test says
    with the reason given, and scaling replaces another revision and the dead first."""
    targets = FakeTargets(unready={"2.0"})
    v1 = Launch("app", "1.0", "", {}, revision="r1")
    targets.scale("blue", 2, v1)
    assert [m.index for m in targets.ready("blue")] == [0, 1]
    targets.exit("1.0", "killed by SIGKILL")
    assert targets.ready("blue") == [] and targets.alive("blue") == []
    assert [e.reason for e in targets.exited("blue")] == [
        "blue-0 (1.0) killed by SIGKILL",
        "blue-1 (1.0) killed by SIGKILL",
    ]
    targets.scale("blue", 1, v1)
    assert len(targets.ready("blue")) == 1 and targets.exited("blue") == []
    targets.scale("blue", 1, Launch("app", "2.0", "", {}, revision="r2"))
    assert targets.version_of("blue") == {"2.0"} and targets.ready("blue") == []
    assert targets.started == [("blue", "1.0", 2), ("blue", "1.0", 1), ("blue", "2.0", 1)]


def test_fake_targets_replace_one_instance_and_probe_each_as_a_supervisor_does() -> None:
    """An instance whose pid is ``hung`` runs but answers no probe; an exited one says how it
    ended, and ``replace`` starts one in its place with the pool's next index."""
    targets = FakeTargets()
    v1 = Launch("app", "1.0", "", {})
    targets.scale("green", 2, v1)
    first, second = targets.of("green")
    targets.hung.add(second.pid)
    assert targets.answers(first, "/healthz", 0.25) and not targets.answers(second, "/", 0.25)
    assert targets.is_alive(second) and targets.ready("green") == [first]
    targets.dead[first.pid] = "killed by SIGKILL"
    assert not targets.is_alive(first) and targets.exit_of(first) == "killed by SIGKILL"
    new = targets.replace(first, v1)
    assert (new.index, targets.replaced) == (2, [(first, new)])
    assert targets.members == [second, new] and targets.stopped == [first]


def test_fake_routers_start_a_router_that_is_down_again_with_empty_pools() -> None:
    """Adopting gives the one router as it is, down or not; opening it while it is down brings
    it back up with the two pools empty and no weights, as a new router process starts."""
    routers = FakeRouters()
    routers.router.set_pool("green", ["127.0.0.1:8001"])
    routers.router.up = False
    assert routers.adopt({}) is routers.router and not routers.router.healthy()
    opened = routers.open(None, {}, Path("."))
    assert opened.healthy() and routers.restarts == 1
    table = opened.routes()
    assert table["pools"] == {"blue": [], "green": []} and table["weights"] == {}


def test_fake_router_keeps_the_weights_in_order_and_refuses_what_a_router_refuses() -> None:
    """The fake router records each split and refuses weights that do not add up to 100."""
    router = FakeRouter()
    router.set_pool("blue", ["127.0.0.1:8001"])
    router.set_pool("green", [])
    router.set_weights({"blue": 80, "green": 20})
    router.set_weights({"blue": 0, "green": 100})
    assert router.weights == [{"blue": 80, "green": 20}, {"blue": 0, "green": 100}]
    with pytest.raises(WeightsInvalid):
        router.set_weights({"blue": 50, "green": 20})
    assert router.routes()["weights"] == {"blue": 0, "green": 100}


def test_fake_metrics_count_requests_of_the_pools_with_instances_at_their_error_rate() -> None:
    """Each read adds requests to the pools that run something, failing at their version's
    rate; an empty pool stays empty."""
    targets = FakeTargets()
    targets.scale("green", 1, Launch("app", "bad", "", {}))
    metrics = FakeMetrics(targets, {"bad": 0.25}, per_read=40)
    metrics.windows(["green", "blue"])
    w = metrics.windows(["green", "blue"])
    assert (w["green"].requests, w["green"].errors) == (80, 20)
    assert w["blue"].requests == 0


def test_fake_commands_record_each_line_and_answer_as_scripted(tmp_path: Path) -> None:
    """Each command line is kept with its folder, environment and timeout, and answered by the
    first script it contains (a result or a function of the call), else exit 0."""
    commands = FakeCommands({"deploy": Ran(3, stderr=b"no"), "health": lambda c: Ran(len(c.line))})
    assert commands.run("x deploy 1", cwd=tmp_path, env={"A": "1"}, timeout=5.0) == Ran(
        3, b"", b"no"
    )
    assert commands.run("health", cwd=None, env={}, timeout=1.0).status == 6
    assert commands.run("stop", cwd=None, env={}, timeout=1.0) == Ran(0)
    assert commands.lines() == ["x deploy 1", "health", "stop"]
    first = commands.calls[0]
    assert (first.cwd, first.env, first.timeout) == (tmp_path, {"A": "1"}, 5.0)


def test_shell_commands_run_a_line_and_kill_it_at_its_timeout(tmp_path: Path) -> None:
    """The shell adapter runs the line in its folder with exactly the environment given, and
    one past its timeout is killed and reported as timed out."""
    ran = ShellCommands().run(
        'echo "$A $(pwd)"; echo err >&2; exit 4', cwd=tmp_path, env={"A": "a"}, timeout=5.0
    )
    assert ran == Ran(4, f"a {tmp_path}\n".encode(), b"err\n")
    slow = ShellCommands().run("sleep 5", cwd=None, env={}, timeout=0.1)
    assert slow.timed_out and slow.status != 0
