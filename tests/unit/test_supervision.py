"""The supervisor's decisions about live instances, as tables of literal cases."""

from __future__ import annotations

import pytest

from shipyard.domain.supervision import (
    Health,
    Policy,
    Probe,
    Todo,
    keep_one,
    observe,
    state_of,
    watch_due,
)

P = Policy(eject_after=2, admit_after=2, backoff=1.0, max_backoff=8.0, reset_after=30.0)
UP, DOWN, GONE = Probe.UP, Probe.DOWN, Probe.GONE
SERVING = Health(ejected=False, seen_up=True, up_since=0.0)


def run(health: Health, probes: list[tuple[float, Probe]]) -> tuple[Health, list[Todo]]:
    done: list[Todo] = []
    for now, probe in probes:
        health, todo = observe(health, probe, now, P, "exited with status 1")
        done += todo
    return health, done


@pytest.mark.parametrize(
    ("start", "probes", "todo", "state"),
    [
        pytest.param(
            Health(), [(0, UP)], [Todo.ADMIT], "ready", id="new-instance-admitted-at-once"
        ),
        pytest.param(Health(), [(0, DOWN), (1, DOWN)], [], "starting", id="not-ready-yet"),
        pytest.param(SERVING, [(1, DOWN)], [], "ready", id="one-missed-probe-is-forgiven"),
        pytest.param(SERVING, [(1, DOWN), (1.5, DOWN)], [Todo.EJECT], "ejected", id="two-eject"),
        pytest.param(
            SERVING,
            [(1, DOWN), (1.5, DOWN), (2, UP)],
            [Todo.EJECT],
            "ejected",
            id="one-good-probe-is-not-enough",
        ),
        pytest.param(
            SERVING,
            [(1, DOWN), (1.5, DOWN), (2, UP), (2.5, UP)],
            [Todo.EJECT, Todo.ADMIT],
            "ready",
            id="two-good-probes-admit-again",
        ),
        pytest.param(
            SERVING, [(1, GONE)], [Todo.EJECT, Todo.RESTART], "starting", id="crash-restarts-now"
        ),
        pytest.param(
            Health(ejected=True, restarts=1),
            [(5, GONE)],
            [],
            "crashed",
            id="second-crash-backs-off",
        ),
        pytest.param(
            Health(ejected=True, restarts=1),
            [(5, GONE), (5.5, GONE), (6, GONE)],
            [Todo.RESTART],
            "starting",
            id="restart-after-the-back-off",
        ),
        pytest.param(
            Health(ejected=True, restarts=9),
            [(0, GONE), (7.9, GONE), (8, GONE)],
            [Todo.RESTART],
            "starting",
            id="back-off-capped",
        ),
    ],
)
def test_probes_eject_admit_and_restart(
    start: Health, probes: list[tuple[float, Probe]], todo: list[Todo], state: str
) -> None:
    """Gone instances are ejected and restarted with back-off; failing ones ejected after two
    probes, admitted again after two good ones."""
    health, done = run(start, probes)
    assert done == todo
    assert state_of(health) == state
    assert Health.from_dict(health.to_dict()) == health


def test_a_crash_loop_backs_off_and_a_steady_instance_is_forgiven() -> None:
    """Restarts come 0, 1, 2 and 4 seconds after each crash is seen (probes every half
    second); thirty seconds ready forget the back-off."""
    health, restarts_at = Health(), []
    now = 0.0
    while len(restarts_at) < 4:
        health, todo = observe(health, GONE, now, P)
        if Todo.RESTART in todo:
            restarts_at.append(now)
        now += 0.5
    assert restarts_at == [0.0, 1.5, 4.0, 8.5]
    health, _ = run(health, [(10.0, UP), (40.0, UP)])
    assert health.restarts == 0 and health.last_exit == ""


@pytest.mark.parametrize(
    ("finished", "window", "now", "due"),
    [(100, 60, 100, True), (100, 60, 159.9, True), (100, 60, 160, False), (100, 0, 100, False)],
)
def test_watch_window(finished: float, window: float, now: float, due: bool) -> None:
    """A deployment is watched from its promotion until its window is over."""
    assert watch_due(finished, window, now) is due


def test_the_last_instance_running_is_not_ejected_for_slow_probes() -> None:
    """All instances ejected for failed probes: the one failing least stays in; one whose
    process is gone, or that never answered, stays out."""
    slow = Health(ejected=True, seen_up=True, failures=3)
    slower = Health(ejected=True, seen_up=True, failures=5)
    pool = {"a": slower, "b": slow, "c": Health(ejected=True, seen_up=True)}
    kept = keep_one(pool, gone={"c"})
    assert [k for k, h in kept.items() if not h.ejected] == ["b"]
    assert keep_one({"a": SERVING, "b": slow}, gone=set()) == {"a": SERVING, "b": slow}
    assert keep_one({"a": Health()}, gone=set()) == {"a": Health()}
