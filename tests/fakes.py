"""In-memory fakes of Shipyard's ports, for unit tests of the services that drive them. The
real adapters keep their own integration tests (real processes, real HTTP)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shipyard.adapters.executors.base import Result, Task


@dataclass(frozen=True)
class Outcome:
    """What a step does when the fake executor runs it."""

    status: str = "success"  # success, failure
    exit_code: int | None = 0
    outputs: Mapping[str, str] = field(default_factory=dict)  # its $SHIPYARD_OUTPUT values
    files: Mapping[str, bytes] = field(default_factory=dict)  # what it writes, by path
    log: bytes = b""
    reason: str = ""


class FakeExecutor:
    """The ``Executor`` port in memory: a task ends the moment it starts, as its node's
    ``Outcome`` says (success, writing nothing, when it has none). It keeps what it was asked:
    the tasks in the order they started, and whether it was cancelled and shut down."""

    remote = False

    def __init__(self, outcomes: Mapping[str, Outcome] | None = None, capacity: int = 2) -> None:
        self.outcomes = dict(outcomes or {})
        self.capacity = capacity
        self.started: list[Task] = []
        self.cancelled = False
        self.shut_down = False
        self._done: list[Result] = []

    def start(self, task: Task) -> None:
        self.started.append(task)
        outcome = self.outcomes.get(task.node, Outcome())
        if outcome.status == "success":
            for rel, data in outcome.files.items():
                target = task.cwd / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        self._done.append(
            Result(
                node=task.node,
                status=outcome.status,
                exit_code=outcome.exit_code,
                attempt=1,
                duration_s=0.0,
                log=outcome.log,
                outputs=dict(outcome.outputs),
                reason=outcome.reason,
            )
        )

    def wait(self, timeout: float) -> list[Result]:
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        self.cancelled = True

    def shutdown(self) -> None:
        self.shut_down = True
