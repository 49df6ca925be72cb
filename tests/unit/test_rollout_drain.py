"""A pool taken out of the router is drained before its instances stop: a rolled-back canary
answering slowly had its requests in flight cut, and the router answered them 502."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from shipyard.domain import rollout as r
from shipyard.services.deployments.rollout_runner import Runner
from tests.fakes import FakeClock


class _Router:
    def __init__(self, log: list[Any], in_flight: list[int]) -> None:
        self.log, self.left = log, in_flight

    def set_pool(self, pool: str, backends: list[str]) -> None:
        self.log.append(("set_pool", pool, backends))

    def in_flight(self, pool: str) -> int:
        n = self.left.pop(0) if self.left else 0
        self.log.append(("in_flight", pool, n))
        return n


class _Instances:
    def __init__(self, log: list[Any]) -> None:
        self.log = log
        self.members = [SimpleNamespace(pool="green", address="127.0.0.1:9001")]

    def of(self, pool: str) -> list[Any]:
        return [m for m in self.members if m.pool == pool]

    def alive(self, pool: str) -> list[Any]:
        return self.of(pool)

    def scale(self, pool: str, n: int, launch: Any) -> None:
        self.log.append(("scale", pool, n))


def _runner(log: list[Any], in_flight: list[int], weights: dict[str, int]) -> Runner:
    runner = Runner.__new__(Runner)
    runner.hooks = None
    runner.clock = FakeClock()
    runner.router = _Router(log, in_flight)
    runner.instances = _Instances(log)  # type: ignore[assignment]
    runner.pools = {r.Pool.STABLE: "blue", r.Pool.CANARY: "green"}
    runner.backends = {"green": ["127.0.0.1:9001"]}
    runner.weights = weights
    runner._launch = lambda pool: None  # type: ignore[method-assign]
    return runner


def test_a_pool_out_of_the_router_stops_only_once_nothing_is_in_flight() -> None:
    log: list[Any] = []
    _runner(log, [2, 1, 0], {"blue": 100, "green": 0})._execute(r.ScaleDown(r.Pool.CANARY, 0))
    assert log == [
        ("set_pool", "green", []),
        ("in_flight", "green", 2),
        ("in_flight", "green", 1),
        ("in_flight", "green", 0),
        ("scale", "green", 0),
    ]


def test_a_pool_still_taking_traffic_is_not_waited_for() -> None:
    """With weight and nothing else ready, the pool keeps its live instances in the router
    (see _set_pool): there is nothing to drain."""
    log: list[Any] = []
    _runner(log, [5], {"blue": 0, "green": 100})._execute(r.ScaleDown(r.Pool.CANARY, 0))
    assert [e[0] for e in log] == ["scale"]
